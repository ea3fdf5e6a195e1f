"""What the probe records about where it is: country, network number and name.

Never the address: a :class:`Location` has no field for it, so nothing that holds
one can leak it into a measurement, a file or an upload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: OONI's values when the country or network is unknown or hidden (df-000).
UNKNOWN_CC: Final = "ZZ"
UNKNOWN_ASN: Final = "AS0"

_CC = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class Location:
    """``probe_cc``, ``probe_asn`` (``AS1234``), ``probe_network_name`` and where they
    came from (``source``: a database's name, ``override``, or ``unknown``)."""

    probe_cc: str = UNKNOWN_CC
    probe_asn: str = UNKNOWN_ASN
    probe_network_name: str | None = None
    source: str = "unknown"

    @property
    def known(self) -> bool:
        return self.probe_cc != UNKNOWN_CC or self.probe_asn != UNKNOWN_ASN


UNKNOWN: Final = Location()


def asn_text(value: object) -> str:
    """``AS1234`` from ``1234``, ``"1234"``, ``"as1234"``; ``AS0`` for anything else."""
    if isinstance(value, bool):
        return UNKNOWN_ASN
    if isinstance(value, int):
        return f"AS{value}" if value > 0 else UNKNOWN_ASN
    if isinstance(value, str):
        digits = value.strip().upper().removeprefix("AS")
        if digits.isdigit() and int(digits) > 0:
            return f"AS{int(digits)}"
    return UNKNOWN_ASN


def cc_text(value: object) -> str:
    """An ISO 3166 alpha-2 code in upper case, or ``ZZ``."""
    if isinstance(value, str) and _CC.match(value.strip().upper()):
        return value.strip().upper()
    return UNKNOWN_CC
