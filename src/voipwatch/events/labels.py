"""Ground-truth event labels in OONI's shape, read from OONI's files or written by us.

OONI's label corpus (ooni/data, branch ``event-validation``,
``docs/label-corpus-design.md``) describes an event by ``event_id``, ``probe_cc``,
``asn_scope`` (+ ``asn_scope_kind``: all | listed | unknown), ``target_set``,
``mechanisms``, the onset and resolution brackets (``onset_earliest``/``_latest``,
``resolution_earliest``/``_latest``, null = ongoing), ``event_class``
(true_event | false_positive_event | disputed) and ``scoreable``
(yes | no_coverage | unknown). voipwatch's labels keep every one of those fields and
add what a messaging-app event needs: ``kind`` (block | throttling | target_change |
shutdown, and a label-side world's outage),
``service``, ``roles``, ``plane``, ``size_band``.

A *target change* (the app changed, not the network) is a
``false_positive_event``: the detector must not report it as a block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from voipwatch.catalog import Catalog
from voipwatch.errors import InputError
from voipwatch.events.generate_keys import effective
from voipwatch.events.model import THROUGHPUT
from voipwatch.events.world import COUNTRIES, Plan

#: OONI's test names → voipwatch's service ids.
TEST_SERVICE = {
    "whatsapp": "whatsapp",
    "telegram": "telegram",
    "signal": "signal",
    "facebook_messenger": "messenger",
}
BANDS = ("national", "multi_network", "single_network")


class Label(msgspec.Struct, kw_only=True, omit_defaults=False):
    """One event label (OONI's fields first, then voipwatch's)."""

    event_id: str
    incident_id: str | None = None
    title: str = ""
    probe_cc: str = ""
    asn_scope: list[int] = msgspec.field(default_factory=list)
    asn_scope_kind: str = "unknown"  # all | listed | unknown
    target_set: list[str] = msgspec.field(default_factory=list)
    target_set_kind: str = "enumerated"
    mechanisms: list[str] = msgspec.field(default_factory=list)
    mechanism_taxonomy: str = "voipwatch-1"
    onset_earliest: str | None = None
    onset_latest: str | None = None
    resolution_earliest: str | None = None
    resolution_latest: str | None = None
    event_class: str = "true_event"
    scoreable: str = "unknown"
    confidence: str = "certain"
    source: str = "internal_analysis"
    source_urls: list[str] = msgspec.field(default_factory=list)
    test_names: list[str] = msgspec.field(default_factory=list)
    adjudicator: str = ""
    rationale: str = ""
    superseded_by: str | None = None
    # voipwatch
    kind: str = "block"  # block | throttling | target_change | outage | shutdown
    service: str | None = None
    roles: list[str] = msgspec.field(default_factory=list)
    plane: str | None = None
    size_band: str | None = None
    duration_class: str | None = None


@dataclass
class LabelSet:
    """Labels read from a file, with the rows that could not be read at all."""

    path: str
    labels: list[Label]
    malformed: list[str] = field(default_factory=list)  # one message per unreadable row
    networks: list[dict[str, Any]] = field(default_factory=list)  # the world's, if generated


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` or naive = UTC), or ``None``."""
    if text is None or text == "":
        return None
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def size_band(label: Label) -> str:
    """OONI's derived size band, named as voipwatch reports it.

    ``national`` when every network is in scope; ``multi_network`` for several listed
    ASNs; ``single_network`` for one; ``unknown`` when the scope is unknown.
    """
    if label.size_band in BANDS:
        return label.size_band
    if label.asn_scope_kind == "all":
        return "national"
    if label.asn_scope_kind != "listed" or not label.asn_scope:
        return "unknown"
    return "multi_network" if len(label.asn_scope) > 1 else "single_network"


def label_service(label: Label, catalog: Catalog) -> str | None:
    """The service a label is about: its own field, its test names, or its targets
    (a host or domain of one of ``catalog``'s services)."""
    if label.service:
        return label.service
    for t in label.test_names:
        if t in TEST_SERVICE:
            return TEST_SERVICE[t]
    for target in label.target_set:
        host = target.lower().split("/")[0]
        for svc in catalog.services.values():
            for role in svc.roles:
                if host in role.hosts or any(
                    host == d or host.endswith("." + d) for d in role.domains
                ):
                    return svc.id
    return None


def load_labels(path: Path) -> LabelSet:
    """Read a label file: ``{"events": [...]}`` (OONI's export and ours) or a bare list.

    A file that is not JSON or holds no list of events raises
    :class:`~voipwatch.errors.InputError`; a row that is not a label is reported in
    :attr:`LabelSet.malformed` and left out.
    """
    try:
        doc = msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except (OSError, msgspec.DecodeError) as exc:
        raise InputError(f"not a JSON label file ({exc})", source=str(path)) from None
    except RecursionError:
        raise InputError("not a label file (JSON nested too deeply)", source=str(path)) from None
    rows = doc.get("events") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise InputError("no list of event labels (an 'events' list)", source=str(path))
    labels: list[Label] = []
    malformed: list[str] = []
    for i, row in enumerate(rows, 1):
        where = f"{path}: event {i}"
        if not isinstance(row, dict):
            malformed.append(f"{where}: not an object")
            continue
        if isinstance(row.get("event_id"), str):
            where += f" ({row['event_id']})"
        try:
            label = msgspec.convert(row, Label, strict=False)
            for name in ("onset_earliest", "onset_latest", "resolution_earliest",
                         "resolution_latest"):  # fmt: skip
                parse_time(getattr(label, name))
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            malformed.append(f"{where}: {exc}")
            continue
        labels.append(label)
    networks = doc.get("world", {}).get("networks", []) if isinstance(doc, dict) else []
    return LabelSet(str(path), labels, malformed, networks if isinstance(networks, list) else [])


