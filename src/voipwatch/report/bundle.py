"""The evidence bundle: a brief with everything behind it, in one file anyone can check.

A bundle is a zip archive holding

- ``brief.html``: the brief itself;
- ``measurements/<event id>.jsonl``: the raw measurements (OONI's data format, as
  ingested) behind each event the brief reports, the measurements whose verdicts
  put the event's roles in ``blocked`` or ``partial`` during it;
- ``charts/<name>.svg`` and ``.png``: the brief's charts, and ``charts/SOURCES.txt``
  with the source line each carries;
- ``method.json``: what judged and detected (voipwatch and rules versions, the
  detector settings the store's events were computed with);
- ``legal-sources.json``: every source the brief cites, the legal context first;
- ``CITATION.txt``: how to cite it, with the bundle's id and date;
- ``manifest.json``: the size and SHA-256 of every other file, and the bundle id.

The bundle id is the SHA-256 of the manifest's lines for the evidence files (all
but the citation and the manifest), so the id a reader quotes names exactly these
bytes: :func:`verify` recomputes every hash offline, and a changed byte anywhere
shows as the file it is in. Nothing in a bundle depends on the clock but the date
the brief was generated, which is an argument: the same store and date give the
same bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import msgspec

from voipwatch import __version__
from voipwatch.errors import InputError
from voipwatch.report.brief import Brief, role_id
from voipwatch.store import Store
from voipwatch.store.rows import decompress
from voipwatch.verdicts.types import RULES_VERSION
from voipwatch.views.brief_rows import evidence_raw
from voipwatch.views.store_info import store_meta

__all__ = [
    "BUNDLE_FORMAT",
    "MAX_MEASUREMENTS_PER_EVENT",
    "Verification",
    "bundle_files",
    "verify",
    "write_bundle",
]

#: Version of the bundle's layout, in its manifest.
BUNDLE_FORMAT: Final = 1
#: Raw measurements kept per event; the manifest says when an event had more. An
#: event of months on many networks can have tens of thousands: a bundle is evidence
#: to send, not a mirror (the rest is one ``voipwatch fetch`` away, or on OONI).
MAX_MEASUREMENTS_PER_EVENT: Final = 500
#: The largest bundle member :func:`verify` reads (bytes): a hostile archive cannot
#: make it inflate without bound.
MAX_MEMBER: Final = 512 * 1024 * 1024
MANIFEST: Final = "manifest.json"
CITATION: Final = "CITATION.txt"
_NOT_EVIDENCE: Final = frozenset({MANIFEST, CITATION})
_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify` found: the bundle id, the files checked, every problem."""

    bundle_id: str
    files: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_id(entries: Iterable[tuple[str, str]]) -> str:
    """The id of a bundle from its evidence files' ``(name, sha256)``, order-free."""
    lines = sorted(f"{digest}  {name}\n" for name, digest in entries if name not in _NOT_EVIDENCE)
    return _sha256("".join(lines).encode())[:16]


def _event_measurements(store: Store, event: dict[str, Any]) -> tuple[list[bytes], int]:
    """Raw measurements behind one brief event, oldest first, and how many there were."""
    roles = [role_id(event["service"], r) for r in event.get("roles") or []]
    if event.get("kind") != "block" or not roles:
        return [], 0
    asns = None if event.get("national") else [int(a) for a in event.get("asns") or []]
    blobs, total = evidence_raw(
        store.con,
        event["probe_cc"],
        roles=roles,
        since=event["start_earliest"],
        until=event.get("end_latest") or event.get("end"),
        asns=asns,
        limit=MAX_MEASUREMENTS_PER_EVENT,
    )
    return [decompress(b) for b in blobs], total


def _citation(brief: Brief, ident: str) -> str:
    day = brief.generated.date().isoformat()
    what = "synthetic demo data" if brief.synthetic else "OONI measurements judged by voipwatch"
    return (
        f"voipwatch ({brief.generated.year}). Blocking of VoIP and messaging apps in "
        f"{brief.country} ({brief.cc}): evidence bundle {ident}, generated {day}, from "
        f"{what}. voipwatch {__version__}, rules version {RULES_VERSION}.\n"
        f"Bundle id: {ident}\n"
        f"Check it with: SHA-256 of every file against manifest.json "
        f"(voipwatch verify-bundle does this).\n"
    )


