"""``voipwatch cost``: what blocking an app costs, with low / central / high and sources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from voipwatch.cli.options import JsonOpt, encoder, store_failures
from voipwatch.console import out, problem, write_line
from voipwatch.report.charts.base import money


def parse_networks(networks: str | None, shares: list[str]) -> tuple[list[int], dict[int, float]]:
    """ASNs from ``--networks 1,AS2`` and market shares from ``--share AS1=0.3``."""
    from voipwatch.errors import UsageError

    def asn(text: str, option: str) -> int:
        t = text.strip().upper().removeprefix("AS")
        if not t.isdigit():
            raise UsageError(f"{option}: {text!r} is not an ASN (e.g. 28573 or AS28573)")
        return int(t)

    nets = [asn(n, "--networks") for n in (networks or "").split(",") if n.strip()]
    share_map: dict[int, float] = {}
    for item in shares:
        key, sep, value = item.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not sep or not 0.0 <= share <= 1.0:
            raise UsageError(f"--share: {item!r} is not ASN=SHARE with a share from 0 to 1")
        share_map[asn(key, "--share")] = share
    for a in share_map:
        if a not in nets:
            nets.append(a)
    return nets, share_map


@contextmanager
def _input_failures() -> Iterator[None]:
    """A damaged indicator file is one line and exit 1, like any unreadable input."""
    from voipwatch.errors import InputError

    try:
        yield
    except InputError as exc:
        problem(f"voipwatch cost: {exc}")
        raise typer.Exit(1) from None


def _money(x: float) -> str:
    # Three significant figures: the estimate rests on assumptions, not on accounts.
    return money(x, "")


def cost(
    country: Annotated[str, typer.Option("--country", help="ISO country code (BR or BRA).")],
    app_name: Annotated[
        str,
        typer.Option(
            "--app",
            help="whatsapp, telegram, signal, viber, ..., facebook, x, voip (calls of every "
            "app) or internet (a full shutdown).",
        ),
    ],
    start: Annotated[str, typer.Option("--start", help="First day of the block, YYYY-MM-DD.")],
    hours: Annotated[float, typer.Option("--hours", help="How long it lasted, in hours.")],
    networks: Annotated[
        str | None,
        typer.Option("--networks", help="Only these networks: ASN[,ASN...] (default: national)."),
    ] = None,
    share: Annotated[
        list[str] | None,
        typer.Option(
            "--share",
            help="Market share of a blocked network, ASN=0.3 (repeat). Without it the "
            "share is a flagged proxy.",
        ),
    ] = None,
    calls_only: Annotated[
        bool, typer.Option("--calls-only", help="Calls were blocked, messages were not.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Estimate what a block cost: low / central / high, every input with its source.

    cost = daily GDP x Deloitte's full-shutdown loss rate for the country's
    connectivity tier x app weight x share affected x days. Third-party figures
    (Top10VPN) are shown beside it as contested comparisons, never mixed in.
    """
    from datetime import date

    from voipwatch.cost import estimate
    from voipwatch.errors import UsageError

    with store_failures("cost"), _input_failures():
        try:
            day = date.fromisoformat(start)
        except ValueError:
            raise UsageError(f"--start: {start!r} is not a date (YYYY-MM-DD)") from None
        nets, shares = parse_networks(networks, share or [])
        result = estimate(
            country,
            app_name,
            day,
            hours,
            networks=nets or None,
            network_shares=shares or None,
            calls_only=calls_only,
        )
    if json:
        write_line(encoder.encode(result))
        return
    show(result)


def show(e: object) -> None:
    from rich.table import Table

    from voipwatch.cost import CostEstimate

    assert isinstance(e, CostEstimate)
    scope = (
        "national"
        if e.scope == "national"
        else "networks " + ", ".join(f"AS{n}" for n in e.networks)
    )
    out.print(
        f"{e.app} blocked in {e.country_name} ({e.country}) from {e.start} for {e.hours:g} h, "
        f"{scope}",
        markup=False,
    )
    t = Table("low", "central", "high", "full-shutdown upper bound", title=f"cost ({e.currency})")
    t.add_row(_money(e.low), _money(e.central), _money(e.high), _money(e.upper_bound_full_shutdown))
    out.print(t)
    out.print(e.formula, markup=False)
    out.print("inputs:", markup=False)
    for name, i in e.inputs.items():
        v = i.value if isinstance(i.value, str) else f"{i.value:,.4g}"
        if i.low is not None and i.high is not None:
            v = f"{v} (low {i.low:,.3g}, high {i.high:,.3g})"
        year = f" [{i.year}]" if i.year else ""
        flag = f" (assumption: {i.note})" if i.assumption and i.note else ""
        flag = flag or (" (assumption)" if i.assumption else "")
        url = f" <{i.url}>" if i.url else ""
        out.print(f"  {name} = {v}{year}{flag}: {i.source}{url}", markup=False)
    for f in e.flags:
        out.print(f"note: {f}", markup=False)
    for c in e.comparisons:
        hours = f", {c.duration_hours:g} h" if c.duration_hours else ""
        out.print(
            f"compare (contested, third-party): {c.publisher} {c.year} {c.country}"
            f"{' ' + c.area if c.area else ''}: {_money(c.cost_usd)} USD{hours} <{c.url}>",
            markup=False,
        )
