"""Property-based fuzzing of the cost inputs: ``voipwatch.cost.estimate`` and ``voipwatch cost``.

Any country, app, day, duration, network list and market share yields an estimate
whose figures are finite, ordered and non-negative, or a
:class:`voipwatch.errors.VoipwatchError`; the command answers with exit status 0, 1 or
2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.cost import CostEstimate, estimate
from voipwatch.cost.params import load_params
from voipwatch.errors import VoipwatchError

TODAY = date(2026, 11, 22)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
APPS = sorted(load_params().apps)
_COUNTRIES = st.sampled_from(["BR", "bra", "IR", "PK", "ET", "US", "XK", "ZZ", "", " br "])
_APPS = st.sampled_from([*APPS, "WhatsApp", "google-meet", " Signal ", "", "voip"])
_HOURS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 24 * 3650),
    st.integers(-5, 10**6),
)
_DAYS = st.dates(date(1900, 1, 1), date(2100, 1, 1)) | st.sampled_from(
    [TODAY, TODAY + timedelta(days=1), date(2014, 1, 1), date(1970, 1, 1)]
)
_ASNS = st.integers(-(2**40), 2**40) | st.sampled_from([28573, 8167, 58224, 0])
_SHARES = st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1)


def check(e: CostEstimate) -> None:
    figures = (e.low, e.central, e.high, e.upper_bound_full_shutdown)
    assert all(math.isfinite(x) and x >= 0 for x in figures), figures
    assert e.low <= e.central <= e.high, figures
    msgspec.json.encode(e)
    e.to_dict()


@FUZZ
@given(
    cc=_COUNTRIES | st.text(max_size=4),
    app_name=_APPS | st.text(max_size=8),
    start=_DAYS,
    hours=_HOURS,
    networks=st.none() | st.lists(_ASNS, max_size=4),
    shares=st.none() | st.dictionaries(_ASNS, _SHARES, max_size=3),
    calls_only=st.booleans(),
)
def test_any_inputs_give_an_estimate_or_a_clear_error(
    cc: str,
    app_name: str,
    start: date,
    hours: Any,
    networks: list[int] | None,
    shares: dict[int, float] | None,
    calls_only: bool,
) -> None:
    try:
        e = estimate(
            cc,
            app_name,
            start,
            hours,
            networks=networks,
            network_shares=shares,
            calls_only=calls_only,
            today=TODAY,
        )
    except VoipwatchError as exc:
        error = str(exc)
    else:
        check(e)
        return
    assert error
    assert "\n" not in error


_runner = CliRunner()
_ARG_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10
)


@FUZZ
@given(
    cc=_COUNTRIES | _ARG_TEXT,
    app_name=_APPS | _ARG_TEXT,
    start=_DAYS.map(date.isoformat) | _ARG_TEXT,
    hours=_HOURS.map(str) | _ARG_TEXT,
    networks=st.none() | st.lists(_ASNS.map(str) | _ARG_TEXT, max_size=3).map(",".join),
    shares=st.lists(
        st.tuples(_ASNS.map(str) | _ARG_TEXT, _SHARES.map(str) | _ARG_TEXT).map("=".join),
        max_size=2,
    ),
    as_json=st.booleans(),
)
def test_the_cost_command_never_crashes(
    cc: str,
    app_name: str,
    start: str,
    hours: str,
    networks: str | None,
    shares: list[str],
    as_json: bool,
) -> None:
    args = ["cost", "--country", cc, "--app", app_name, "--start", start, "--hours", hours]
    if networks is not None:
        args += ["--networks", networks]
    for s in shares:
        args += ["--share", s]
    if as_json:
        args.append("--json")
    r = _runner.invoke(app, args)
    # typer.Exit and click's usage errors end as SystemExit; anything else escaped.
    assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)
    assert r.exit_code in (0, 1, 2), (args, r.exit_code, r.output)
    if r.exit_code == 0 and as_json:
        out = msgspec.json.decode(r.stdout.strip().splitlines()[-1])
        assert all(math.isfinite(out[k]) for k in ("low", "central", "high")), out