def bundle_files(store: Store, brief: Brief, html: bytes, *, png: Any = None) -> dict[str, bytes]:
    """Every file of the bundle of ``brief`` but the manifest and the citation.

    ``png`` turns an SVG into PNG bytes (``vl_convert.svg_to_png``); it is passed in
    so the archive can be built and tested without the renderer.
    """
    files: dict[str, bytes] = {"brief.html": html}
    counts: dict[str, dict[str, int]] = {}
    for event in brief.events:
        raws, total = _event_measurements(store, event)
        name = f"measurements/{_SAFE_NAME.sub('_', str(event['event_id']))}.jsonl"
        counts[name] = {"included": len(raws), "behind_the_event": total}
        if raws:
            files[name] = b"".join(r.rstrip(b"\n") + b"\n" for r in raws)
    sources = []
    for chart, svg in sorted(brief.charts.items()):
        base = f"charts/{_SAFE_NAME.sub('_', chart)}"
        files[f"{base}.svg"] = svg.encode()
        if png is not None:
            files[f"{base}.png"] = bytes(png(svg))
        sources.append(f"{base}: {brief.source_line}")
    if sources:
        files["charts/SOURCES.txt"] = ("\n".join(sources) + "\n").encode()
    meta = store_meta(store.con)
    method = {
        "bundle_format": BUNDLE_FORMAT,
        "voipwatch": __version__,
        "rules_version": RULES_VERSION,
        "store": meta,
        "generated": brief.generated.isoformat(timespec="seconds"),
        "country": brief.cc,
        "synthetic": brief.synthetic,
        "measurements": counts,
        "max_measurements_per_event": MAX_MEASUREMENTS_PER_EVENT,
    }
    files["method.json"] = msgspec.json.format(msgspec.json.encode(method), indent=2) + b"\n"
    legal = {"context": brief.context, "sources": brief.sources}
    files["legal-sources.json"] = (
        msgspec.json.format(msgspec.json.encode(legal, order="sorted"), indent=2) + b"\n"
    )
    return files


def write_bundle(brief: Brief, files: dict[str, bytes]) -> tuple[bytes, str]:
    """The zip archive of ``files`` with its citation and manifest; and the bundle id.

    Members are written in name order with the brief's date as their time, so the same
    files give the same archive.
    """
    entries = {name: _sha256(data) for name, data in files.items()}
    ident = bundle_id(entries.items())
    everything = {**files, CITATION: _citation(brief, ident).encode()}
    manifest = {
        "bundle_format": BUNDLE_FORMAT,
        "bundle_id": ident,
        "files": [
            {"name": name, "size": len(data), "sha256": _sha256(data)}
            for name, data in sorted(everything.items())
        ],
    }
    everything[MANIFEST] = msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"
    stamp = _zip_time(brief.generated)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(everything):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, everything[name])
    return out.getvalue(), ident


def _zip_time(t: datetime) -> tuple[int, int, int, int, int, int]:
    # Zip cannot say a year before 1980.
    return (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second)


class _Manifest(msgspec.Struct, forbid_unknown_fields=False):
    bundle_format: int
    bundle_id: str
    files: list[dict[str, Any]]


def _read_members(data: bytes, source: str) -> tuple[dict[str, bytes], list[str]]:
    """Each member's bytes; a member that cannot be read (a changed byte breaks its
    compression or CRC) is a problem naming it, not the end of the check."""
    members: dict[str, bytes] = {}
    problems: list[str] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                if info.file_size > MAX_MEMBER:
                    problems.append(f"{info.filename}: {info.file_size} bytes, too large to check")
                    continue
                try:
                    members[info.filename] = zf.read(info)
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                    problems.append(f"{info.filename}: altered or damaged ({exc})")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise InputError(f"not a readable zip archive: {exc}", source=source) from None
    return members, problems


def verify(data: bytes, *, source: str = "bundle") -> Verification:
    """Check a bundle offline: every file against the manifest, and the bundle id.

    Raises :class:`InputError` when ``data`` is not a bundle at all (not a zip, no
    readable manifest); anything else wrong is a problem naming its file.
    """
    members, problems = _read_members(data, source)
    if MANIFEST not in members:
        why = next((p for p in problems if p.startswith(f"{MANIFEST}: ")), None)
        raise InputError(why or f"no {MANIFEST}: not a voipwatch evidence bundle", source=source)
    try:
        manifest = msgspec.json.decode(members[MANIFEST], type=_Manifest)
    except msgspec.DecodeError as exc:
        raise InputError(f"{MANIFEST} is damaged: {exc}", source=source) from None
    listed: dict[str, str] = {}
    for entry in manifest.files:
        name, digest = entry.get("name"), entry.get("sha256")
        if not isinstance(name, str) or not isinstance(digest, str):
            problems.append(f"{MANIFEST}: an entry without a name or a sha256: {entry!r:.80}")
            continue
        listed[name] = digest
        if name not in members:
            if not any(p.startswith(f"{name}: ") for p in problems):
                problems.append(f"{name}: listed in the manifest, missing from the bundle")
        elif _sha256(members[name]) != digest:
            problems.append(f"{name}: altered (its SHA-256 is not the manifest's)")
    for name in sorted(members.keys() - listed.keys() - {MANIFEST}):
        problems.append(f"{name}: in the bundle, not in the manifest")
    ident = bundle_id(listed.items())
    if ident != manifest.bundle_id:
        problems.append(
            f"{MANIFEST}: bundle id {manifest.bundle_id} does not match its files ({ident})"
        )
    citation = members.get(CITATION, b"").decode("utf-8", "replace")
    if f"Bundle id: {manifest.bundle_id}" not in citation:
        problems.append(f"{CITATION}: does not name the bundle id {manifest.bundle_id}")
    return Verification(manifest.bundle_id, len(listed), problems)
