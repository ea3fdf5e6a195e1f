"""The OONI data format: reading raw measurements tolerantly, failure vocabulary.

Spec: https://github.com/ooni/spec/tree/master/data-formats

The typed measurement (:class:`Measurement`, its :class:`TestKeys`) is what every
verdict rule reads; :class:`Exchange` is also what voipwatch's probe writes, through
:func:`exchange_entry`. Readers of files and streams are in :mod:`voipwatch.ooni.reader`.
"""

from voipwatch.ooni.failures import normalise, operation_of
from voipwatch.ooni.model import (
    Exchange,
    Measurement,
    TestKeys,
    decode,
    exchange_entry,
    failure_str,
)

__all__ = [
    "Exchange",
    "Measurement",
    "TestKeys",
    "decode",
    "exchange_entry",
    "failure_str",
    "normalise",
    "operation_of",
]
