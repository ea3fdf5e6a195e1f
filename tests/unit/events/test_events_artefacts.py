"""Global artefacts from the data, whatever the size of the world, and known changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.errors import InputError
from voipwatch.events import known, rollup
from voipwatch.events.cells import build_cells
from voipwatch.events.detect import detect_events
from voipwatch.events.model import Event
from voipwatch.events.rollup import Segment, SeriesKey
from voipwatch.store import open_store
from voipwatch.testing import Block, Network, World, insert

ONSET = datetime(2026, 1, 19, 10)


def seg(cc: str, asn: int, role: str, start: int, end: int | None) -> Segment:
    key: SeriesKey = (cc, asn, "signal", f"signal/{role}", "signalling")
    return Segment(key, start, start - 1, start + 1, start + 2, end, end, end, 1.2)


def test_a_change_in_most_of_three_countries_is_global() -> None:
    segs = [seg(cc, 10 + i, "chat", 1000 + 2 * i, None) for i, cc in enumerate(["IR", "RU"])]
    kinds = rollup.global_artefacts(segs, {("signal", "signal/chat"): (3, 3)})
    assert kinds == {0: "target_change", 1: "target_change"}
    # One country of three is a block, not the app.
    assert rollup.global_artefacts(segs[:1], {("signal", "signal/chat"): (3, 3)}) == {}


def test_a_global_failure_soon_over_is_an_outage() -> None:
    segs = [seg(cc, 10 + i, "chat", 1000 + i, 1010 + i) for i, cc in enumerate("ABCDEF")]
    kinds = rollup.global_artefacts(segs, {("signal", "signal/chat"): (6, 6)})
    assert set(kinds.values()) == {"outage"}
    assert len(kinds) == 6


def test_sixty_countries_need_most_of_them() -> None:
    ccs = [f"C{i:02d}" for i in range(60)]
    segs = [seg(cc, i, "chat", 1000 + i % 5, None) for i, cc in enumerate(ccs[:25])]
    assert rollup.global_artefacts(segs, {("signal", "signal/chat"): (60, 60)}) == {}
    segs = [seg(cc, i, "chat", 1000 + i % 5, None) for i, cc in enumerate(ccs[:40])]
    assert len(rollup.global_artefacts(segs, {("signal", "signal/chat"): (60, 60)})) == 40


def _detect(world: World, folder: Path, changes: list[known.KnownChange]) -> list[Event]:
    folder.mkdir(exist_ok=True)
    with open_store(folder / "w.duckdb") as store:
        insert(store, world.rows())
        build_cells(store)
        return detect_events(store, known_changes=changes)


def test_a_small_world_sees_a_global_outage_and_a_change_of_the_app(tmp_path: Path) -> None:
    nets = [Network(cc, 100 + i, 24) for i, cc in enumerate(["IR", "RU", "BR"])]
    everyone = [
        # Signal's servers down for ten hours everywhere.
        *(
            Block(n.cc, (n.asn,), "signal", ("backend",), ONSET, ONSET + timedelta(hours=10))
            for n in nets
        ),
        # WhatsApp Web answering differently everywhere from a day on, for good.
        *(
            Block(
                n.cc,
                (n.asn,),
                "whatsapp",
                ("web",),
                ONSET + timedelta(days=3),
                None,
                technique="http.blockpage",
            )
            for n in nets
        ),
        # And one real block, in one country.
        Block("IR", (100,), "telegram", ("dc",), ONSET + timedelta(days=1), None),
    ]
    events = _detect(World(nets, blocks=everyone, days=28), tmp_path, [])
    kinds = {(e.kind, e.probe_cc, e.service) for e in events}
    for n in nets:
        assert ("outage", n.cc, "signal") in kinds, kinds
        assert ("target_change", n.cc, "whatsapp") in kinds, kinds
    blocks = [e for e in events if e.kind == "block"]
    assert [(e.probe_cc, e.service) for e in blocks] == [("IR", "telegram")], blocks


def test_a_known_change_is_labelled_even_in_one_country(tmp_path: Path) -> None:
    nets = [Network("IR", 100, 24), Network("IR", 101, 24)]
    change = Block("IR", (100, 101), "whatsapp", ("web",), ONSET, None)
    world = World(nets, blocks=[change], days=28)
    unknown = _detect(world, tmp_path / "a", [])
    assert {e.kind for e in unknown if e.service == "whatsapp"} == {"block"}
    documented = known.KnownChange(
        ONSET.date(), None, "whatsapp", "whatsapp/web", "target_change", "a test", "here"
    )
    events = _detect(world, tmp_path / "b", [documented])
    found = [e for e in events if e.service == "whatsapp"]
    assert found
    assert {e.kind for e in found} == {"target_change"}
    assert found[0].evidence["known_change"]["what"] == "a test"


def test_the_shipped_list_reads() -> None:
    changes = known.load()
    assert changes
    assert all(c.kind in known.KINDS and c.source for c in changes)
    web = next(c for c in changes if c.role == "whatsapp/web")
    assert web.day == date(2022, 12, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[change]]\ndate = 2024-01-01\n", "change 1: app is missing"),
        ("[[change]\n", "not TOML"),
        ("[[chnage]]\n", "unknown table 'chnage'"),
        (
            '[[change]]\ndate = "soon"\napp = "a"\nrole = "a/b"\nkind = "outage"\n'
            'what = "w"\nsource = "s"\n',
            "change 1: date 'soon' is not a date",
        ),
        (
            '[[change]]\ndate = 2024-01-01\napp = "a"\nrole = "a/b"\nkind = "block"\n'
            'what = "w"\nsource = "s"\n',
            "kind 'block' is not one of target_change, outage",
        ),
        (
            '[[change]]\ndate = 2024-01-01\nend = 2023-01-01\napp = "a"\nrole = "a/b"\n'
            'kind = "outage"\nwhat = "w"\nsource = "s"\n',
            "end 2023-01-01 is before date 2024-01-01",
        ),
        (
            '[[change]]\ndate = 2024-01-01\napp = "a"\nrole = "x/b"\nkind = "outage"\n'
            'what = "w"\nsource = "s"\n',
            "role 'x/b' is not a role of 'a'",
        ),
    ],
)
def test_a_malformed_list_is_refused_with_where(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "changes.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        known.load(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_the_cli_names_a_malformed_list_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        insert(store, World([Network("IR", 1, 4)], days=3).rows())
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[change]]\ndate = "yesterday"\napp = "a"\nrole = "a/b"\nkind = "outage"\n'
        'what = "w"\nsource = "s"\n'
    )
    result = CliRunner().invoke(app, ["events", "--db", str(db), "--known-changes", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: change 1: date 'yesterday' is not a date" in result.stderr
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(
        app, ["events", "--db", str(db), "--known-changes", str(tmp_path / "none.toml")]
    )
    assert missing.exit_code == 2
    assert "cannot read the known changes" in missing.stderr


def test_a_block_echoed_in_most_countries_is_the_app() -> None:
    s = seg("TR", 1, "chat", 1000, 1010)
    # Three other countries began failing in the same hours: a 10-hour outage.
    echo = {"TR": (8, 10, 0, 20), "EG": (5, 6, 0, 12), "VN": (3, 4, 1, 15), "KZ": (0, 5, 0, 9)}
    assert rollup.echo_kind(s, echo) == "outage"
    long = seg("TR", 1, "chat", 1000, None)
    assert rollup.echo_kind(long, echo) == "target_change"


def test_a_block_alone_or_among_old_blocks_stays_a_block() -> None:
    s = seg("TR", 1, "chat", 1000, None)
    alone = {"TR": (8, 10, 0, 20), "EG": (0, 6, 0, 12), "VN": (1, 9, 0, 15)}
    assert rollup.echo_kind(s, alone) is None
    # Two countries have blocked the role for long: they say nothing of a change now.
    old = {"TR": (8, 10, 0, 20), "RU": (9, 9, 20, 20), "IR": (7, 8, 15, 16), "EG": (0, 6, 0, 9)}
    assert rollup.echo_kind(s, old) is None
    # Too few verdicts elsewhere to tell.
    assert rollup.echo_kind(s, {"TR": (8, 10, 0, 20), "EG": (2, 2, 0, 1)}) is None


def test_a_sparse_network_noticing_a_change_late_joins_it() -> None:
    segs = [
        seg("TR", 1, "sfu", 1000, None),
        seg("EG", 2, "sfu", 1000 + 50, None),  # two days later, while the change goes on
        seg("EG", 3, "sfu", 1000 + 200, None),  # a week later: its own block
        seg("EG", 4, "chat", 1000 + 10, None),  # another role
    ]
    assert rollup.late_joiners(segs, {0: "target_change"}) == {1: "target_change"}
    over = [seg("TR", 1, "sfu", 1000, 1010), seg("EG", 2, "sfu", 1020, None)]
    assert rollup.late_joiners(over, {0: "outage"}) == {}
