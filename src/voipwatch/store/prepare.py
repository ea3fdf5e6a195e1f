"""The pure per-file work of ingest: read, judge, build the rows, spill them to disk.

:func:`prepare_file` is what an engine (:mod:`voipwatch.engine`) maps over the input
files. It touches no store: it reads one file, judges each record, and writes each
batch ("part") of rows as Parquet files into a spill directory, where the process
that holds the store commits them, in input order (see
:mod:`voipwatch.store.pipeline`). Only rows cross process boundaries, through those
files; what comes back is a small :class:`FileResult`.

A part is what the store commits in one transaction (or with its neighbours, see
:mod:`voipwatch.store.pipeline`). Its files are Parquet, the exchange format between
tiers at scale, which DuckDB loads without the rows passing through Python. They are
written chunk by chunk (a worker holds one chunk of records in memory, not a whole
part; each chunk is a row group) under temporary names, and renamed when the part
ends, ``done`` last:

* ``<part>.measurements.parquet``: the ``measurements`` rows
  (:meth:`Rows.measurements <voipwatch.store.rows.Rows.measurements>`);
* ``<part>.verdicts.parquet`` and ``<part>.observations.parquet``: their ``verdicts``
  and ``observations`` rows;
* ``<part>.quarantine.parquet``: records that could not be read (past a file's first
  ``QUARANTINE_PER_FILE`` only counted: no excerpt, not stored), with the message to
  report;
* ``<part>.done``: says the part is complete, how many rows it holds, whether it is
  the file's last, and then the file's counters.

Within a part, the first occurrence of a key wins and later ones count as
duplicates of the run, as in a serial batch.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from voipwatch.errors import FingerprintTableError, InputError
from voipwatch.ooni.reader import QUARANTINE_EXCERPT, QUARANTINE_PER_FILE, Problem, read_file
from voipwatch.store.rows import OBSERVATIONS_JSON, Rows
from voipwatch.store.schema import OBSERVATION_FIELDS
from voipwatch.verdicts import Judgement, judge_bytes

_QUARANTINE_SCHEMA: Final = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("excerpt", pa.binary()),
        ("message", pa.string()),
    ]
)
_ARROW_TYPES: Final = {
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "INTEGER": pa.int32(),
}
_OBSERVATION_LIST: Final = pa.list_(
    pa.struct([(name, _ARROW_TYPES[sql_type]) for name, sql_type, _ in OBSERVATION_FIELDS])
)
_DEFAULTS: Final = {
    name: (int(default) if sql_type == "INTEGER" else default.strip("'"))
    for name, sql_type, default in OBSERVATION_FIELDS
    if default is not None
}
_encode: Final = msgspec.json.Encoder().encode
#: A chunk (what a worker holds in memory before appending it to the part's files)
#: ends at this many records or raw bytes, whichever comes first.
CHUNK_SIZE: Final = 1000
CHUNK_BYTES: Final = 2 * 1024 * 1024
#: How often a worker waiting for room, or a committer waiting for a part, looks again.
POLL_SECONDS: Final = 0.005
#: The tables of a part, in the order they are written.
KINDS: Final = ("measurements", "verdicts", "observations", "via_outcomes", "quarantine")
#: Raw measurements are zstd-compressed already; the other columns are short,
#: repetitive strings that Parquet's dictionary encoding shrinks on its own, and
#: snappy is the cheapest codec that still halves what crosses a shared filesystem.
_CODEC: Final = "snappy"
_STORED: Final = frozenset({"raw_zstd"})


def judge_record(raw: bytes, *, source: str, line: int, uid: str | None) -> Judgement:
    """Judge one record; a rule that trips on odd input becomes an ``InputError``.

    Rules are pure code over untrusted input. One that raises on a record must not end
    a run over millions: the record is quarantined with the reason (and the bug is in
    plain sight there), exactly as ``voipwatch verdicts`` reports it and goes on.
    """
    try:
        return judge_bytes(raw, source=source, line=line, uid=uid)
    except (InputError, FingerprintTableError):
        # A damaged table is no fault of the record: stop, and quarantine nothing.
        raise
    except Exception as exc:
        raise InputError(
            f"could not judge ({exc.__class__.__name__}: {exc}); "
            "this is a voipwatch bug, please report it",
            source=source,
            line=line,
        ) from exc


@dataclass(frozen=True, slots=True)
class FileCounts:
    """What reading one file counted (the store adds ``new`` when committing)."""

    records: int = 0
    quarantined: int = 0
    run_duplicate: int = 0


@dataclass(frozen=True, slots=True)
class FileResult:
    """What :func:`prepare_file` hands back: the part names in order, and the counts."""

    path: str
    parts: tuple[str, ...]
    counts: FileCounts
    measurements: int


@dataclass(frozen=True, slots=True)
class Part:
    """One spilled part: its Parquet files, and what its ``done`` file says."""

    name: str
    files: dict[str, Path]
    #: Measurement rows and quarantined records in it.
    measurements: int
    quarantined: int
    #: The file's counters when this is its last part, else ``None``.
    last: FileCounts | None

    def quarantine(self) -> pa.Table:
        """The quarantined records (few: read into memory, with their messages)."""
        return pq.read_table(self.files["quarantine"])


def part_name(prefix: str, n: int) -> str:
    return f"{prefix}{n:05d}"


def _paths(spill_dir: Path, name: str) -> dict[str, Path]:
    """The part's files; ``done`` is renamed into place last and removed last."""
    paths = {k: spill_dir / f"{name}.{k}.parquet" for k in KINDS}
    paths["done"] = spill_dir / f"{name}.done"
    return paths


