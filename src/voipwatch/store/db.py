"""Opening the store: where it lives, how DuckDB is configured, and what can go wrong.

The store is one DuckDB file. Every failure to open or write it becomes a
:class:`~voipwatch.errors.StoreError` naming the file and the reason, so commands can
print one line and exit 1 instead of a traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import duckdb
import platformdirs

from voipwatch.errors import StoreBusy, StoreError
from voipwatch.store.schema import DDL, MIGRATIONS, SCHEMA_VERSION
from voipwatch.store.snapshot import current_snapshot

DB_FILENAME = "voipwatch.duckdb"
#: DuckDB's buffer limit for writers. Ingest and rejudge hold at most two batches in
#: Python on top of it; measured on OONI data, a limit above ~128 MB lets DuckDB's
#: share grow with the size of the store, and below it writes slow down.
WRITE_MEMORY_LIMIT = "128MB"
#: Readers (aggregate, export) sort and group; more room means fewer spills to disk.
READ_MEMORY_LIMIT = "512MB"
#: Write-ahead log size that triggers a checkpoint (DuckDB's default is 16 MB).
CHECKPOINT_THRESHOLD = "256MB"


def default_db_path() -> Path:
    """The store used when neither ``--db`` nor ``VOIPWATCH_DB`` names one."""
    return platformdirs.user_data_path("voipwatch", appauthor=False) / DB_FILENAME


def _reason(exc: BaseException) -> str:
    """DuckDB's message without its error-class prefix, on one line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    for prefix in ("IO Error: ", "Catalog Error: ", "Invalid Input Error: ", "Binder Error: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


@contextmanager
def store_errors(path: Path, doing: str) -> Iterator[None]:
    """Turn DuckDB failures (disk full, lock held, corrupt file) into ``StoreError``."""
    try:
        yield
    except duckdb.Error as exc:
        raise StoreError(f"{path}: {doing} failed: {_reason(exc)}") from exc


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: object) -> Iterator[None]:
    """Expose an Arrow table to SQL as ``name`` for the duration of the block."""
    con.register(name, table)
    try:
        yield
    finally:
        # In a failed transaction DuckDB refuses every statement; the view then goes
        # with the rollback, and the error that matters is the one in flight.
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)


class Store:
    """An open store: the DuckDB connection and the file it belongs to."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, *, read_only: bool) -> None:
        self.path = path
        self.con = con
        self.read_only = read_only

    def close(self) -> None:
        """Close the connection (DuckDB checkpoints the write-ahead log on close)."""
        with store_errors(self.path, "closing the store"):
            self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def meta(self, name: str) -> str | None:
        """One of the store's own notes about itself (``store_meta``), if written."""
        row = self.con.execute("SELECT value FROM store_meta WHERE name = ?", [name]).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, name: str, value: str) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO store_meta (name, value) VALUES (?, ?)", [name, value]
        )

    def countries(self) -> list[str]:
        """The countries the stored measurements come from, in order."""
        rows = self.con.execute(
            "SELECT DISTINCT probe_cc FROM measurements ORDER BY probe_cc"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def measurement_count(self) -> int:
        row = self.con.execute("SELECT count(*) FROM measurements").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def transaction(self, con: duckdb.DuckDBPyConnection | None = None) -> Iterator[None]:
        """One atomic batch: everything inside commits together or not at all.

        A killed process leaves only whole batches behind, which is what makes ingest
        and rejudge safe to re-run.
        """
        c = self.con if con is None else con
        with store_errors(self.path, "writing"):
            c.execute("BEGIN TRANSACTION")
            try:
                yield
                # Inside the try: DuckDB checks some constraints only at commit, and a
                # failed commit still leaves the transaction to be rolled back.
                c.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    c.execute("ROLLBACK")
                raise


def _check_path(path: Path, *, read_only: bool) -> None:
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a store file")
    parent = path.parent
    if read_only:
        if not path.exists():
            raise StoreError(f"{path}: no store here (create one with `voipwatch ingest`)")
        return
    if not parent.is_dir():
        raise StoreError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise StoreError(f"{path}: the store is read-only (cannot write in {parent})")


def table_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables the database holds."""
    return {str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def _is_foreign(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database holds tables but is not a store (someone else's file)."""
    names = table_names(con)
    return bool(names) and "store_meta" not in names


def _version(con: duckdb.DuckDBPyConnection) -> int | None:
    try:
        row = con.execute("SELECT value FROM store_meta WHERE name = 'schema_version'").fetchone()
    except duckdb.CatalogException:
        return None
    return int(row[0]) if row and str(row[0]).isdigit() else None


def _ensure_schema(store: Store) -> None:
    """Create the tables of a new store, upgrade an older one, refuse anything else."""
    con = store.con
    with store_errors(store.path, "reading the schema"):
        foreign = _is_foreign(con)
        version = _version(con)
    if foreign:
        raise StoreError(f"{store.path}: a DuckDB database, but not a voipwatch store")
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"{store.path}: store schema version {version} is newer than this voipwatch's "
            f"({SCHEMA_VERSION}); upgrade voipwatch"
        )
    if store.read_only:
        if version is None:
            raise StoreError(f"{store.path}: not a voipwatch store (no schema version)")
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"{store.path}: store schema version {version} is older than this "
                f"voipwatch's ({SCHEMA_VERSION}); upgrade it with `voipwatch rejudge`"
            )
        return
    with store.transaction():
        for v in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
            for statement in MIGRATIONS[v]:
                con.execute(statement)
        for ddl in DDL:
            con.execute(ddl)
        con.execute(
            "INSERT OR REPLACE INTO store_meta VALUES ('schema_version', ?)",
            [str(SCHEMA_VERSION)],
        )


def open_store(
    path: Path | None = None, *, read_only: bool = False, memory_limit: str | None = None
) -> Store:
    """Open (creating when writable and absent) the store at ``path``.

    Without ``path`` the default store in the user's data directory is used, and its
    directory is created; an explicit path's directory must already exist, since a
    typo there should not silently create a new store somewhere.
    """
    if path is None:
        path = default_db_path()
        if not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"{path}: cannot create directory {path.parent}: {exc.strerror or exc}"
                ) from exc
    path = path.expanduser()
    _check_path(path, read_only=read_only)
    if memory_limit is None:
        memory_limit = READ_MEMORY_LIMIT if read_only else WRITE_MEMORY_LIMIT
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        # Order across threads is irrelevant for our writes and reads (every reader
        # sorts), and keeping it costs memory.
        "preserve_insertion_order": False,
        # Each checkpoint rewrites the table's last, partly filled row group; at the
        # default 16 MB of log, ingest checkpoints every other batch, which costs a
        # sixth of its time and leaves the file half as large again with dead blocks.
        "checkpoint_threshold": CHECKPOINT_THRESHOLD,
    }
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as exc:
        reason = _reason(exc)
        if "lock" in reason.lower():
            snapshot = current_snapshot(path) if read_only else None
            if snapshot is not None:
                # A running server holds the store: read what it last published.
                return open_store(snapshot, read_only=True, memory_limit=memory_limit)
            if current_snapshot(path) is not None:
                reason = (
                    "the store is held by a running voipwatch server, which ingests the "
                    "files put into its watched folder"
                )
            else:
                reason = f"the store is in use by another voipwatch process ({reason})"
            raise StoreBusy(f"{path}: cannot open the store: {reason}") from exc
        raise StoreError(f"{path}: cannot open the store: {reason}") from exc
    store = Store(path, con, read_only=read_only)
    try:
        _ensure_schema(store)
    except BaseException:
        con.close()
        raise
    return store
