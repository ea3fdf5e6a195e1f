"""Judgements as table rows, gathered column by column into Arrow tables.

Ingest and rejudge both turn :class:`~voipwatch.verdicts.types.Judgement` values into
rows of ``measurements``, ``verdicts`` and ``observations``; building Arrow columns
directly (rather than Python tuples for ``executemany``) is what lets DuckDB take a
batch of thousands of measurements in one vectorised insert.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import pyarrow as pa
import zstandard

from voipwatch.store.schema import MEASUREMENT_COLUMNS, OBSERVATION_COLUMNS, VERDICT_COLUMNS
from voipwatch.verdicts.types import Judgement

#: zstd level 3 keeps about a fifth of an OONI measurement's bytes at several thousand
#: measurements per second per core; higher levels cost more time than they save space.
ZSTD_LEVEL: Final = 3

_encoder = msgspec.json.Encoder()
# Compressor objects are not thread-safe but are reusable; one per process is enough.
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
}
_OBSERVATION_TYPES: Final = {
    "key": pa.string(),
    "idx": pa.int32(),
    "layer": pa.string(),
    "service": pa.string(),
    "role": pa.string(),
    "target": pa.string(),
    "ok": pa.bool_(),
    "ip": pa.string(),
    "port": pa.int32(),
    "operation": pa.string(),
    "failure": pa.string(),
    "detail": pa.string(),
}
assert tuple(_MEASUREMENT_TYPES) == MEASUREMENT_COLUMNS
assert tuple(_VERDICT_TYPES) == VERDICT_COLUMNS
assert tuple(_OBSERVATION_TYPES) == OBSERVATION_COLUMNS


def compress(raw: bytes) -> bytes:
    """The stored form of a raw measurement."""
    return _compressor.compress(raw)


def decompress(blob: bytes) -> bytes:
    """The raw measurement back from its stored form."""
    return _decompressor.decompress(blob)


def judgement_digest(j: Judgement) -> str:
    """A hash of everything the rules derived, except the rules version itself.

    Rejudge compares it with the stored one to find the measurements whose verdict,
    observations or decoded metadata changed, without reading the verdict tables.
    """
    verdict = msgspec.structs.replace(j.verdict, rules_version=0)
    h = hashlib.blake2b(digest_size=16)
    h.update(_encoder.encode(verdict))
    h.update(b"\x00")
    h.update(_encoder.encode(j.observations))
    return h.hexdigest()


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


_RAW_COLUMNS: Final = ("raw_size", "raw_zstd")


@dataclass(slots=True)
class Rows:
    """Column lists for one batch of the three measurement tiers.

    Raw measurements are held uncompressed and compressed only when the Arrow table
    is built, so that ingest can hand the compression to its writer thread.
    """

    m: dict[str, list[Any]] = field(
        default_factory=lambda: {c: [] for c in _MEASUREMENT_TYPES if c not in _RAW_COLUMNS}
    )
    raw: list[bytes] = field(default_factory=list)
    v: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in _VERDICT_TYPES})
    o: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in _OBSERVATION_TYPES})

    def __len__(self) -> int:
        return len(self.m["key"])

    def add(
        self,
        j: Judgement,
        *,
        source: str,
        line: int,
        raw: bytes,
        digest: str | None = None,
    ) -> None:
        """Append one measurement with its verdict and observation rows."""
        v = j.verdict
        m = self.m
        m["key"].append(j.key)
        m["measurement_uid"].append(v.measurement_uid)
        m["report_id"].append(v.report_id)
        m["test_name"].append(v.test_name)
        m["test_version"].append(v.test_version)
        m["probe_cc"].append(v.probe_cc)
        m["probe_asn"].append(v.probe_asn)
        m["measurement_start_time"].append(v.measurement_start_time)
        m["input"].append(v.input)
        m["status"].append(v.status)
        m["rules_version"].append(v.rules_version)
        m["notes"].append(_encoder.encode(v.notes).decode())
        m["judgement_digest"].append(digest or judgement_digest(j))
        m["source"].append(source)
        m["line"].append(line)
        self.raw.append(raw)
        self.add_derived(j)

    def add_derived(self, j: Judgement) -> None:
        """Append only the verdict and observation rows of ``j``."""
        key = j.key
        cols = self.v
        for i, s in enumerate(j.verdict.services):
            cols["key"].append(key)
            cols["idx"].append(i)
            cols["service"].append(s.service)
            cols["role"].append(s.role)
            cols["plane"].append(s.plane)
            cols["status"].append(s.status)
            cols["technique"].append(s.technique)
            cols["confidence"].append(s.confidence)
            cols["evidence"].append(_encoder.encode(s.evidence).decode())
        cols = self.o
        for i, ob in enumerate(j.observations):
            cols["key"].append(key)
            cols["idx"].append(i)
            cols["layer"].append(ob.layer)
            cols["service"].append(ob.service)
            cols["role"].append(ob.role)
            cols["target"].append(ob.target)
            cols["ok"].append(ob.ok)
            cols["ip"].append(ob.ip)
            cols["port"].append(ob.port)
            cols["operation"].append(ob.operation)
            cols["failure"].append(ob.failure)
            cols["detail"].append(ob.detail)

    def measurements(self, *, with_raw: bool = True) -> pa.Table:
        """The ``measurements`` rows; without raw columns for updates of derived ones."""
        cols = {name: pa.array(v, type=_MEASUREMENT_TYPES[name]) for name, v in self.m.items()}
        if not with_raw:
            return pa.table(cols)
        cols["raw_size"] = pa.array([len(r) for r in self.raw], type=pa.int64())
        cols["raw_zstd"] = _binary_column([compress(r) for r in self.raw])
        return pa.table({name: cols[name] for name in _MEASUREMENT_TYPES})

    def verdicts(self) -> pa.Table:
        return _table(self.v, _VERDICT_TYPES)

    def observations(self) -> pa.Table:
        return _table(self.o, _OBSERVATION_TYPES)


def _table(cols: dict[str, list[Any]], types: dict[str, pa.DataType]) -> pa.Table:
    return pa.table({name: pa.array(cols[name], type=types[name]) for name in types})
