"""Issue 15's acceptance: the detector on worlds written from their labels.

These worlds come from :mod:`voipwatch.testing.labelworld`, which shares no code with
``voipwatch generate``: it draws the ground truth first (blocks of IP, SNI and DNS
kinds on one network, several or all; an app's change and an app's outage in every
country; a network's bad hours; flaky networks; a shutdown; two throttles) and renders each
measurement from a real OONI measurement showing that state. The pipeline then runs
as a user runs it: ``voipwatch ingest`` (the verdict rules on the raw files) and
``voipwatch evaluate``. Seeds and sizes are fresh: nothing was tuned on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.testing.labelworld import VARIANTS, plan_world, write_world

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "measurements"


@pytest.mark.parametrize(("seed", "countries"), [(41, 4), (42, 4), (43, 6), (44, 6)])
def test_detector_meets_the_bar_on_a_world_it_never_saw(
    tmp_path: Path, seed: int, countries: int
) -> None:
    templates = {v.template: (FIXTURES / v.template).read_bytes() for v in VARIANTS.values()}
    world = plan_world(seed, countries)
    write_world(world, templates, tmp_path / "world")
    labels = json.loads((tmp_path / "world" / "labels.json").read_text())["events"]
    blocks = [x for x in labels if x["kind"] == "block"]
    assert len({x["event_id"].rsplit("-", 1)[0] for x in blocks}) >= 20
    assert any(x["size_band"] == "single_network" for x in blocks)
    assert any(x["kind"] == "target_change" for x in labels)
    assert any(x["kind"] == "outage" for x in labels)
    assert {m for x in blocks for m in x["mechanisms"]} >= {"ip.blocked", "tls.reset", "dns.bogon"}
    runner = CliRunner()
    db = tmp_path / "store.duckdb"
    result = runner.invoke(app, ["ingest", str(tmp_path / "world" / "raw"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["evaluate", "--labels", str(tmp_path / "world" / "labels.json"), "--db", str(db),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    summary = {k: report[k] for k in report if k not in ("notes",)}
    assert report["recall"] >= 0.9, summary
    assert report["recall_by_band"]["single_network"] >= 0.8, summary
    assert report["false_alarms_per_series_week"] <= 0.05, summary
    assert report["median_latency_hours"] <= 12, summary
    # Every country's row of the app's change and of its outage, none reported as a block.
    assert report["target_changes"] >= 2 * countries, summary
    assert report["target_changes_reported_as_block"] == 0, summary
    # Throttles of WhatsApp's web host, recorded by our probe through a real shaper:
    # found as throttling, never called blocks.
    assert report["labelled_by_kind"]["throttling"] == 2, summary
    assert report["recall_by_kind"]["throttling"] == 1.0, summary
    assert report["throttles_reported_as_block"] == 0, summary
    assert report["false_alarms_by_kind"]["throttling"] <= 0.05, summary