def part_ready(spill_dir: Path, name: str) -> bool:
    """Whether the part is completely written."""
    return _paths(spill_dir, name)["done"].exists()


def read_part(spill_dir: Path, name: str) -> Part:
    paths = _paths(spill_dir, name)
    meta = json.loads(paths["done"].read_bytes())
    last = FileCounts(**meta["counts"]) if meta.get("last") else None
    files = {k: paths[k] for k in KINDS}
    return Part(name, files, int(meta["measurements"]), int(meta["quarantined"]), last)


def remove_part(spill_dir: Path, name: str) -> None:
    """Delete a committed part (its ``done`` file last, for the waiting writer)."""
    for p in _paths(spill_dir, name).values():
        p.unlink(missing_ok=True)


def observations_table(measurements: pa.Table) -> pa.Table:
    """The ``observations`` rows of :meth:`Rows.measurements`' JSON column, as a table.

    What :func:`~voipwatch.store.rows.insert_observations_sql` has DuckDB do, done here
    by Arrow's JSON reader, so that a worker, not the committing process, pays for it:
    one row per observation, ``idx`` its place in the measurement's list, fields left
    out of the JSON (they held their default) given their default.
    """
    keys = measurements.column("key").to_pylist()
    lists = measurements.column(OBSERVATIONS_JSON).to_pylist()
    data = b"".join(
        b'{"key":%b,"l":%b}\n' % (_encode(k), o.encode()) for k, o in zip(keys, lists, strict=True)
    )
    schema = pa.schema([("key", pa.string()), ("l", _OBSERVATION_LIST)])
    # Arrow's reader refuses empty input, and a file of nothing but bad records
    # (or a JSON file holding an empty list) leaves no measurements at all.
    table = (
        pa_json.read_json(
            pa.py_buffer(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=max(len(data), 1 << 20)),
            parse_options=pa_json.ParseOptions(explicit_schema=schema),
        )
        if data
        else schema.empty_table()
    )
    lists_col = table.column("l").combine_chunks()
    flat = pc.list_flatten(lists_col)
    parents = pc.list_parent_indices(lists_col)
    starts = pc.take(lists_col.offsets, parents)
    idx = pc.subtract(pa.array(range(len(flat)), type=pa.int64()), starts).cast(pa.int32())
    cols: dict[str, pa.Array] = {"key": pc.take(table.column("key"), parents), "idx": idx}
    for name, _, _ in OBSERVATION_FIELDS:
        col = flat.field(name)
        if name in _DEFAULTS:
            col = pc.fill_null(col, pa.scalar(_DEFAULTS[name], type=col.type))
        cols[name] = col
    return pa.table(cols)


