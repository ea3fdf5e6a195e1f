"""Judgements as table rows: Arrow tables DuckDB inserts in one vectorised statement.

Ingest and rejudge both turn :class:`~voipwatch.verdicts.types.Judgement` values into
rows of ``measurements``, ``verdicts`` and ``observations``. The Python side is kept
to what only Python can do, because it holds the GIL that the reading thread needs:

* measurement and verdict columns are built with list comprehensions;
* observations (about fifty per measurement) are not unpacked in Python at all: each
  measurement's list is encoded once to JSON — the same bytes feed the judgement
  digest — and DuckDB's ``from_json`` turns the lists into rows (see
  :func:`insert_observations_sql`), outside the GIL.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import msgspec
import pyarrow as pa
import zstandard

from voipwatch.store.schema import (
    JUDGED_VERDICT_COLUMNS,
    MEASUREMENT_COLUMNS,
    OBSERVATION_FIELDS,
    VIA_COLUMNS,
)
from voipwatch.verdicts.types import Judgement
from voipwatch.via import ViaOutcome, judge_via_bytes

#: zstd level 1 keeps about a quarter of an OONI measurement's bytes (level 3: 0.247,
#: level 1: 0.252 on the IM corpus) for a fifth less time; compression is one of the
#: larger costs of ingest.
ZSTD_LEVEL: Final = 1

_encoder = msgspec.json.Encoder()
# Compression releases the GIL; one compressor per thread, as they are not thread-safe.
_compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
_decompressor = zstandard.ZstdDecompressor()

_MEASUREMENT_TYPES: Final = {
    "key": pa.string(),
    "measurement_uid": pa.string(),
    "report_id": pa.string(),
    "test_name": pa.string(),
    "test_version": pa.string(),
    "probe_cc": pa.string(),
    "probe_asn": pa.string(),
    # Kept as text here; the insert parses it in SQL (vectorised, NULL when unparseable).
    "measurement_start_time": pa.string(),
    "input": pa.string(),
    "status": pa.string(),
    "rules_version": pa.int32(),
    "notes": pa.string(),
    "judgement_digest": pa.string(),
    "source": pa.string(),
    "line": pa.int64(),
    "raw_size": pa.int64(),
    "raw_zstd": pa.binary(),
}
_VERDICT_TYPES: Final = {
    "key": pa.string(),
    "idx": pa.int32(),
    "service": pa.string(),
    "role": pa.string(),
    "plane": pa.string(),
    "status": pa.string(),
    "technique": pa.string(),
    "confidence": pa.float64(),
    "evidence": pa.string(),
    "confirmed": pa.bool_(),
}
_VIA_TYPES: Final = {
    "key": pa.string(),
    "idx": pa.int32(),
    "service": pa.string(),
    "role": pa.string(),
    "plane": pa.string(),
    "tool": pa.string(),
    "scheme": pa.string(),
    "outcome": pa.string(),
    "tool_status": pa.string(),
    "udp": pa.bool_(),
    "direct_status": pa.string(),
    "direct_technique": pa.string(),
    "via_status": pa.string(),
    "via_technique": pa.string(),
    "via_evidence": pa.string(),
}
assert tuple(_MEASUREMENT_TYPES) == MEASUREMENT_COLUMNS
assert tuple(_VERDICT_TYPES) == JUDGED_VERDICT_COLUMNS
assert tuple(_VIA_TYPES) == VIA_COLUMNS

#: Extra column of the measurement batch: each measurement's observations as JSON.
OBSERVATIONS_JSON: Final = "observations_json"


def compress(raw: bytes) -> bytes:
    """The stored form of a raw measurement."""
    return _compressor.compress(raw)


def decompress(blob: bytes) -> bytes:
    """The raw measurement back from its stored form."""
    return _decompressor.decompress(blob)


def _digest(j: Judgement, observations_json: bytes) -> str:
    verdict = msgspec.structs.replace(j.verdict, rules_version=0)
    h = hashlib.blake2b(digest_size=16)
    h.update(_encoder.encode(verdict))
    h.update(b"\x00")
    h.update(observations_json)
    return h.hexdigest()


def judgement_digest(j: Judgement) -> str:
    """A hash of everything the rules derived, except the rules version itself.

    Rejudge compares it with the stored one to find the measurements whose verdict,
    observations or decoded metadata changed, without reading the verdict tables.
    """
    return _digest(j, _encoder.encode(j.observations))


def insert_observations_sql(table: str, *, where: str = "") -> str:
    """SQL inserting the JSON observation lists of ``table`` as ``observations`` rows.

    ``table`` and ``where`` are our own SQL, never user input. Fields the encoder
    left out because they held their default come back as NULL and get it again.
    """
    schema = json.dumps([{name: sql_type for name, sql_type, _ in OBSERVATION_FIELDS}])
    columns = ", ".join(
        f"coalesce(o.{name}, {default}) AS {name}" if default else f"o.{name} AS {name}"
        for name, _, default in OBSERVATION_FIELDS
    )
    return (
        f"INSERT INTO observations BY NAME SELECT key, idx, {columns} FROM ("
        "SELECT key, generate_subscripts(l, 1) - 1 AS idx, unnest(l, recursive := false) AS o "
        f"FROM (SELECT key, from_json({OBSERVATIONS_JSON}, '{schema}') AS l FROM {table} {where}))"
    )


def _binary_column(values: list[bytes]) -> pa.Array:
    """A binary Arrow array built from one joined buffer.

    ``pa.array`` grows its data buffer by reallocation, which for a batch of tens of
    megabytes of measurements costs more than compressing them; joining once does not.
    """
    data = b"".join(values)
    if len(data) >= 2**31:
        return pa.array(values, type=pa.large_binary())
    offsets = pa.array([0, *itertools.accumulate(map(len, values))], type=pa.int32())
    return pa.Array.from_buffers(
        pa.binary(), len(values), [None, offsets.buffers()[1], pa.py_buffer(data)]
    )


class _Item(NamedTuple):
    judgement: Judgement
    source: str
    line: int
    raw: bytes
    digest: str | None


@dataclass(slots=True)
class Rows:
    """One batch of judgements, turned into Arrow tables on demand.

    Adding a measurement only keeps references; the columns are built (and the raw
    bytes compressed) when a table is asked for, which ingest does on its writer
    thread, and verdict rows are built only for the measurements that turned out new.
    """

    items: list[_Item] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def keys(self) -> list[str]:
        return [it.judgement.key for it in self.items]

    def add(
        self,
        j: Judgement,
        *,
        source: str,
        line: int,
        raw: bytes,
        digest: str | None = None,
    ) -> None:
        """Add one measurement; ``digest`` when the caller has computed it already."""
        self.items.append(_Item(j, source, line, raw, digest))

    def only(self, keys: set[str]) -> Rows:
        """The rows of the measurements in ``keys``."""
        return Rows([it for it in self.items if it.judgement.key in keys])

    def measurements(self, *, with_raw: bool = True) -> pa.Table:
        """The ``measurements`` rows plus :data:`OBSERVATIONS_JSON`.

        Without ``with_raw``, the raw columns are left out (rejudge updates only the
        derived ones).
        """
        items = self.items
        vs = [it.judgement.verdict for it in items]
        enc = _encoder.encode
        obs = [enc(it.judgement.observations) for it in items]
        cols: dict[str, list[Any]] = {
            "key": [it.judgement.key for it in items],
            "measurement_uid": [v.measurement_uid for v in vs],
            "report_id": [v.report_id for v in vs],
            "test_name": [v.test_name for v in vs],
            "test_version": [v.test_version for v in vs],
            "probe_cc": [v.probe_cc for v in vs],
            "probe_asn": [v.probe_asn for v in vs],
            "measurement_start_time": [v.measurement_start_time for v in vs],
            "input": [v.input for v in vs],
            "status": [v.status for v in vs],
            "rules_version": [v.rules_version for v in vs],
            "notes": [enc(v.notes).decode() for v in vs],
            "judgement_digest": [
                it.digest or _digest(it.judgement, o) for it, o in zip(items, obs, strict=True)
            ],
            "source": [it.source for it in items],
            "line": [it.line for it in items],
        }
        arrays = {n: pa.array(v, type=_MEASUREMENT_TYPES[n]) for n, v in cols.items()}
        if with_raw:
            arrays["raw_size"] = pa.array([len(it.raw) for it in items], type=pa.int64())
            arrays["raw_zstd"] = _binary_column([compress(it.raw) for it in items])
        names = [n for n in _MEASUREMENT_TYPES if n in arrays]
        table = pa.table({n: arrays[n] for n in names})
        # Arrow takes the JSON as UTF-8 without a copy through Python str.
        return table.append_column(OBSERVATIONS_JSON, _binary_column(obs).cast(pa.string()))

    def via(self) -> pa.Table:
        """One ``via_outcomes`` row per measurement made through a tool × app role."""
        rows: list[tuple[str, int, ViaOutcome]] = []
        for it in self.items:
            outcomes = judge_via_bytes(it.raw, it.judgement.verdict)
            rows += [(it.judgement.key, i, o) for i, o in enumerate(outcomes)]
        enc = _encoder.encode
        cols: dict[str, list[Any]] = {
            "key": [k for k, _, _ in rows],
            "idx": [i for _, i, _ in rows],
        }
        for name in VIA_COLUMNS[2:]:
            values = [getattr(o, name) for _, _, o in rows]
            cols[name] = [enc(v).decode() for v in values] if name == "via_evidence" else values
        return pa.table({n: pa.array(cols[n], type=t) for n, t in _VIA_TYPES.items()})

    def verdicts(self) -> pa.Table:
        """One row per measurement × service role: the columns its judgement gives
        (:func:`~voipwatch.store.schema.insert_verdicts_sql` adds its measurement's)."""
        rows = [
            (it.judgement.key, i, s)
            for it in self.items
            for i, s in enumerate(it.judgement.verdict.services)
        ]
        enc = _encoder.encode
        cols: dict[str, list[Any]] = {
            "key": [k for k, _, _ in rows],
            "idx": [i for _, i, _ in rows],
            "service": [s.service for _, _, s in rows],
            "role": [s.role for _, _, s in rows],
            "plane": [s.plane for _, _, s in rows],
            "status": [s.status for _, _, s in rows],
            "technique": [s.technique for _, _, s in rows],
            "confidence": [s.confidence for _, _, s in rows],
            "evidence": [enc(s.evidence).decode() for _, _, s in rows],
            "confirmed": [s.confirmed for _, _, s in rows],
        }
        return pa.table({n: pa.array(cols[n], type=t) for n, t in _VERDICT_TYPES.items()})
