"""Measurement status agrees with OONI's own fastpath on every real IM and circumvention sample.

The oracle is OONI's ``score_measurement()`` run on each sample
(``ooni-samples/derived/fastpath_scores_of_raw_samples.jsonl`` and
``more/fastpath_scores_all_im.jsonl``): anomaly ↔ anomaly/confirmed, failure ↔
failure, and OONI's ``confirmed`` flag ↔ voipwatch's ``confirmed`` status.
Disagreements must be listed in ``DELIBERATE`` / ``DELIBERATE_CONFIRMED`` with the
reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from voipwatch.verdicts import judge_bytes

PAIRS = [
    ("derived/all_raw_measurements.jsonl", "derived/fastpath_scores_of_raw_samples.jsonl"),
    ("more/all_im.jsonl", "more/fastpath_scores_all_im.jsonl"),
]

#: (test_name, measurement_start_time) → why we disagree with OONI on purpose.
DELIBERATE = {
    ("stun_reachability", "2020-06-01 16:51:44"): (
        "OONI's fastpath dispatches on 'stunreachability' only and scores the spec's "
        "'stun_reachability' name as unsupported (accuracy 0); voipwatch reads both "
        "names and judges the run: the binding request succeeded, so ok"
    ),
    ("riseupvpn", "2022-02-20 00:21:47"): (
        "OONI scores no riseupvpn measurement since 2023-10-17 (ooni/backend#745: its "
        "gateway checks gave false positives), so fastpath says neither anomaly nor "
        "failure; voipwatch judges the API check, which failed here: the TLS handshake "
        "fetching https://black.riseup.net/ca.crt ended in ssl_invalid_certificate, so "
        "riseupvpn/api is blocked (tls.failure, suspected: no control, no fingerprint)"
    ),
}

#: OONI's circumvention tests (the specs' names): each sample of them is judged.
CIRCUMVENTION_TESTS = ("tor", "vanilla_tor", "torsf", "psiphon", "openvpn", "riseupvpn")


#: (test_name, measurement_start_time) → why OONI's ``confirmed`` flag and voipwatch's
#: differ. Samples voipwatch does not judge (not an app in its catalogue) are compared
#: too: OONI's confirmations must not be silently out of sight.
DELIBERATE_CONFIRMED = {
    ("web_connectivity", "2025-05-27 23:31:08"): (
        "http://archive.org is not an app in voipwatch's catalogue (unsupported); OONI "
        "confirms it by Indonesia's block page redirect (ooni.id_lamanlabuh_kominfo)"
    ),
    ("web_connectivity", "2020-03-02 13:08:54"): (
        "https://fa.wikipedia.org is not an app in voipwatch's catalogue (unsupported); "
        "OONI confirms it by Iran's 10.10.34.36 (ooni.ir_10dot10_ipv4_1)"
    ),
    ("web_connectivity", "2022-08-15 19:01:30"): (
        "https://www.facebook.com/ is not an app in voipwatch's catalogue (unsupported); "
        "OONI confirms it by Iran's 10.10.34.36 (ooni.ir_10dot10_ipv4_1)"
    ),
}


def _ooni_confirmed(score: dict[str, Any]) -> bool:
    # The derived oracle keeps the flag in ``scores``, the second one beside them.
    return bool(score.get("confirmed", score["scores"].get("confirmed", False)))


def _ooni(score: dict[str, object]) -> str:
    if score["msm_failure"]:
        return "failure"
    return "anomaly" if score["anomaly"] else "ok"


def test_measurement_status_agrees_with_ooni_fastpath(shared_dir: Path) -> None:
    judged = agree = tools = 0
    unexplained: list[str] = []
    seen_deliberate = set()
    for data, oracle in PAIRS:
        text = (shared_dir / "ooni-samples" / oracle).read_text()
        scores = [json.loads(x) for x in text.splitlines()]
        with (shared_dir / "ooni-samples" / data).open("rb") as fh:
            for i, line in enumerate(fh):
                v = judge_bytes(line.strip(), source=data, line=i + 1).verdict
                if v.test_name in CIRCUMVENTION_TESTS:
                    assert v.status != "unsupported", f"{data}:{i + 1} {v.test_name}"
                    tools += 1
                if v.status == "unsupported":
                    continue
                judged += 1
                ours = "anomaly" if v.status == "confirmed" else v.status
                theirs = _ooni(scores[i])
                key = (v.test_name, v.measurement_start_time)
                if ours == theirs:
                    agree += 1
                elif key in DELIBERATE:
                    seen_deliberate.add(key)
                else:
                    unexplained.append(f"{data}:{i + 1} {key}: ours {ours}, OONI {theirs}")
    print(
        f"\nfastpath agreement: {agree}/{judged} IM and IM-domain measurements "
        f"({100 * agree / judged:.1f} %), {len(seen_deliberate)} deliberate differences; "
        f"{tools} of them of circumvention tools"
    )
    assert judged >= 150
    assert tools >= 13
    assert not unexplained, "\n".join(unexplained)
    assert seen_deliberate == set(DELIBERATE), "a listed disagreement no longer happens"


def test_confirmed_flag_agrees_with_ooni_fastpath(shared_dir: Path) -> None:
    compared = agree = 0
    unexplained: list[str] = []
    seen: set[tuple[str, str]] = set()
    for data, oracle in PAIRS:
        text = (shared_dir / "ooni-samples" / oracle).read_text()
        scores = [json.loads(x) for x in text.splitlines()]
        with (shared_dir / "ooni-samples" / data).open("rb") as fh:
            for i, line in enumerate(fh):
                v = judge_bytes(line.strip(), source=data, line=i + 1).verdict
                theirs = _ooni_confirmed(scores[i])
                ours = v.status == "confirmed"
                key = (v.test_name, v.measurement_start_time)
                if v.status == "unsupported" and not theirs:
                    continue
                compared += 1
                if ours == theirs:
                    agree += 1
                elif key in DELIBERATE_CONFIRMED:
                    seen.add(key)
                else:
                    unexplained.append(
                        f"{data}:{i + 1} {key}: ours {v.status}, OONI confirmed={theirs}"
                    )
    print(f"\nconfirmed flag: {agree}/{compared} agree, {len(seen)} deliberate differences")
    assert compared >= 150
    assert not unexplained, "\n".join(unexplained)
    assert seen == set(DELIBERATE_CONFIRMED), "a listed disagreement no longer happens"


def test_confirmed_only_where_a_fingerprint_is_named_on_every_sample(shared_dir: Path) -> None:
    """On every shared OONI sample, ``confirmed`` comes with a censor's fingerprint."""
    judged = confirmed = 0
    for data, _ in PAIRS:
        with (shared_dir / "ooni-samples" / data).open("rb") as fh:
            for i, line in enumerate(fh):
                v = judge_bytes(line.strip(), source=data, line=i + 1).verdict
                if v.status == "unsupported":
                    continue
                judged += 1
                for s in v.services:
                    if s.confirmed:
                        # A role is confirmed by the endpoints a censor's answer proves.
                        assert any(
                            e.rule == "fingerprint.censor" and e.fingerprint and e.scope
                            for e in s.evidence
                        ), f"{data}:{i + 1} {s.role}: {s.evidence}"
                if v.status == "confirmed":
                    confirmed += 1
                    assert any(s.confirmed and s.status == "blocked" for s in v.services)
    print(f"\n{confirmed} of {judged} judged samples confirmed, each by a named fingerprint")
    assert judged >= 150