def _quarantine_table(items: list[tuple[str, int, str, bytes | None, str]]) -> pa.Table:
    cols = list(zip(*items, strict=True)) or [()] * len(_QUARANTINE_SCHEMA)
    return pa.table(
        {f.name: pa.array(c, type=f.type) for f, c in zip(_QUARANTINE_SCHEMA, cols, strict=True)}
    )


def _empty(kind: str) -> pa.Table:
    if kind == "quarantine":
        return _quarantine_table([])
    m = Rows().measurements()
    if kind == "observations":
        return observations_table(m)
    if kind == "verdicts":
        return Rows().verdicts()
    if kind == "via_outcomes":
        return Rows().via()
    return m.drop_columns([OBSERVATIONS_JSON])


class _PartWriter:
    """The files of one part, written chunk by chunk under temporary names."""

    def __init__(self, spill_dir: Path, name: str) -> None:
        self.name = name
        self.paths = _paths(spill_dir, name)
        self.sinks: dict[str, pq.ParquetWriter] = {}
        self.rows = dict.fromkeys(KINDS, 0)

    def write(self, kind: str, table: pa.Table) -> None:
        if kind not in self.sinks:
            codec = {n: "none" if n in _STORED else _CODEC for n in table.schema.names}
            self.sinks[kind] = pq.ParquetWriter(
                str(self._tmp(kind)), table.schema, compression=codec
            )
        self.sinks[kind].write_table(table)
        self.rows[kind] += table.num_rows

    def _tmp(self, kind: str) -> Path:
        path = self.paths[kind]
        return path.with_name(path.name + ".tmp")

    def close(self, meta: dict[str, object]) -> None:
        for kind in KINDS:
            if kind not in self.sinks:  # nothing of this kind: an empty table
                self.write(kind, _empty(kind))
            self.sinks[kind].close()
            os.replace(self._tmp(kind), self.paths[kind])
        meta = {
            **meta,
            "measurements": self.rows["measurements"],
            "quarantined": self.rows["quarantine"],
        }
        done = self._tmp("done")
        done.write_bytes(json.dumps(meta).encode())
        os.replace(done, self.paths["done"])


