"""Text from outside (imported cases, measurements, annotations) made harmless for
each place it is shown: a spreadsheet cell, a terminal, a link.

Each function leaves ordinary text as it is; the exact value stays in the JSON
outputs, which are data, not display.
"""

from __future__ import annotations

import re
from typing import Final

#: A spreadsheet reads a cell that starts with one of these as a formula
#: (``=HYPERLINK(…)``, ``@SUM(…)``, ``+cmd|…``); tab and CR start one after a paste.
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
#: Schemes a link from the data may have; anything else (``javascript:``, ``data:``,
#: ``vbscript:``, ``file:``) is dropped.
WEB_SCHEMES: Final = ("https://", "http://")

_NUMBER: Final = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
# C0 and C1 controls and DEL, but not tab or newline: ESC starts a terminal's
# escape sequences (title, clear screen, OSC 8 links), C1's CSI/OSC are the 8-bit form.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidirectional overrides make a terminal show text in another order than it is.
_BIDI: Final = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def csv_cell(value: object) -> object:
    """``value`` for a CSV cell: a text starting like a formula gets a leading ``'``.

    Numbers (``-3``, ``+1.5e3``) keep their sign: they are what they look like.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    if _NUMBER.match(value):
        return value
    return "'" + value


def terminal_text(value: object) -> str:
    """``value`` as a terminal may show it: control characters written as escapes
    (``\\x1b``), never sent raw."""
    text = str(value)
    if not _CONTROL.search(text) and not _BIDI.search(text):
        return text
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def web_link(value: object) -> str | None:
    """``value`` if it is a web address (http or https, no whitespace or control
    character), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text.lower().startswith(WEB_SCHEMES) or len(text) > 2000:
        return None
    if any(c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        return None
    if len(text) <= len("https://") and text.lower() in WEB_SCHEMES:
        return None
    return text
