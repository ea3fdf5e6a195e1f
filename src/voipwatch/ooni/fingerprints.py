"""OONI's known blocking fingerprints: what turns an anomaly into proof.

OONI calls a measurement ``confirmed`` only when an answer is one a censor is known
to give: a DNS answer (an address or name of a block page, a poison reply) or an
HTTP body or header of a block page. The lists are kept by OONI in
``ooni/blocking-fingerprints`` (``fingerprints_dns.csv``, ``fingerprints_http.csv``);
voipwatch ships a derived table of them (``data/fingerprints.json``, rebuilt by
``scripts/derive_fingerprints.py``) and matches answers against it here.

Each fingerprint has a ``scope`` (Citizen Lab's): ``nat`` national, ``isp``, ``prod``
a filtering product, ``inst`` an institution's filter, ``vbw`` a vague blocking word,
``fp`` a known false positive. Only the first four name a censor; ``vbw`` is named
but proves nothing; ``fp`` says the answer is harmless.

Pure functions, plus :func:`load`, which reads the shipped table (or the one
``$VOIPWATCH_FINGERPRINTS`` names) once.
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import importlib.resources
import io
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import msgspec

from voipwatch.errors import FingerprintTableError

#: The environment variable naming a fingerprint table to use instead of the shipped one.
TABLE_ENV = "VOIPWATCH_FINGERPRINTS"
#: Scopes whose fingerprints name a censor (national, ISP, filtering product, institution).
CENSOR_SCOPES = ("nat", "isp", "prod", "inst")
#: Scope of fingerprints of pages known not to be block pages.
FALSE_POSITIVE = "fp"
#: Block pages are short; a body is matched on its first 128 KiB, which bounds the
#: cost of the regular-expression patterns on a large page.
BODY_LIMIT = 128 * 1024
PATTERN_TYPES = ("full", "prefix", "contains", "regexp")
#: Columns of the derived table, in order (a subset of the upstream CSV's).
COLUMNS = (
    "name",
    "scope",
    "location_found",
    "pattern_type",
    "pattern",
    "confidence_no_fp",
    "expected_countries",
)


class Fingerprint(NamedTuple):
    name: str
    scope: str
    location: str  # "dns", "body" or "header.<lower-case name>"
    pattern_type: str
    pattern: str
    confidence_no_fp: int
    countries: tuple[str, ...]

    @property
    def names_censor(self) -> bool:
        return self.scope in CENSOR_SCOPES

    def proves(self, cc: str) -> bool:
        """Proof of a censor in country ``cc``: a censor's scope, and either no
        expected countries or ``cc`` among them (Iran's block-page address seen in
        another country is a local network's doing, not a censor's proof)."""
        return self.names_censor and (not self.countries or cc.upper() in self.countries)

    def matches(self, value: str) -> bool:
        t = self.pattern_type
        if t == "full":
            return value == self.pattern
        if t == "prefix":
            return value.startswith(self.pattern)
        if t == "contains":
            return self.pattern in value
        return _regexp(self.pattern).search(value) is not None


@functools.cache
def _regexp(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class _Where:
    """The HTTP fingerprints of one location (the body, or one header), by pattern type.

    Matching is a pass of C-level string tests per pattern; the result for a short
    value is cached, because the same pages recur across measurements (every Telegram
    data centre answers the same 404 page).
    """

    def __init__(self, fps: Iterable[Fingerprint]) -> None:
        full: dict[str, list[Fingerprint]] = {}
        self.prefix: list[tuple[str, Fingerprint]] = []
        self.contains: list[tuple[str, Fingerprint]] = []
        self.regexp: list[Fingerprint] = []
        for fp in fps:
            if fp.pattern_type == "full":
                full.setdefault(fp.pattern, []).append(fp)
            elif fp.pattern_type == "prefix":
                self.prefix.append((fp.pattern, fp))
            elif fp.pattern_type == "contains":
                self.contains.append((fp.pattern, fp))
            else:
                self.regexp.append(fp)
        self.full = {k: tuple(v) for k, v in full.items()}
        self._cached = functools.lru_cache(maxsize=256)(self._match)

    def match(self, value: str) -> tuple[Fingerprint, ...]:
        # Only short values are cached, so the cache's memory stays bounded.
        return self._cached(value) if len(value) <= 16 * 1024 else self._match(value)

    def _match(self, value: str) -> tuple[Fingerprint, ...]:
        return (
            *self.full.get(value, ()),
            *[fp for p, fp in self.prefix if value.startswith(p)],
            *[fp for p, fp in self.contains if p in value],
            *[fp for fp in self.regexp if _regexp(fp.pattern).search(value) is not None],
        )


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a cache key
class FingerprintTable:
    """The fingerprints, indexed for matching; ``source`` says where they came from."""

    source: str
    # full patterns, lower-case -> fingerprints (two lists may name the same address)
    dns: Mapping[str, tuple[Fingerprint, ...]] = field(default_factory=dict)
    dns_other: tuple[Fingerprint, ...] = ()
    http: tuple[Fingerprint, ...] = ()
    # location ("body", "header.location", ...) -> its fingerprints, indexed
    by_location: Mapping[str, _Where] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return sum(map(len, self.dns.values())) + len(self.dns_other) + len(self.http)


def build_table(
    source: str, dns: Iterable[Fingerprint], http: Iterable[Fingerprint]
) -> FingerprintTable:
    """A table of these fingerprints, indexed for matching."""
    full: dict[str, tuple[Fingerprint, ...]] = {}
    other: list[Fingerprint] = []
    for fp in dns:
        if fp.pattern_type == "full":
            key = fp.pattern.lower().rstrip(".")
            full[key] = (*full.get(key, ()), fp)
        else:
            other.append(fp)
    http = tuple(http)
    locations = sorted({fp.location for fp in http})
    return FingerprintTable(
        source=source,
        dns=full,
        dns_other=tuple(other),
        http=http,
        by_location={loc: _Where(fp for fp in http if fp.location == loc) for loc in locations},
    )


def rank(fp: Fingerprint, cc: str) -> tuple[int, str]:
    """The stated order in which one of several matches is named: proof first, then a
    known false positive, then a vague or foreign fingerprint; ties by name."""
    return (0 if fp.proves(cc) else 1 if fp.scope == FALSE_POSITIVE else 2, fp.name)


def match_dns(table: FingerprintTable, answers: Iterable[str], cc: str) -> Fingerprint | None:
    """The fingerprint DNS ``answers`` (addresses or names) match, if any."""
    found: list[Fingerprint] = []
    for a in answers:
        key = a.lower().rstrip(".")
        found.extend(table.dns.get(key, ()))
        found.extend(f for f in table.dns_other if f.matches(key))
    return min(found, key=lambda f: rank(f, cc)) if found else None


def match_http(
    table: FingerprintTable,
    body: str,
    headers: Mapping[str, str],
    cc: str,
    *,
    scopes: tuple[str, ...] | None = None,
) -> Fingerprint | None:
    """The fingerprint an HTTP response (body, lower-case header names) matches, if any.

    ``scopes`` limits the search (``("fp",)`` to ask only whether a page is a known
    false positive).
    """
    found: list[Fingerprint] = []
    for location, where in table.by_location.items():
        if location == "body":
            value: str | None = body[:BODY_LIMIT]
        else:
            value = headers.get(location.removeprefix("header."))
        if value:
            found.extend(where.match(value))
    if scopes is not None:
        found = [fp for fp in found if fp.scope in scopes]
    return min(found, key=lambda f: rank(f, cc)) if found else None


def response_text(body: object) -> str:
    """A df-001 ``MaybeBinaryData`` body as text: a string, or ``{"format": "base64",
    "data": …}`` decoded (bytes that are not UTF-8 replaced, as OONI's fastpath does)."""
    if isinstance(body, str):
        return body
    if isinstance(body, dict) and body.get("format") == "base64":
        data = body.get("data")
        if isinstance(data, str):
            try:
                raw = base64.b64decode(data[: BODY_LIMIT * 2], validate=False)
            except (binascii.Error, ValueError):
                return ""
            return raw.decode("utf-8", "replace")
    return ""


def header_map(headers: object) -> dict[str, str]:
    """df-001 ``headers`` (a map; legacy probes: a list of pairs) with lower-case names."""
    out: dict[str, str] = {}
    if isinstance(headers, dict):
        items: Iterable[object] = headers.items()
    elif isinstance(headers, list | tuple):
        items = headers
    else:
        return out
    for item in items:
        if not isinstance(item, list | tuple) or len(item) != 2:
            continue
        name, value = item
        if isinstance(value, list):
            value = value[0] if value else ""
        if isinstance(name, str) and isinstance(value, str):
            out.setdefault(name.lower(), value)
    return out


# ---------------------------------------------------------------------------------------
# The derived table: built from OONI's CSV files, read back with every row checked.
# ---------------------------------------------------------------------------------------


def _row(values: object, where: str) -> Fingerprint:
    if not isinstance(values, list) or len(values) != len(COLUMNS):
        raise ValueError(f"{where}: expected {len(COLUMNS)} columns")
    name, scope, location, ptype, pattern, conf, countries = values
    if not all(isinstance(v, str) for v in (name, scope, location, ptype, pattern)):
        raise ValueError(f"{where}: name, scope, location, type and pattern must be text")
    if not name or not pattern:
        raise ValueError(f"{where}: empty name or pattern")
    if ptype not in PATTERN_TYPES:
        raise ValueError(f"{where} ({name}): unknown pattern type {ptype!r}")
    if location != "dns" and location != "body" and not location.startswith("header."):
        raise ValueError(f"{where} ({name}): unknown location {location!r}")
    if not isinstance(conf, int) or isinstance(conf, bool):
        raise ValueError(f"{where} ({name}): confidence_no_fp is not a number")
    if not isinstance(countries, list) or not all(isinstance(c, str) for c in countries):
        raise ValueError(f"{where} ({name}): expected_countries is not a list of codes")
    if ptype == "regexp":
        try:
            _regexp(pattern)
        except re.error as exc:
            raise ValueError(f"{where} ({name}): bad regular expression: {exc}") from None
    return Fingerprint(name, scope, location, ptype, pattern, conf, tuple(countries))


def parse(raw: bytes, *, source: str) -> FingerprintTable:
    """Read a derived table; a damaged one raises :class:`FingerprintTableError`."""
    try:
        doc = msgspec.json.decode(raw)
        if not isinstance(doc, dict) or doc.get("columns") != list(COLUMNS):
            raise ValueError(f"not a fingerprint table (columns must be {', '.join(COLUMNS)})")
        dns: list[Fingerprint] = []
        http: list[Fingerprint] = []
        for kind in ("dns", "http"):
            rows = doc.get(kind)
            if not isinstance(rows, list) or not rows:
                raise ValueError(f"no {kind} fingerprints")
            for i, values in enumerate(rows):
                (http if kind == "http" else dns).append(_row(values, f"{kind}[{i}]"))
    except (msgspec.DecodeError, ValueError) as exc:
        raise FingerprintTableError(source, str(exc)) from None
    upstream = doc.get("source")
    return build_table(upstream if isinstance(upstream, str) else source, dns, http)


def load_file(path: Path) -> FingerprintTable:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FingerprintTableError(str(path), exc.strerror or str(exc)) from None
    return parse(raw, source=str(path))


@functools.cache
def load() -> FingerprintTable:
    """The table ``$VOIPWATCH_FINGERPRINTS`` names, else the one shipped with voipwatch."""
    env = os.environ.get(TABLE_ENV)
    if env:
        return load_file(Path(env))
    ref = importlib.resources.files("voipwatch.ooni") / "data" / "fingerprints.json"
    return parse(ref.read_bytes(), source="voipwatch/ooni/data/fingerprints.json")


def _csv_rows(text: str, kind: str) -> list[list[object]]:
    rows: list[list[object]] = []
    reader = csv.DictReader(io.StringIO(text))
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise FingerprintTableError(f"fingerprints_{kind}.csv", f"no column {sorted(missing)[0]}")
    for n, r in enumerate(reader, 2):
        try:
            conf = int(r["confidence_no_fp"] or 0)
        except ValueError:
            raise FingerprintTableError(
                f"fingerprints_{kind}.csv", f"row {n}: confidence_no_fp is not a number"
            ) from None
        countries = [c.strip().upper() for c in (r["expected_countries"] or "").split(",")]
        row = [
            r["name"].strip(),
            r["scope"].strip(),
            r["location_found"].strip(),
            r["pattern_type"].strip(),
            r["pattern"],
            conf,
            [c for c in countries if c],
        ]
        try:
            _row(row, f"fingerprints_{kind}.csv row {n}")
        except ValueError as exc:
            raise FingerprintTableError(f"fingerprints_{kind}.csv", str(exc)) from None
        rows.append(row)
    return sorted(rows, key=lambda row: str(row[0]))


def derive(dns_csv: str, http_csv: str, *, source: str, licence: str) -> bytes:
    """The derived table (JSON bytes) from the text of OONI's two CSV files.

    Rows are sorted by name so a refresh shows only real changes in a diff.
    """
    enc = msgspec.json.encode
    head = {
        "source": source,
        "licence": licence,
        "derived_by": "scripts/derive_fingerprints.py",
        "columns": list(COLUMNS),
    }
    lines = [b"{" + b",\n".join(enc(k) + b":" + enc(v) for k, v in head.items()) + b","]
    for kind, text in (("dns", dns_csv), ("http", http_csv)):
        rows = b",\n".join(enc(r) for r in _csv_rows(text, kind))
        lines.append(enc(kind) + b":[\n" + rows + b"\n]" + (b"," if kind == "dns" else b""))
    return b"\n".join(lines) + b"}\n"