class _Spill:
    """The part being filled by :func:`prepare_file`, written out a chunk at a time.

    A part is what the store commits in one transaction (``batch_size`` measurements
    or ``batch_bytes`` of them); a chunk is what this process holds in memory before
    turning it into Arrow and appending it to the part's files.
    """

    def __init__(self, spill_dir: Path, prefix: str, window: int | None) -> None:
        self.dir = spill_dir
        self.prefix = prefix
        self.window = window
        self.names: list[str] = []
        self.part: _PartWriter | None = None
        self.keys: set[str] = set()
        self.part_rows = self.part_bytes = self.part_quarantined = 0
        self.rows = Rows()
        self.quarantine: list[tuple[str, int, str, bytes | None, str]] = []
        self.chunk_bytes = 0
        self.measurements = 0

    def add(self, j: Judgement, source: str, line: int, raw: bytes) -> bool:
        """Add a measurement; ``False`` when its key is already in this part."""
        if j.key in self.keys:
            return False
        self.keys.add(j.key)
        self.rows.add(j, source=source, line=line, raw=raw)
        self.part_rows += 1
        self.part_bytes += len(raw)
        self.chunk_bytes += len(raw)
        return True

    def problem(
        self, where: tuple[str, int], reason: str, raw: bytes, message: str, *, keep: bool
    ) -> None:
        """A bad record: its message always (it is reported), its row in the quarantine
        only when ``keep`` (no excerpt: counted, not kept)."""
        excerpt = raw[:QUARANTINE_EXCERPT] if keep else None
        self.quarantine.append((*where, reason, excerpt, message))
        self.part_quarantined += 1
        self.chunk_bytes += len(message) + (len(excerpt) if excerpt is not None else 0)

    def step(self, batch_size: int, batch_bytes: int) -> None:
        """Write the chunk out when it is full, and end the part when that is full."""
        if (
            self.part_rows >= batch_size
            or self.part_bytes >= batch_bytes
            or self.part_quarantined >= batch_size
        ):
            self.end_part()
        elif len(self.rows) + len(self.quarantine) >= CHUNK_SIZE or self.chunk_bytes >= CHUNK_BYTES:
            self._write_chunk()

    def _write_chunk(self) -> None:
        if not (len(self.rows) or self.quarantine):
            return
        if self.part is None:
            n = len(self.names)
            self._wait_for_room(n)
            self.part = _PartWriter(self.dir, part_name(self.prefix, n))
        if len(self.rows):
            self.part.write("verdicts", self.rows.verdicts())
            self.part.write("via_outcomes", self.rows.via())
            m = self.rows.measurements()
            self.rows = Rows()
            self.measurements += m.num_rows
            self.part.write("observations", observations_table(m))
            self.part.write("measurements", m.drop_columns([OBSERVATIONS_JSON]))
            del m
        if self.quarantine:
            self.part.write("quarantine", _quarantine_table(self.quarantine))
            self.quarantine = []
        self.chunk_bytes = 0

    def _wait_for_room(self, n: int) -> None:
        """Block until fewer than ``window`` earlier parts of this file await their commit."""
        if self.window is None or n < self.window:
            return
        waiting = _paths(self.dir, part_name(self.prefix, n - self.window))["done"]
        while waiting.exists():
            time.sleep(POLL_SECONDS)

    def end_part(self, last: FileCounts | None = None) -> None:
        """Close the part (the file's last, with its counts, when ``last`` is given)."""
        self._write_chunk()
        if self.part is None:
            if last is None:
                return
            n = len(self.names)
            self._wait_for_room(n)
            self.part = _PartWriter(self.dir, part_name(self.prefix, n))
        meta: dict[str, object] = {"last": last is not None}
        if last is not None:
            meta["counts"] = {
                "records": last.records,
                "quarantined": last.quarantined,
                "run_duplicate": last.run_duplicate,
            }
        self.part.close(meta)
        self.names.append(self.part.name)
        self.part = None
        self.keys = set()
        self.part_rows = self.part_bytes = self.part_quarantined = 0


def prepare_file(
    path: str | Path,
    spill_dir: str | Path,
    batch_size: int,
    batch_bytes: int,
    *,
    prefix: str = "",
    window: int | None = None,
) -> FileResult:
    """Read and judge one file, spilling its rows as parts; pure but for those files.

    Parts are cut like ingest's batches (``batch_size`` measurements or quarantined
    records, or ``batch_bytes`` of raw measurements). Part names start with
    ``prefix`` (unique per file of a run: the same file may be given twice). With
    ``window``, a part is not written while ``window`` earlier parts of this file are
    still in ``spill_dir``: the committer deletes them, so a huge file streams
    through a bounded amount of disk. Records that cannot be read or judged go to
    the part's quarantine; nothing about the input raises.
    """
    spill = _Spill(Path(spill_dir), prefix, window)
    source = str(path)
    records = quarantined = run_duplicate = 0
    for rec in read_file(Path(path)):
        records += 1
        if isinstance(rec, Problem):
            quarantined += 1
            spill.problem(
                (rec.source, rec.line),
                rec.reason,
                rec.raw,
                str(rec),
                keep=quarantined <= QUARANTINE_PER_FILE,
            )
        else:
            try:
                j = judge_record(rec.raw, source=rec.source, line=rec.line, uid=rec.uid)
            except InputError as exc:
                quarantined += 1
                where = (exc.source or rec.source, exc.line or rec.line)
                spill.problem(
                    where, exc.reason, rec.raw, str(exc), keep=quarantined <= QUARANTINE_PER_FILE
                )
            else:
                if not spill.add(j, rec.source, rec.line, rec.raw):
                    run_duplicate += 1
        spill.step(batch_size, batch_bytes)
    counts = FileCounts(records, quarantined, run_duplicate)
    spill.end_part(last=counts)
    return FileResult(source, tuple(spill.names), counts, spill.measurements)
