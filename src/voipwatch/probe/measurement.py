"""One measurement in OONI's data format, and the recorder that fills its template keys.

Specs: df-000-base (the envelope), df-001-httpt (``requests``), df-002-dnst
(``queries``), df-005-tcpconnect (``tcp_connect``), df-006-tlshandshake
(``tls_handshakes``), df-008-netevents (``network_events``), at
https://github.com/ooni/spec/tree/master/data-formats.

Every entry is appended when its operation *starts*, so an operation cut short by
the run's time bound is still there: :meth:`Recorder.close` marks it
``generic_timeout_error`` instead of losing it.
"""

from __future__ import annotations

import itertools
import secrets
import string
import time
from datetime import UTC, datetime

from voipwatch import __version__
from voipwatch.probe.errors import TIMEOUT

#: A JSON object as the probe writes it: OONI's keys, values of any JSON type.
JsonObject = dict[str, object]
#: One entry of a template key (``queries``, ``tcp_connect``, …).
Entry = JsonObject

#: The only address a measurement ever names for the probe (OONI's scrubbed value).
SCRUBBED_IP = "127.0.0.1"

_KINDS = ("queries", "tcp_connect", "tls_handshakes", "requests")
_ALPHABET = string.ascii_letters + string.digits


def ooni_time(dt: datetime) -> str:
    """``YYYY-MM-DD hh:mm:ss`` in UTC, as df-000 wants."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def report_id(test_name: str, start: datetime, probe_cc: str, probe_asn: str) -> str:
    """OONI's modern report id: ``20231201T102459Z_signal_IT_30722_n1_TRwjDbqHNDLIskk7``."""
    stamp = start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    digits = "".join(ch for ch in probe_asn if ch.isdigit()) or "0"
    rand = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"{stamp}_{test_name.replace('_', '')}_{probe_cc}_{digits}_n1_{rand}"


class Recorder:
    """The template keys of one measurement, with times relative to its start."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self._t0 = time.monotonic()
        self.entries: dict[str, list[Entry]] = {k: [] for k in _KINDS}
        self._open: dict[int, tuple[str, Entry]] = {}
        self._tx = itertools.count(1)

    def now(self) -> float:
        """Seconds since the measurement started (``t0``/``t`` of every entry)."""
        return round(time.monotonic() - self._t0, 6)

    def transaction(self) -> int:
        return next(self._tx)

    def begin(self, kind: str, entry: Entry) -> Entry:
        """Append ``entry`` to ``kind`` now; :meth:`end` completes it."""
        entry.setdefault("t0", self.now())
        entry["t"] = None
        self.entries[kind].append(entry)
        self._open[id(entry)] = (kind, entry)
        return entry

    def end(self, entry: Entry, **fields: object) -> Entry:
        entry.update(fields)
        entry["t"] = self.now()
        self._open.pop(id(entry), None)
        return entry

    def add(self, kind: str, entry: Entry) -> Entry:
        """Append a finished entry (``t0`` and ``t`` already set)."""
        self.entries[kind].append(entry)
        return entry

    def close(self) -> None:
        """Entries whose operation never finished ran out of time: say so."""
        for kind, entry in list(self._open.values()):
            if kind == "tcp_connect":
                fields: Entry = {"status": {"success": False, "failure": TIMEOUT}}
            else:
                fields = {"failure": TIMEOUT}
            self.end(entry, **fields)
        self._open.clear()


def envelope(
    *,
    rec: Recorder,
    test_name: str,
    test_version: str,
    probe_cc: str,
    probe_asn: str,
    probe_network_name: str | None = None,
    test_start: datetime,
    runtime: float,
    test_keys: JsonObject,
    routable: tuple[str, ...] = (),
) -> JsonObject:
    """The df-000 base keys around ``test_keys``.

    ``probe_ip`` is always the scrubbed value: the user's address is never stored.
    ``routable`` (simulation only) names ranges that are real destinations on this
    network, so a judge does not take their addresses for bogons.
    """
    annotations = {"engine_name": "voipwatch", "engine_version": __version__, "platform": "linux"}
    if routable:
        annotations["voipwatch_routable"] = ",".join(routable)
    return {
        "annotations": annotations,
        "data_format_version": "0.2.0",
        "extensions": {"dnst": 0, "httpt": 0, "tcpconnect": 0, "tlshandshake": 0},
        "input": None,
        "measurement_start_time": ooni_time(rec.started),
        "probe_asn": probe_asn,
        "probe_cc": probe_cc,
        "probe_ip": SCRUBBED_IP,
        "probe_network_name": probe_network_name or None,
        "report_id": report_id(test_name, rec.started, probe_cc, probe_asn),
        "resolver_ip": None,
        "software_name": "voipwatch",
        "software_version": __version__,
        "test_keys": test_keys,
        "test_name": test_name,
        "test_runtime": round(runtime, 6),
        "test_start_time": ooni_time(test_start),
        "test_version": test_version,
    }
