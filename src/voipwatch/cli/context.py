"""``voipwatch context``: the legal and policy context of a country, every statement sourced."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from voipwatch.cli.options import JsonOpt, encoder
from voipwatch.console import out, problem, write_line


def context(
    country: Annotated[
        str | None,
        typer.Argument(help="ISO country code (e.g. MA); without it, the countries covered."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Show a country's VoIP licensing, regulator, laws cited for blocking, net
    neutrality, incumbent operator and international commitments, each with its
    sources. What is not documented is left out, never guessed."""
    from voipwatch.cases.legal import all_contexts, load_context
    from voipwatch.errors import InputError

    try:
        if country is None:
            contexts = all_contexts()
            for c in contexts:
                if json:
                    write_line(encoder.encode(c.to_dict()))
                else:
                    out.print(f"{c.country}  {c.name}: {c.statements()} statements", markup=False)
            return
        code = country.strip().upper()
        if len(code) != 2 or not code.isalpha():
            problem(f"voipwatch context: {country!r} is not an ISO 3166 alpha-2 code (e.g. MA)")
            raise typer.Exit(2)
        ctx = load_context(code)
    except InputError as exc:
        problem(f"voipwatch context: {exc}")
        raise typer.Exit(1) from None
    if ctx is None:
        problem(f"voipwatch context: no legal context is documented for {code} yet")
        raise typer.Exit(1)
    if json:
        write_line(encoder.encode(ctx.to_dict()))
        return
    show(ctx.to_dict())


LABELS = {
    "regulator": "Regulator",
    "voip_licensing": "VoIP licensing",
    "laws_cited": "Laws cited for blocking",
    "net_neutrality": "Net neutrality",
    "incumbent": "Incumbent operator",
    "multistakeholder": "Multistakeholder Internet governance",
    "treaties": "UN treaties (ratification status)",
    "commitments": "Commitments",
    "notes": "Other documented facts",
}


def show(d: dict[str, Any]) -> None:
    out.print(f"{d['name']} ({d['country']}), reviewed {d['reviewed']}", markup=False)
    for key, label in LABELS.items():
        value = d.get(key)
        items = value if isinstance(value, list) else [value] if value else []
        out.print(f"\n{label}:", markup=False)
        if not items:
            out.print("  (not documented)", markup=False)
        for item in items:
            head = f"[{item['id']}] " if "id" in item else ""
            date = f" ({item['date']})" if item.get("date") else ""
            owned = item.get("state_owned")
            own = "" if owned is None else f" State-owned: {'yes' if owned else 'no'}."
            share = item.get("state_share")
            if share is not None:
                own += f" State share: {share:g}%."
            as_of = f" As of {item['as_of']}." if item.get("as_of") else ""
            out.print(f"  - {head}{item['value']}{date}{own}{as_of}", markup=False)
            if item.get("caveat"):
                out.print(f"      note: {item['caveat']}", markup=False)
            for s in item["sources"]:
                rank = f" [{s['rank']}]" if s.get("rank") else ""
                out.print(f"      source:{rank} {s['title']} <{s['url']}>", markup=False)