def test_fingerprints_ooni_found_are_the_ones_voipwatch_finds(shared_dir: Path) -> None:
    """The matcher against OONI's own: every fingerprint of a censor's scope that
    fastpath names in a sample, voipwatch's table and matcher find there too."""
    from voipwatch.ooni import fingerprints
    from voipwatch.ooni.model import decode
    from voipwatch.verdicts.evidence import dns_fingerprints
    from voipwatch.verdicts.facts import collect

    table = fingerprints.load()
    checked = 0
    for data, oracle in PAIRS:
        text = (shared_dir / "ooni-samples" / oracle).read_text()
        scores = [json.loads(x) for x in text.splitlines()]
        with (shared_dir / "ooni-samples" / data).open("rb") as fh:
            for i, line in enumerate(fh):
                theirs = {
                    f["name"]
                    for f in scores[i]["scores"].get("fingerprints", [])
                    if f["scope"] in fingerprints.CENSOR_SCOPES
                }
                if not theirs:
                    continue
                m, _ = decode(line.strip())
                facts = collect(m.test_keys, cc=m.probe_cc or "", fp_table=table, all_pages=True)
                ours = {fp.name for host in facts.dns for _, fp in dns_fingerprints(facts, host)}
                for responses in facts.responses.values():
                    for r in responses:
                        fp = r.fingerprint(table, facts.cc)
                        if fp is not None:
                            ours.add(fp.name)
                assert theirs <= ours, f"{data}:{i + 1}: OONI {theirs}, voipwatch {ours}"
                checked += 1
    assert checked >= 3
