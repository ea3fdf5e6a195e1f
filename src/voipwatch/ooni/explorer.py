"""Links to OONI Explorer, where anyone can read a measurement OONI published."""

from __future__ import annotations

from typing import Final

#: OONI Explorer's page for one measurement, by its ``measurement_uid``.
MEASUREMENT_URL: Final = "https://explorer.ooni.org/m/{uid}"
