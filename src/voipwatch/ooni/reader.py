"""Stream OONI measurements out of files, whatever their packaging.

Handles ``.jsonl``, ``.jsonl.gz``, ``.json``, ``.json.gz`` (one measurement, a
pretty-printed one, a JSON list, or JSONL mislabelled as JSON), OONI API
``measurement_meta`` responses (``raw_measurement`` as a string or an object), and
OONI "postcan" ``.tar.gz`` files (each member a ``{"format": "json", "content": …}``
upload). Directories are walked in sorted order.

Records are yielded as raw bytes: deciding what to decode belongs to the reader of
the record (the verdict engine decodes only the fields it reads). Memory stays
constant in the file size; only one line is held at a time.

Nothing here raises on bad input: problems are yielded as :class:`Problem` values in
stream order, so the caller can count and quarantine them and go on.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import msgspec

#: Lines longer than this are skipped (and reported) rather than held in memory.
MAX_LINE_BYTES = 256 * 1024 * 1024
#: How much of a bad record is kept in quarantine.
QUARANTINE_EXCERPT = 64 * 1024

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".tar.gz", ".post", ".ndjson")


@dataclass(frozen=True, slots=True)
class Record:
    """One measurement as raw JSON bytes, with where it came from.

    ``line`` is 1-based (the member number for postcans); ``uid`` is the
    ``measurement_uid`` given by an API wrapper, when there was one.
    """

    source: str
    line: int
    raw: bytes
    uid: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that could not be read: where, why, and an excerpt of the bytes."""

    source: str
    line: int
    reason: str
    raw: bytes = b""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.reason}"


Item = Record | Problem


class _Wrapper(msgspec.Struct):
    """An OONI API ``measurement_meta`` response (or a list row carrying the raw one)."""

    raw_measurement: msgspec.Raw | None = None
    measurement_uid: str | None = None


class _Post(msgspec.Struct):
    """A postcan member / collector upload: ``{"format": "json", "content": {…}}``."""

    format: str | None = None
    content: msgspec.Raw | None = None


_wrapper_decoder = msgspec.json.Decoder(_Wrapper)
_post_decoder = msgspec.json.Decoder(_Post)
_str_decoder = msgspec.json.Decoder(str)
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])


def unwrap(raw: bytes, source: str, line: int) -> Item:
    """Return the measurement inside an API wrapper or upload envelope, else ``raw``.

    The substring tests are a cheap pre-filter: the full decode only runs on lines
    that may be wrappers, and a measurement that merely contains the word (in an
    HTTP body, say) decodes to an empty wrapper and is passed through unchanged.
    """
    uid: str | None = None
    if b'"raw_measurement"' in raw:
        try:
            w = _wrapper_decoder.decode(raw)
        except msgspec.DecodeError:
            w = None
        if w is not None and w.raw_measurement is not None:
            inner = bytes(w.raw_measurement)
            uid = w.measurement_uid
            if inner[:1] == b'"':
                try:
                    inner = _str_decoder.decode(inner).encode("utf-8", "surrogatepass")
                except (msgspec.DecodeError, UnicodeEncodeError) as exc:
                    return Problem(source, line, f"raw_measurement string is not JSON: {exc}",
                                   raw[:QUARANTINE_EXCERPT])
            elif inner == b"null":
                return Problem(source, line, "API wrapper has raw_measurement: null",
                               raw[:QUARANTINE_EXCERPT])
            raw = inner
    if b'"content"' in raw[:64] or (b'"format"' in raw[:64] and b'"content"' in raw):
        try:
            p = _post_decoder.decode(raw)
        except msgspec.DecodeError:
            p = None
        if p is not None and p.content is not None and p.format in ("json", None):
            raw = bytes(p.content)
        elif p is not None and p.format == "yaml":
            return Problem(source, line, "legacy YAML upload is not supported",
                           raw[:QUARANTINE_EXCERPT])
    return Record(source, line, raw, uid)


def _iter_lines(fh: IO[bytes], source: str) -> Iterator[Item]:
    """Yield one item per non-blank line, reporting truncated/corrupt compression."""
    n = 0
    while True:
        try:
            chunk = fh.readline(MAX_LINE_BYTES)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            yield Problem(source, n + 1, f"compressed stream is truncated or corrupt after "
                          f"line {n} ({exc.__class__.__name__}: {exc})")
            return
        if not chunk:
            return
        n += 1
        if len(chunk) >= MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            # Drain the rest of an oversized line without holding it.
            try:
                while True:
                    more = fh.readline(MAX_LINE_BYTES)
                    if not more or more.endswith(b"\n"):
                        break
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError):
                pass
            yield Problem(source, n, f"line longer than {MAX_LINE_BYTES} bytes, skipped",
                          chunk[:QUARANTINE_EXCERPT])
            continue
        line = chunk.strip()
        if not line:
            continue
        yield unwrap(line, source, n)


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


