"""Writing a brief: HTML from the Jinja templates, PDF printed by WeasyPrint."""

from __future__ import annotations

import importlib.resources
from datetime import datetime
from typing import Any

from voipwatch.events import counts_text
from voipwatch.report.brief import CURRENT_DAYS, Brief
from voipwatch.report.charts import money
from voipwatch.report.timeline import timeline

FORMATS = ("html", "pdf")
#: How many events show the measurements behind them (the most recent).
SAMPLE_EVENTS = 4


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if abs(value) >= 1e6:
        return money(float(value), "").strip()
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4g}"


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d %b %Y")
    return str(value or "")


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("voipwatch.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda v, currency="USD": money(float(v), currency)
    env.filters["num"] = _num
    env.filters["day"] = _day
    env.globals["counts_text"] = counts_text
    env.globals["current_days"] = CURRENT_DAYS
    return env


def _context(b: Brief) -> dict[str, Any]:
    """What the template needs beyond the brief: summaries computed once, here."""
    ongoing = [e for e in b.events if e["end"] is None]
    blocks = [e for e in b.events if e["kind"] == "block"]
    shutdowns = [e for e in b.changes if e["kind"] == "possible_shutdown"]
    apps = list(dict.fromkeys(e["what"] for e in b.events))
    techniques: dict[str, dict[str, str]] = {}
    for e in b.events:
        for h in e["how"]:
            techniques.setdefault(h["technique"], h)
    national = [e for e in b.events if e["national"]]
    nets = sorted({a for e in b.events if not e["national"] for a in e["asns"]})
    where = []
    if national:
        where.append(f"nationwide ({', '.join(dict.fromkeys(e['what'] for e in national))})")
    if nets:
        where.append(f"on {len(nets)} network{'s' if len(nets) != 1 else ''}")
    costed = [e["cost"] for e in b.events if e.get("cost")]
    inputs: list[dict[str, Any]] = []
    per_block: list[str] = []
    flags: list[str] = []
    comparisons: dict[tuple[str, int], Any] = {}
    for c in costed:
        flags.extend(f for f in c.get("flags") or [] if f not in flags)
        for comp in c.get("comparisons") or []:
            comparisons.setdefault((comp["title"], comp["year"]), comp)
    # An input with the same value for every block is listed once; others once per block.
    costed_events = [e for e in b.events if e.get("cost")]
    names = list(dict.fromkeys(n for c in costed for n in c.get("inputs") or {}))
    for name in names:
        per = [
            (e["what"], e["cost"]["inputs"][name])
            for e in costed_events
            if name in (e["cost"].get("inputs") or {})
        ]
        if len({repr(i) for _, i in per}) == 1:
            inputs.append({"name": name.replace("_", " "), **per[0][1]})
        else:
            per_block.append(name.replace("_", " "))
    ctx = b.context or {}
    laws = len(ctx.get("laws_cited") or [])
    own = [c for c in ctx.get("commitments") or [] if c.get("scope") != "all"]
    intl = "the international commitments (ICCPR Art. 19, HRC resolution 32/13, SDG 9.c)"
    parties = [
        f"the {str(t.get('id', '')).upper()} ({t['date']})" if t.get("date") else str(t.get("id"))
        for t in ctx.get("treaties") or []
        if t.get("status") == "party"
    ]
    # A state party is bound by the covenant itself, not only by resolutions.
    bound = f", and {b.country} is a state party to {' and '.join(parties)}" if parties else ""
    mine = f"{len(own)} commitment{'s' if len(own) != 1 else ''} of {b.country} and " if own else ""
    if laws:
        headline = (
            f"{laws} law{'s' if laws != 1 else ''} or order{'s' if laws != 1 else ''} cited for "
            f"blocking; {mine}{intl} are at stake{bound} — see the legal context below."
        )
    else:
        headline = (
            f"no law cited for blocking is documented; {mine}{intl} are at stake{bound} — see "
            "the legal context below."
        )
    index = {(s["title"], s["url"]): i for i, s in enumerate(b.sources, 1)}

    def refs(sources: list[dict[str, str]]) -> str:
        keys = [(s.get("title", ""), s.get("url", "")) for s in sources]
        found = sorted({index[k] for k in keys if k in index})
        return f"[{', '.join(map(str, found))}]" if found else ""

    case_sources = sorted(
        {str(s.get("source", "")).upper() for c in b.cases for s in c.get("sources") or []}
    )
    title = f"Calls and messaging apps blocked in {b.country}"
    if not b.events:
        title = f"Blocking of calls and messaging apps in {b.country}"
    if b.scope.words:
        title += f", {b.scope.words}"
    return {
        "b": b,
        "title": title,
        "ongoing": ongoing,
        "blocks": blocks,
        "shutdowns": shutdowns,
        "apps_blocked": apps,
        "techniques": list(techniques.values()),
        "first_event": b.events[0] if b.events else None,
        "where": "; ".join(where) or "not established",
        "timeline": timeline(b.events, country=b.country),
        "formula": costed[0]["formula"] if costed else "",
        "inputs": inputs,
        "per_block": per_block,
        "sample_events": SAMPLE_EVENTS,
        "flags": flags,
        "comparisons": list(comparisons.values()),
        "context_headline": headline,
        "refs": refs,
        "case_sources": case_sources or ["documenting organisations"],
        "css": (
            importlib.resources.files("voipwatch.report") / "templates" / "brief.css"
        ).read_text("utf-8"),
    }


def render_html(brief: Brief) -> str:
    """The brief as one self-contained HTML document (styles and charts inline)."""
    html: str = _environment().get_template("brief.html.j2").render(**_context(brief))
    return html


def render_pdf(brief: Brief) -> bytes:
    """The brief as PDF (A4), printed from :func:`render_html` by WeasyPrint."""
    import logging

    import weasyprint

    # WeasyPrint logs every CSS property it ignores; a brief's reader does not need them.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    pdf: bytes = weasyprint.HTML(string=render_html(brief)).write_pdf()
    return pdf
