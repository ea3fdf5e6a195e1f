"""Case kinds read from what the real case files say, and what each kind is priced as.

The three documented-case sources of ``shared/ground-truth`` (Access Now STOP, CenAlert)
and OONI's incidents, imported as a user would; the table below names real cases, the
reading each must get and why, from the words of the case.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from voipwatch.cases.costing import case_cost
from voipwatch.cases.kinds import read_case, regional
from voipwatch.cases.model import Case
from voipwatch.cases.registry import import_cases, list_cases
from voipwatch.store import open_store

TODAY = date(2026, 11, 22)

#: (country, onset, an app the case names or "" for none, its reading, why).
EXPECTED = [
    # "Iranian authorities banned the use of Starlink ... criminalized the purchase,
    # sale, import, and use": a ban of one platform, every network kept working.
    ("IR", "2025-06-30", "", "sales_ban", "Starlink's purchase, sale and use banned"),
    # "shut down Starlink internet for ... refugee camps ... by abruptly imposing permit
    # fees": a licence condition on one platform, not an outage of the country.
    ("TD", "2025-01-16", "", "sales_ban", "Starlink permit fees imposed on refugee camps"),
    # "Syrian authorities confiscated Starlink devices ... prohibiting the use and
    # possession of satellite internet devices without prior licensing".
    ("SY", "2025-02-07", "", "sales_ban", "satellite devices banned without a licence"),
    # "full nationwide network shutdown, including Starlink": the Internet itself was cut.
    ("TZ", "2025-10-29", "", "shutdown", "a full nationwide network shutdown"),
    # "A nationwide shutdown was imposed ... on May 9 in the wake of escalating protests".
    ("IR", "2022-05-09", "", "shutdown", "a nationwide shutdown"),
    # "A complete internet shutdown occurred in the Pulwama and Shopian districts": the
    # Internet was cut in two districts, not in India.
    ("IN", "2021-01-01", "", "regional_shutdown", "two districts of Jammu and Kashmir"),
    # "WhatsApp and Instagram were blocked ... with Skype, LinkedIn" and Viber: several
    # apps; the rest of the Internet worked.
    ("IR", "2022-09-20", "whatsapp", "several_apps", "WhatsApp, Skype, Viber, Instagram"),
    # "TikTok, WeChat, and 57 other Chinese-made apps were banned in India".
    ("IN", "2020-06-29", "wechat", "several_apps", "WeChat and TikTok named"),
    # Telegram blocked by court order in Brazil, April 2023 (OONI, STOP, CenAlert).
    ("BR", "2023-04-26", "telegram", "one_app", "Telegram only"),
    # "Telegram was blocked by Iranian authorities beginning May 1, 2018".
    ("IR", "2018-04-30", "telegram", "one_app", "Telegram only"),
    # "Call features on WhatsApp and Telegram were ordered to be blocked": the calls of
    # two apps, their messages kept working.
    ("RU", "2025-08-13", "whatsapp", "calls", "call features of WhatsApp and Telegram"),
    # "Voice and video calls on WhatsApp were blocked in Sudan".
    ("SD", "2025-07-25", "whatsapp", "calls", "WhatsApp's voice and video calls"),
    # Morocco's 2016 ban of calls over the Internet (Skype, WhatsApp, Viber calls).
    ("MA", "2016-02-16", "", "calls", "a VoIP ban"),
    # "Roskomnadzor announced that it would slow down Twitter": one social platform.
    ("RU", "2021-03-10", "", "platform", "Twitter slowed"),
    # A network-wide slowdown in Kazakhstan naming no app: slowed, not cut.
    ("KZ", "2018-03-15", "", "slowdown", "the network slowed, no app named"),
]


@pytest.fixture(scope="module")
def cases(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    db = tmp_path_factory.mktemp("kinds") / "cases.duckdb"
    files = {
        "ooni": shared_dir / "ooni-samples" / "ooni__data" / "docs" / "incidents.json",
        "stop": shared_dir / "ground-truth" / "accessnow_stop_2016_2025.csv",
        "cenalert": shared_dir / "ground-truth" / "cenalert_service_blocking_events_All.csv",
    }
    with open_store(db) as store:
        for name, path in files.items():
            import_cases(store, path, name, today=TODAY)
        return list_cases(store)


def _find(cases: list[Case], cc: str, start: str, app: str) -> Case:
    hits = [
        c
        for c in cases
        if c.country == cc
        and c.start == date.fromisoformat(start)
        and (app in c.apps if app else not c.apps)
        and not (not app and c.kind == "service_block" and not c.other_services)
    ]
    assert len(hits) == 1, (cc, start, app, [(h.case_id, h.kind, h.region) for h in hits])
    return hits[0]


@pytest.mark.shared
@pytest.mark.parametrize(("cc", "start", "app", "pricing", "why"), EXPECTED)
def test_each_listed_case_gets_the_kind_its_words_say(
    cases: list[Case], cc: str, start: str, app: str, pricing: str, why: str
) -> None:
    case = _find(cases, cc, start, app)
    reading = read_case(case)
    assert reading.pricing == pricing, (why, reading)
    cost = case_cost(case)
    if pricing in ("sales_ban", "regional_shutdown", "slowdown"):
        assert cost["available"] is False, why
        assert str(cost["reason"]), why
    elif cost["available"]:
        assert cost["case_kind"] == pricing
        assert cost["case_kind_reason"] == reading.why


@pytest.mark.shared
def test_no_sales_ban_is_an_outage_and_only_a_nationwide_shutdown_is_priced_as_one(
    cases: list[Case],
) -> None:
    readings = {c.case_id: read_case(c) for c in cases}
    bans = [c for c in cases if readings[c.case_id].pricing == "sales_ban"]
    assert len(bans) >= 10
    for c in bans:
        assert case_cost(c)["available"] is False, c.title
    priced_as_shutdown = 0
    for c in cases:
        cost = case_cost(c)
        if not cost["available"]:
            continue
        if cost.get("app") == "internet":
            priced_as_shutdown += 1
            assert c.kind == "full_shutdown", c.title
            assert not regional(c), c.title
            assert readings[c.case_id].pricing == "shutdown"
        else:
            # Apps, platforms and calls are always less than the Internet as a whole.
            assert float(cost["central"]) < float(cost["upper_bound_full_shutdown"]), c.title  # type: ignore[arg-type]
    assert priced_as_shutdown >= 100


@pytest.mark.shared
def test_a_case_of_several_apps_is_the_union_of_their_shares(cases: list[Case]) -> None:
    """Iran, September 2022: WhatsApp, Skype, Viber and Instagram, ongoing; priced as
    the people who use at least one of them, well below a shutdown of Iran."""
    case = _find(cases, "IR", "2022-09-20", "whatsapp")
    cost = case_cost(case)
    bound = float(cost["upper_bound_full_shutdown"])  # type: ignore[arg-type]
    shares = [float(e["central"]) / bound for e in cost["per_app"]]  # type: ignore[attr-defined]
    assert len(shares) == 4  # LinkedIn has no weight and is flagged
    kept = 1.0
    for s in shares:
        kept *= 1 - s
    assert float(cost["central"]) == pytest.approx(bound * (1 - kept))  # type: ignore[arg-type]
    assert float(cost["central"]) < sum(shares) * bound  # type: ignore[arg-type]
    assert float(cost["central"]) < 0.8 * bound  # type: ignore[arg-type]
    assert any("linkedin" in f for f in cost["flags"])  # type: ignore[attr-defined]
    print(f"\nIran 2022 several apps: {cost['central']:.3g} of a {bound:.3g} shutdown")