def _read_json_document(path: Path, source: str) -> Iterator[Item]:
    """A ``.json`` file: one object, a list of objects, or JSONL under the wrong name."""
    with _open(path) as fh:
        head = fh.read(1)
        while head in (b" ", b"\n", b"\r", b"\t", b"\xef", b"\xbb", b"\xbf"):
            head = fh.read(1)
    if not head:
        yield Problem(source, 0, "empty file: no measurements")
        return
    if head == b"[":
        try:
            with _open(path) as fh:
                items = _raw_list_decoder.decode(fh.read())
        except (msgspec.DecodeError, EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            yield Problem(source, 0, f"not a readable JSON list: {exc}")
            return
        for i, item in enumerate(items, 1):
            yield unwrap(bytes(item), source, i)
        return
    # An object, pretty-printed or on one line; if it does not parse as one document,
    # read it as JSONL (OONI probe reports are JSONL saved as .json).
    try:
        with _open(path) as fh:
            data = fh.read()
        msgspec.json.decode(data, type=msgspec.Raw)
    except (msgspec.DecodeError, EOFError, gzip.BadGzipFile, zlib.error, OSError):
        with _open(path) as fh:
            yield from _iter_lines(fh, source)
        return
    yield unwrap(data.strip(), source, 1)


def _read_postcan(path: Path, source: str) -> Iterator[Item]:
    n = 0
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                n += 1
                where = f"{source}:{member.name}"
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                data = fh.read()
                if member.name.endswith((".yaml", ".yml")):
                    yield Problem(where, n, "legacy YAML report is not supported")
                    continue
                if member.name.endswith((".jsonl", ".json")) and data.count(b"\n") > 1:
                    yield from _iter_lines(_BytesLines(data), where)
                    continue
                yield unwrap(data.strip(), where, n)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        yield Problem(source, n + 1, f"tar archive is truncated or corrupt after member {n} "
                      f"({exc.__class__.__name__}: {exc})")


class _BytesLines:
    """Minimal ``readline`` over bytes, for JSONL members inside a tar."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def readline(self, limit: int = -1) -> bytes:
        end = self._data.find(b"\n", self._pos)
        end = len(self._data) if end < 0 else end + 1
        if limit > 0:
            end = min(end, self._pos + limit)
        out = self._data[self._pos:end]
        self._pos = end
        return out


def read_file(path: Path) -> Iterator[Item]:
    """Yield the measurements (and problems) of one file."""
    source = str(path)
    name = path.name.lower()
    try:
        if path.stat().st_size == 0:
            yield Problem(source, 0, "empty file: no measurements")
            return
    except OSError as exc:
        yield Problem(source, 0, f"cannot read: {exc.strerror or exc}")
        return
    try:
        if name.endswith((".tar.gz", ".tgz")):
            yield from _read_postcan(path, source)
        elif name.endswith((".json", ".json.gz", ".post", ".json.pretty")):
            yield from _read_json_document(path, source)
        else:
            # .jsonl / .jsonl.gz / .ndjson, and anything else we are handed directly:
            # line-oriented is the most forgiving reading.
            with _open(path) as fh:
                yield from _iter_lines(fh, source)
    except OSError as exc:
        yield Problem(source, 0, f"cannot read: {exc.strerror or exc}")


def is_measurement_file(path: Path) -> bool:
    """Whether a directory walk should pick ``path`` up."""
    return path.name.lower().endswith(SUFFIXES)


def iter_files(paths: Iterable[Path]) -> Iterator[Path | Problem]:
    """Expand directories (sorted, recursively); report paths that do not exist."""
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    fp = Path(root, f)
                    if is_measurement_file(fp):
                        yield fp
        elif p.exists():
            yield p
        else:
            yield Problem(str(p), 0, "no such file or directory")


def read_paths(paths: Iterable[Path]) -> Iterator[Item]:
    """Yield every measurement and problem under ``paths``, in order."""
    for p in iter_files(paths):
        if isinstance(p, Problem):
            yield p
        else:
            yield from read_file(p)