# -- the labels of a generated world -----------------------------------------------------


def world_labels(plan: Plan, seed: int, hits: dict[str, int], catalog: Catalog) -> dict[str, Any]:
    """The label document of a generated world (see :func:`write_labels`).

    ``hits`` counts the blocked measurements each block produced in its first 48 h;
    a block that produced fewer than 3 is ``scoreable: no_coverage`` (no detector could
    see it), as OONI marks events its probes did not measure.
    """
    by_cc: dict[str, list[int]] = {}
    for n in plan.networks:
        by_cc.setdefault(n.cc, []).append(n.asn)
    events: list[dict[str, Any]] = []
    for x in plan.injected:
        # The roles the block reaches, with those it implies (a range block of
        # Telegram's data centres takes Telegram Web's address too).
        roles = sorted(effective(x.test, x.faults)) if x.test else []
        planes = sorted({catalog.roles[r].plane for r in roles if r in catalog.roles})
        targets: list[str] = []
        for r in roles:
            role = catalog.roles.get(r)
            targets += (role.hosts or role.ips or [r]) if role is not None else [r]
        national = x.national
        if x.kind in ("block", "throttling"):
            scoreable = "yes" if hits.get(x.label_id, 0) >= 3 else "no_coverage"
            band = x.band
        else:
            scoreable = "yes"
            band = "national" if national else "single"
        band_name = {"national": "national", "multi": "multi_network"}.get(band, "single_network")
        what = {
            "block": f"{x.service} blocked ({', '.join(x.mechanisms)})",
            "throttling": f"{x.service} throttled ({', '.join(x.mechanisms)})",
            "target_change": f"{x.service} changed its servers ({', '.join(x.mechanisms)}): "
            "not censorship",
            "shutdown": "network shutdown (measurement volume collapses)",
        }[x.kind]
        nets = ", ".join(f"AS{a}" for a in x.asns)
        label = Label(
            event_id=x.label_id,
            title=f"{x.cc} {nets}: {what}",
            probe_cc=x.cc,
            asn_scope=sorted(x.asns),
            asn_scope_kind="all" if national else "listed",
            target_set=targets,
            mechanisms=x.mechanisms if x.kind != "shutdown" else ["shutdown"],
            onset_earliest=iso(x.onset),
            onset_latest=iso(x.onset),
            resolution_earliest=iso(x.end),
            resolution_latest=iso(x.end),
            event_class="false_positive_event" if x.kind == "target_change" else "true_event",
            scoreable=scoreable,
            source="internal_analysis",
            test_names=[x.test] if x.test else [],
            adjudicator="voipwatch generate",
            rationale=(
                f"injected by voipwatch generate (seed {seed}); {x.duration} "
                f"{'partial ' if any(f.partial for f in x.faults.values()) else ''}"
                f"{x.kind}, {x.share:.0%} of measurements in scope affected"
                + (f"; call-plane input {x.call_input}" if x.call_input else "")
            ),
            kind=x.kind,
            service=x.service or None,
            roles=roles,
            plane=THROUGHPUT
            if x.kind == "throttling"
            else (planes[0] if len(planes) == 1 else ("+".join(planes) or None)),
            size_band=band_name,
            duration_class=x.duration,
        )
        events.append(msgspec.to_builtins(label))
    return {
        "export_version": "1",
        "grain": "event",
        "exported_at": iso(plan.start + timedelta(days=plan.days)),
        "adjudicator": "voipwatch generate",
        "note": "Ground truth of a synthetic world written by `voipwatch generate`. "
        "Blocks and throttles are true_event rows; target changes (an app changing its servers in "
        "every country at once) are false_positive_event rows that must not be reported "
        "as blocks; shutdowns are collapses of a network's measurement volume. Short "
        "upstream outages and networks' bad days (many random failures) are noise, listed "
        "under world.outages and world.flaky, not events.",
        "world": {
            "seed": seed,
            "start": iso(plan.start),
            "end": iso(plan.start + timedelta(days=plan.days)),
            "countries": {
                cc: {"utc_offset": COUNTRIES[cc][0], "asns": asns} for cc, asns in by_cc.items()
            },
            "networks": [
                {
                    "asn": n.asn,
                    "probe_cc": n.cc,
                    "name": n.name,
                    "volume": n.volume,
                    "measurements_per_test_per_day": n.rate,
                    "noise": n.noise,
                }
                for n in plan.networks
            ],
            "outages": [{"asn": a, "start": iso(s), "end": iso(e)} for a, s, e in plan.outages],
            "flaky": [{"asn": a, "start": iso(s), "end": iso(e)} for a, s, e in plan.flaky],
        },
        "events": events,
    }


def write_labels(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically (a temporary file renamed), so a label file is whole or absent.

    One line: a reader of JSON lines (``voipwatch ingest`` given the whole folder)
    then sees one object that is not a measurement, rather than a broken file.
    """
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(msgspec.json.encode(doc) + b"\n")
    tmp.replace(path)
