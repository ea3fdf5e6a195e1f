"""What the collector accepts: pure checks, bytes in, a refusal or bytes to keep out.

A measurement is kept only when the project's OONI reader decodes it, its test is
one voipwatch judges, and it belongs to the report it is submitted to. What is kept
never names the probe's address: ``probe_ip`` is written as OONI's scrubbed value
whatever the probe sent. The measurement uid is derived from the scrubbed bytes, so
a probe that submits the same measurement again (its acknowledgement was lost) gets
the same uid and the same file: the spool holds it once.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import orjson

from voipwatch.collector.protocol import FORMAT, OpenReport, Refusal
from voipwatch.errors import InputError
from voipwatch.locate import UNKNOWN_ASN, UNKNOWN_CC, asn_text, cc_text
from voipwatch.verdicts import is_judged, judge_bytes

SCRUBBED_IP: Final = "127.0.0.1"
_ALPHABET: Final = string.ascii_letters + string.digits
#: What a submitted measurement must have (df-000), and of what JSON type.
_REQUIRED: Final[dict[str, type]] = {
    "test_name": str,
    "measurement_start_time": str,
    "test_keys": dict,
}


@dataclass(frozen=True)
class Prepared:
    """A measurement ready for the spool: its uid and the bytes to write."""

    uid: str
    data: bytes


def check_open(meta: OpenReport) -> Refusal | None:
    """Why a report with ``meta`` cannot be opened (None: it can)."""
    if meta.format != FORMAT:
        return Refusal(f"format {meta.format!r} is not supported; use 'json'", "bad_format")
    if not is_judged(meta.test_name):
        return Refusal(f"test {meta.test_name!r} is not one voipwatch collects", "unknown_test")
    if meta.probe_cc != UNKNOWN_CC and cc_text(meta.probe_cc) != meta.probe_cc:
        return Refusal(f"probe_cc {meta.probe_cc!r} is not a country code", "bad_probe_cc")
    if meta.probe_asn != UNKNOWN_ASN and asn_text(meta.probe_asn) != meta.probe_asn:
        return Refusal(f"probe_asn {meta.probe_asn!r} is not like AS1234", "bad_probe_asn")
    return None


def new_report_id(meta: OpenReport, now: datetime) -> str:
    """OONI's report id form: ``20231201T102459Z_whatsapp_IT_30722_n1_TRwjDbqHNDLIskk7``."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    test = "".join(ch for ch in meta.test_name if ch.isalnum())[:40]
    rand = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"{stamp}_{test}_{meta.probe_cc}_{meta.probe_asn.removeprefix('AS')}_n1_{rand}"


def prepare(content: bytes, *, test_name: str) -> Prepared | Refusal:
    """The measurement ``content`` (JSON bytes) as it will be kept, or why not."""
    try:
        judged = judge_bytes(content, source="content")
        obj = orjson.loads(content)
    except (InputError, orjson.JSONDecodeError) as exc:
        return Refusal(f"not an OONI measurement: {exc}", "not_a_measurement")
    if not isinstance(obj, dict):
        return Refusal("not an OONI measurement: not a JSON object", "not_a_measurement")
    missing = [k for k in _REQUIRED if not isinstance(obj.get(k), _REQUIRED[k])]
    if missing:
        return Refusal(f"not an OONI measurement: no {' or '.join(missing)}", "not_a_measurement")
    verdict = judged.verdict
    if verdict.test_name != test_name:
        return Refusal(
            f"a {verdict.test_name or 'measurement without test_name'} measurement "
            f"submitted to a {test_name} report",
            "wrong_test",
        )
    if verdict.status == "unsupported":
        return Refusal(f"test {test_name!r} is not one voipwatch collects", "unknown_test")
    obj["probe_ip"] = SCRUBBED_IP
    obj.pop("measurement_uid", None)
    scrubbed = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    start = "".join(ch for ch in verdict.measurement_start_time if ch.isdigit())[:14]
    test = "".join(ch for ch in test_name if ch.isalnum())
    digest = hashlib.sha256(scrubbed).hexdigest()[:16]
    uid = f"{start or '0' * 14}.000000_{cc_text(verdict.probe_cc)}_{test}_{digest}"
    obj["measurement_uid"] = uid
    return Prepared(uid, orjson.dumps(obj) + b"\n")
