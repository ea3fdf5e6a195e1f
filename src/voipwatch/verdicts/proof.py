"""What proves a block on OONI's data: an answer a censor is known to give.

OONI's measurements of the apps carry no control, so the only proof they can hold is
a DNS answer or a block page that matches a censor's fingerprint
(:mod:`voipwatch.ooni.fingerprints`). Here answers and pages are matched, and the
evidence atom of a match says which fingerprint, its scope and the rule that judged
it (proof, a foreign or vague fingerprint, or a known false positive). Pure; the
match of a small page is cached because the same pages recur across measurements.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec

from voipwatch.ooni import fingerprints
from voipwatch.ooni.fingerprints import Fingerprint, FingerprintTable
from voipwatch.verdicts import rules
from voipwatch.verdicts.techniques import technique_for
from voipwatch.verdicts.types import Evidence

#: Pages up to this size (body and headers) have their match cached (256 of them).
CACHED_PAGE = 16 * 1024


@dataclass(slots=True)
class HttpResponse:
    """A response's body and headers as recorded (read only when a fingerprint is sought)."""

    body: msgspec.Raw
    headers: msgspec.Raw

    def fingerprint(
        self, table: FingerprintTable, cc: str, scopes: tuple[str, ...] | None = None
    ) -> Fingerprint | None:
        body, headers = bytes(self.body), bytes(self.headers)
        small = len(body) + len(headers) <= CACHED_PAGE
        return (_cached_page if small else _page)(table, body, headers, cc, scopes)


def _page(
    table: FingerprintTable,
    body: bytes,
    headers: bytes,
    cc: str,
    scopes: tuple[str, ...] | None,
) -> Fingerprint | None:
    text = fingerprints.response_text(_json(body))
    return fingerprints.match_http(
        table, text, fingerprints.header_map(_json(headers)), cc, scopes=scopes
    )


_cached_page = functools.lru_cache(maxsize=256)(_page)


def _json(raw: bytes) -> object:
    if not raw:  # absent
        return None
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        # Bytes the measurement's own reading repaired are no page to match.
        return None


def answer_fingerprints(
    table: FingerprintTable, answers: Iterable[str], cc: str
) -> list[tuple[str, Fingerprint]]:
    """The ``answers`` (addresses, names) that match a fingerprint, in the stated order
    of :func:`voipwatch.ooni.fingerprints.rank` (proof first; ties by name, then answer).
    """
    # This runs for every name of every measurement, and nearly always finds nothing.
    if not table.dns_other:
        answers = list(answers)
        if table.dns.keys().isdisjoint([a.lower() for a in answers]):
            return []
    keyed = {a.lower(): a for a in answers}
    hits = table.dns.keys() & keyed.keys()
    if not hits and not table.dns_other:
        return []
    found = [(keyed[key], fp) for key in hits for fp in table.dns[key]]
    for key, answer in keyed.items():
        found.extend((answer, fp) for fp in table.dns_other if fp.matches(key))
    found.sort(key=lambda af: (fingerprints.rank(af[1], cc), af[0]))
    return found


def page_fingerprint(
    table: FingerprintTable,
    responses: Sequence[HttpResponse],
    url: str,
    cc: str,
    *,
    scopes: tuple[str, ...] | None = None,
) -> Fingerprint | None:
    """The fingerprint a response to ``url`` matched, if any.

    A censor's block page can only replace a response TLS did not protect: only
    plain-HTTP responses are searched for a censor's fingerprint; any response may be
    a known false positive (``scopes=("fp",)``).
    """
    if scopes is None and not url.startswith("http://"):
        return None
    found = [fp for r in responses if (fp := r.fingerprint(table, cc, scopes))]
    return min(found, key=lambda fp: fingerprints.rank(fp, cc)) if found else None


def fingerprinted(
    operation: str, failure: str, target: str, detail: str, fp: Fingerprint, cc: str
) -> tuple[Evidence, str, bool]:
    """The atom of an answer that matched ``fp``, its technique, and whether it proves
    the block (a censor's fingerprint expected in the probe's country ``cc``)."""
    if fp.proves(cc):
        rule = rules.FINGERPRINT_CENSOR
    elif fp.names_censor:
        rule = rules.FINGERPRINT_ELSEWHERE
    else:
        rule = rules.FINGERPRINT_VAGUE
    where = f", expected in {', '.join(fp.countries)}" if fp.countries else ""
    ev = Evidence(
        operation,
        failure,
        target,
        f"{detail} (fingerprint {fp.name}, scope {fp.scope}{where})",
        rule=rule,
        fingerprint=fp.name,
        scope=fp.scope,
    )
    return ev, technique_for(operation, failure), rule == rules.FINGERPRINT_CENSOR
