"""The advocacy brief: a country's evidence, gathered and written for a policymaker.

:func:`build_brief` reads the store (coverage, verdicts, events, documented cases)
and the package's context data (legal context, cost indicators) and returns a
:class:`Brief`: plain data, with the charts already drawn as SVG from the same
specs the dashboard uses. :mod:`voipwatch.report.document` writes it as HTML (Jinja
templates in ``templates/``) or PDF (that HTML printed by WeasyPrint).

The brief never invents: what is missing (no events for the country, no legal
context on file, a cost that cannot be computed) is said in ``gaps`` and in the
text, and a store of synthetic data says so on every page.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from voipwatch.cases.legal import CountryContext
from voipwatch.catalog import load as load_catalog
from voipwatch.cost import CostEstimate, evidence_end
from voipwatch.cost.indicators import load_table
from voipwatch.errors import InvalidValue, UsageError, VoipwatchError
from voipwatch.events import ARTEFACTS, THROTTLED, Event, corroboration, is_artefact
from voipwatch.ooni.explorer import MEASUREMENT_URL
from voipwatch.report import charts
from voipwatch.report.render import to_svg
from voipwatch.store import Store
from voipwatch.untrusted import web_link
from voipwatch.verdicts.techniques import describe
from voipwatch.views import CountryDossier, Tier, read_country
from voipwatch.views.brief_rows import (
    Coverage,
    coverage,
    evidence_samples,
    measured_services,
    network_names,
    role_timeline,
)
from voipwatch.views.measurements import current_blocks
from voipwatch.views.store_info import synthetic_note

#: How many apps get their own timeline chart (the most affected first): a brief is
#: read, not searched.
MAX_APP_CHARTS = 3
#: Documented cases listed (those matched to the events first, then the most recent).
MAX_CASES = 12
#: The app timelines show this many days up to the last measurement: enough for the
#: onset and its lead-in, short enough that a day is still a visible bar.
TIMELINE_DAYS = 120
#: OONI Explorer's page for a measurement, for briefs on real data.
OONI_MEASUREMENT_URL = MEASUREMENT_URL
#: "Now" is the store's last week, as on the dashboard's country page.
CURRENT_DAYS = 7


@dataclass(frozen=True, slots=True)
class Scope:
    """What a brief covers: a period ``[since, until)`` and some apps (all by default)."""

    since: datetime | None = None
    until: datetime | None = None
    apps: tuple[str, ...] = ()

    def covers(self, start: datetime | date | str, end: datetime | date | str | None) -> bool:
        """Whether something from ``start`` to ``end`` (None: still going) overlaps."""
        first = _as_time(start)
        last = _as_time(end) if end is not None else None
        if self.until is not None and first >= self.until:
            return False
        return self.since is None or last is None or last >= self.since

    def has(self, services: list[str] | str) -> bool:
        """Whether one of ``services`` is in scope (an empty list: every app is)."""
        wanted = [services] if isinstance(services, str) else services
        return not self.apps or not wanted or any(s in self.apps for s in wanted)

    @property
    def words(self) -> str:
        """The period in words, for titles and gaps ("" when it is everything held)."""
        since = f"from {self.since:%Y-%m-%d}" if self.since else ""
        until = f"until {self.until:%Y-%m-%d}" if self.until else ""
        return " ".join(x for x in (since, until) if x)


def _as_time(t: datetime | date | str) -> datetime:
    if isinstance(t, str):  # a case's day, as its dict spells it
        t = datetime.fromisoformat(t)
    if isinstance(t, datetime):
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return datetime(t.year, t.month, t.day, tzinfo=UTC)


def make_scope(
    since: date | None = None, until: date | None = None, apps: list[str] | None = None
) -> Scope:
    """A checked :class:`Scope`: the period in order, the apps known to the catalogue."""

    if since is not None and until is not None and since >= until:
        raise UsageError(f"the period starts on {since} but ends on {until}: nothing is between")
    known = load_catalog().services
    unknown = [a for a in apps or [] if a not in known]
    if unknown:
        raise UsageError(
            f"unknown app(s): {', '.join(unknown)}; known apps: {', '.join(sorted(known))}"
        )
    return Scope(
        since=_as_time(since) if since else None,
        until=_as_time(until) if until else None,
        apps=tuple(apps or ()),
    )


@dataclass(slots=True)
class Brief:
    cc: str
    country: str
    generated: datetime
    synthetic: str | None
    coverage: Coverage
    events: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] | None = None
    total_cost: dict[str, Any] | None = None
    charts: dict[str, str] = field(default_factory=dict)
    sources: list[dict[str, str]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    #: Throttling: interference, but the app still works; listed and priced apart
    #: from the blocks, never counted among them.
    throttling: list[dict[str, Any]] = field(default_factory=list)
    more_cases: int = 0
    services: list[dict[str, Any]] = field(default_factory=list)
    #: What the brief covers (a period, some apps); everything held by default.
    scope: Scope = field(default_factory=Scope)
    #: The state of each app now: the rows of ``/api/v1/current`` for the country.
    current: list[dict[str, Any]] = field(default_factory=list)
    #: What still works: per app and plane, the tools measured to restore it (or not),
    #: when and on which networks (``voipwatch probe --via`` results).
    tools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def source_line(self) -> str:
        if self.synthetic:
            return "voipwatch demo store (synthetic world)"
        return "OONI measurements judged by voipwatch"

    @property
    def chart_note(self) -> str | None:
        return "SYNTHETIC DATA — generated, not real measurements" if self.synthetic else None


def country_name(cc: str) -> str:
    try:
        return load_table().country(cc).name
    except (VoipwatchError, KeyError):
        return cc


def _service_names() -> tuple[dict[str, str], dict[str, str]]:
    cat = load_catalog()
    return (
        {sid: s.name for sid, s in cat.services.items()},
        {rid: r.label for rid, r in cat.roles.items()},
    )


def _describe(technique: str) -> str:
    return describe(technique)


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d %b %Y")
    return str(value) if value is not None else ""


def _events(dossier: CountryDossier, gaps: list[str]) -> list[Event]:
    if dossier.events_why:
        gaps.append(f"The detected events could not be read: {dossier.events_why}")
    return sorted(dossier.events, key=lambda e: (e.start, e.service))


def _cost(event: Event, priced: Tier[CostEstimate], gaps: list[str]) -> dict[str, Any] | None:
    if priced.value is None:  # an unknown country, or a damaged indicator file
        gaps.append(f"No cost for the {event.service} event of {_day(event.start)}: {priced.why}")
        return None
    return priced.value.to_dict()


def onset(earliest: datetime, latest: datetime) -> str:
    """The onset bracket in words, to the hour when it falls within one day."""
    if earliest.date() == latest.date():
        return (
            f"on {_day(earliest)}, between {earliest:%H:%M} and {latest:%H:%M} UTC"
            if earliest != latest
            else f"on {_day(earliest)} at {earliest:%H:%M} UTC"
        )
    return f"between {_day(earliest)} and {_day(latest)}"


def role_id(service: str, role: str) -> str:
    """A full role name (``signal/chat``), also from a doubled one (``signal/signal/chat``)."""
    doubled = f"{service}/{service}/"
    return role[len(service) + 1 :] if role.startswith(doubled) else role


def _event_row(
    store: Store,
    e: Event,
    *,
    names: dict[str, str],
    roles: dict[str, str],
    operators: dict[str, str],
    cost: dict[str, Any] | None,
    synthetic: bool,
) -> dict[str, Any]:
    row: dict[str, Any] = msgspec.to_builtins(e)
    event_roles = [role_id(e.service, r) for r in e.roles]
    if e.kind == "possible_shutdown" or e.service == "*":
        row["app"] = "Every app"
        row["what"] = "Every app (possible network shutdown)"
        row["lane"] = "possible shutdown"
    else:
        row["app"] = names.get(e.service, e.service)
        row["what"] = f"{row['app']} {charts.PLANE_WORDS.get(e.plane, e.plane)}"
        row["lane"] = row["what"]
    row["role_labels"] = [roles.get(r, r) for r in event_roles] or ["every part"]
    row["how"] = [{"technique": t, "plain": _describe(t)} for t in e.techniques]
    row["where"] = (
        "nationwide"
        if e.national
        else ", ".join(
            f"AS{a}" + (f" ({operators[f'AS{a}']})" if f"AS{a}" in operators else "")
            for a in e.asns
        )
    )
    if e.kind == "possible_shutdown":
        row["what"] = f"Possible shutdown of {row['where']}"
    row["since"] = _day(e.start)
    row["onset"] = onset(e.start_earliest, e.start_latest)
    row["until"] = _day(e.end) if e.end else "ongoing"
    # Where an ongoing event's evidence ends: the day its cost is priced "so far" to.
    row["evidence_end"] = evidence_end(e).isoformat()
    row["cost"] = cost
    row["corroboration"] = corroboration(e, country_name(e.probe_cc)) if e.surges else []
    samples = evidence_samples(
        store.con,
        e.probe_cc,
        roles=event_roles if e.kind == "block" else [],
        since=e.start_earliest,
        until=e.end_latest or e.end,
        asns=None if e.national else list(e.asns),
    )
    for s in samples:
        s["url"] = "" if synthetic else OONI_MEASUREMENT_URL.format(uid=s["measurement_uid"])
        s["plain"] = _describe(s["technique"]) if s["technique"] else ""
    row["samples"] = samples
    return row


def _cases(dossier: CountryDossier, gaps: list[str]) -> list[dict[str, Any]]:
    if dossier.cases_why:
        gaps.append(f"The documented cases could not be read: {dossier.cases_why}")
    out = []
    for c in dossier.cases:
        row: dict[str, Any] = msgspec.to_builtins(c)
        row["links"] = c.links
        out.append(row)
    return out


def _context(cc: str, found: Tier[CountryContext], gaps: list[str]) -> dict[str, Any] | None:
    if found.value is not None:
        return found.value.to_dict()
    if found.why:
        gaps.append(f"The legal context of {cc} could not be read: {found.why}")
    else:
        gaps.append(
            f"voipwatch holds no legal or policy context for {cc}: this brief states none, "
            "and names no commitment the blocks would break."
        )
    return None


def _total(costs: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not costs:
        return None
    currency = {c["currency"] for c in costs}
    if len(currency) != 1:
        return None
    return {
        "low": sum(c["low"] for c in costs),
        "central": sum(c["central"] for c in costs),
        "high": sum(c["high"] for c in costs),
        "upper": sum(c["upper_bound_full_shutdown"] for c in costs),
        "currency": currency.pop(),
        "count": len(costs),
    }


def _sources(brief: Brief) -> list[dict[str, str]]:
    seen: dict[tuple[str, str], dict[str, str]] = {}

    def add(title: str, url: str = "", note: str = "") -> None:
        url = web_link(url) or ""
        key = (title, url)
        if title and key not in seen:
            seen[key] = {"title": title, "url": url, "note": note}

    if brief.synthetic:
        add("voipwatch synthetic world (generated, not real measurements)", "", brief.synthetic)
    else:
        add(
            "OONI measurements (Open Observatory of Network Interference), judged by voipwatch",
            "https://explorer.ooni.org/country/" + brief.cc,
        )
    for c in brief.cases:
        for s in c.get("sources") or []:
            title = f"{s.get('source', '').upper()} record {s.get('record_id', '')}"
            if s.get("title"):
                text = str(s["title"])
                title += f": {text[:110].rstrip()}…" if len(text) > 110 else f": {text}"
            links = s.get("links") or [""]
            add(title, links[0])
    for e in brief.events:
        cost = e.get("cost") or {}
        for inp in (cost.get("inputs") or {}).values():
            # Numbered sources are documents: an input computed from others names its
            # formula and an assumption its reasoning, beside the input, not here.
            if inp.get("url") and not inp.get("assumption") and not inp.get("derived"):
                add(str(inp.get("source", "")), str(inp.get("url", "")))
        for comp in cost.get("comparisons") or []:
            add(f"{comp['publisher']}: {comp['title']}", comp.get("url", ""), "third-party")
    ctx = brief.context or {}
    statements: list[dict[str, Any]] = []
    for key in (
        "laws_cited",
        "voip_licensing",
        "regulator",
        "net_neutrality",
        "incumbent",
        "multistakeholder",
    ):
        value = ctx.get(key)
        statements.extend(value if isinstance(value, list) else [value] if value else [])
    statements += list(ctx.get("treaties") or [])
    statements += list(ctx.get("notes") or []) + list(ctx.get("commitments") or [])
    for st in statements:
        for src in st.get("sources") or []:
            add(str(src.get("title", "")), str(src.get("url", "")))
    return list(seen.values())


def build_brief(
    store: Store, cc: str, *, now: datetime | None = None, scope: Scope | None = None
) -> Brief:
    """Everything the brief on country ``cc`` says, from the store and the context data,
    within ``scope`` (a period and some apps; everything held by default)."""
    scope = scope or Scope()
    cc = cc.strip().upper()
    if len(cc) != 2 or not cc.isalpha():
        raise InvalidValue("country", cc, f"{cc!r} is not a two-letter country code")
    now = now or datetime.now(UTC)
    con = store.con
    synthetic = synthetic_note(con)
    dossier = read_country(store, cc, since=scope.since, until=scope.until)
    gaps: list[str] = []
    brief = Brief(
        cc=cc,
        country=country_name(cc),
        generated=now,
        synthetic=synthetic,
        coverage=coverage(con, cc, since=scope.since, until=scope.until),
        gaps=gaps,
        scope=scope,
    )
    if brief.coverage.measurements == 0:
        when = f" {scope.words}" if scope.words else ""
        gaps.append(f"The store holds no judged measurements from {cc}{when}.")
    names, roles = _service_names()
    # A possible shutdown (service "*") cuts every app: it stays in a brief on some.
    events = [
        e
        for e in _events(dossier, gaps)
        if scope.covers(e.start, e.end) and (e.service == "*" or scope.has(e.service))
    ]
    asns = sorted({f"AS{a}" for e in events for a in e.asns})
    operators = network_names(con, cc, asns)
    rows = [
        _event_row(
            store,
            e,
            names=names,
            roles=roles,
            operators=operators,
            # An artefact (target change, outage, possible shutdown) is not a block: it
            # is listed apart and never priced.
            cost=None if is_artefact(e.kind) else _cost(e, dossier.price_of(e), gaps),
            synthetic=synthetic is not None,
        )
        for e in events
    ]
    brief.events = [r for r in rows if r["kind"] == "block"]
    brief.throttling = [{**r, "why": THROTTLED} for r in rows if r["kind"] == "throttling"]
    brief.changes = [{**r, "why": ARTEFACTS[r["kind"]]} for r in rows if is_artefact(r["kind"])]
    if not brief.events:
        gaps.append(
            f"No blocking event was detected in {cc} in the measurements held; this brief "
            "reports none."
        )
    # A case whose end nobody recorded is known only at its onset; one documented as
    # ongoing runs on.
    cases = [
        c
        for c in _cases(dossier, gaps)
        if scope.covers(
            c["start"], c.get("end") or (None if c.get("end_status") == "ongoing" else c["start"])
        )
        and scope.has(list(c.get("apps") or []))
    ]
    if not cases:
        gaps.append(f"No documented case of {cc} is in the store.")
    # Cases matched to this country's events first, then the most recent.
    matched = [c for c in cases if c.get("events")]
    others = sorted((c for c in cases if not c.get("events")), key=lambda c: str(c["start"]))
    shown = (matched + others[::-1])[:MAX_CASES]
    brief.cases = shown
    brief.more_cases = len(cases) - len(shown)
    brief.context = _context(cc, dossier.context, gaps)
    costs = [e["cost"] for e in brief.events if e.get("cost")]
    brief.total_cost = _total(costs)
    # "Now" is the store's last week: a brief on an earlier period has none.
    if scope.until is None:
        now_rows = current_blocks(con.cursor(), days=CURRENT_DAYS, probe_cc=(cc,))["rows"]
        brief.current = [
            {**r, "name": names.get(r["service"], r["service"])}
            for r in now_rows
            if scope.has(r["service"])
        ]
    measured = {
        s: counts
        for s, counts in measured_services(con, cc, since=scope.since, until=scope.until).items()
        if scope.has(s)
    }
    brief.services = [
        {
            "service": s,
            "name": names.get(s, s),
            "verdicts": sum(counts.values()),
            "not_ok": sum(n for st, n in counts.items() if st in ("blocked", "partial")),
            "events": sum(1 for e in events if e.service == s and e.kind == "block"),
        }
        for s, counts in measured.items()
    ]
    brief.tools = [
        {**dataclasses.asdict(t), "name": names.get(t.service, t.service)}
        for t in dossier.tools
        if scope.has(t.service)
    ]
    brief.charts = draw_charts(brief, con)
    brief.sources = _sources(brief)
    return brief


def draw_charts(brief: Brief, con: Any) -> dict[str, str]:
    """The brief's charts as SVG, from the same specs the dashboard draws."""

    note = brief.chart_note
    as_of = brief.coverage.last or brief.generated
    out: dict[str, str] = {}
    # Artefacts are listed apart, never drawn among the blocks.
    if brief.events:
        out["events"] = to_svg(
            charts.events_timeline(
                brief.events,
                title=f"Blocking events in {brief.country}",
                source=brief.source_line,
                as_of=as_of,
                note=note,
                width=520,
            )
        )
    # The apps with events; without events, the ones with the most blocked verdicts.
    with_events = [s for s in brief.services if s["events"]]
    pool = with_events or [s for s in brief.services if s["not_ok"]]
    ranked = sorted(pool, key=lambda s: (-s["events"], -s["not_ok"], s["service"]))
    ranked = ranked[: MAX_APP_CHARTS if with_events else 2]
    for s in ranked:
        since = (brief.coverage.last or brief.generated) - timedelta(days=TIMELINE_DAYS)
        if brief.scope.since is not None:
            since = max(since, brief.scope.since)
        rows = role_timeline(
            con, brief.cc, services=[s["service"]], since=since, until=brief.scope.until
        )
        if rows:
            out[f"timeline:{s['service']}"] = to_svg(
                charts.timeline(
                    rows,
                    title=f"{s['name']} in {brief.country}: verdicts per day, by part and plane",
                    source=brief.source_line,
                    as_of=as_of,
                    note=note,
                    width=520,
                    lane_height=24,
                )
            )
    # A possible shutdown rests on its network's volume: draw that, not any app.
    for e in brief.changes:
        volume = (e.get("evidence") or {}).get("volume")
        if e["kind"] == "possible_shutdown" and isinstance(volume, list) and volume:
            out[f"volume:{e['event_id']}"] = to_svg(
                charts.volume_timeline(
                    volume,
                    start=e["start"],
                    end=e["end"],
                    title=f"Measurements from {e['where']} in {brief.country}, against the usual",
                    source=brief.source_line,
                    as_of=volume[-1]["hour"],
                    note=note,
                    width=520,
                )
            )
    costed = [e for e in brief.events if e.get("cost")]
    if costed:
        out["cost"] = to_svg(
            charts.cost_range(
                [{**e["cost"], "label": f"{e['what']}, from {e['since']}"} for e in costed],
                title="Estimated economic cost of each block",
                source="voipwatch cost model (World Bank, Deloitte 2016, Brookings 2016)",
                as_of=brief.generated.date(),
                note=note,
                width=380,
            )
        )
    return out
