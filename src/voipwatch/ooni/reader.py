"""Stream OONI measurements out of files, whatever their packaging.

Handles ``.jsonl``, ``.jsonl.gz``, ``.json``, ``.json.gz`` (one measurement, a
pretty-printed one, a JSON list, or JSONL mislabelled as JSON), OONI API
``measurement_meta`` responses (``raw_measurement`` as a string or an object), and
OONI "postcan" ``.tar.gz`` files (each member a ``{"format": "json", "content": …}``
upload named ``<measurement_uid>.post``). Directories are walked in sorted order.
Compression is recognised by its magic bytes, not by the name, so a gzip file
without ``.gz`` (or a plain file with it) is still read.

Records are yielded as raw bytes: deciding what to decode belongs to the reader of
the record (the verdict engine decodes only the fields it reads). Memory stays
constant in the file size for line-oriented input; only one line is held at a time.
Whole documents (a pretty-printed object, a JSON list, a postcan member) are held
once, up to :data:`MAX_DOC_BYTES`.

Nothing here raises on bad input: problems are yielded as :class:`Problem` values in
stream order, so the caller can count and quarantine them and go on.
"""

from __future__ import annotations

import gzip
import os
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import msgspec
from isal import isal_zlib

#: Lines longer than this are skipped (and reported) rather than held in memory.
MAX_LINE_BYTES = 256 * 1024 * 1024
#: Whole documents (pretty-printed JSON, JSON lists, tar members) larger than this
#: are reported instead of being read into memory.
MAX_DOC_BYTES = MAX_LINE_BYTES
#: How much of a bad record is kept in quarantine.
QUARANTINE_EXCERPT = 64 * 1024
#: Bad records of one file kept in quarantine, one row each, in input order; the rest
#: of the file's bad records are only counted (``ingest_files.quarantined``), so a small
#: file of millions of bad lines cannot flood the store.
QUARANTINE_PER_FILE = 100
#: A first line shorter than this that is not JSON on its own starts a pretty-printed
#: document; a longer one is a broken line of JSONL (pretty printers open with ``{``).
_PRETTY_HEAD = 4096

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".tar.gz", ".tgz", ".post", ".ndjson")

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
# Errors a compressed or plain stream raises when it is truncated or corrupt.
_STREAM_ERRORS = (EOFError, zlib.error, OSError)
# isal's stubs declare its error an Exception instance; at run time it is the class.
_ISAL_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]
#: OONI's collector names each upload ``<measurement_uid>.post``, e.g.
#: ``20221105223930.168194_JP_whatsapp_e3e891f975f0d5ef``.
_UID_RE = re.compile(r"\d{14}\.\d{6}_[A-Z]{2}_[a-z0-9]+_[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class Record:
    """One measurement as raw JSON bytes, with where it came from.

    ``line`` is 1-based: the line of a JSONL file, the item of a JSON list, the line
    where a pretty-printed document starts, or the member number in a postcan.
    ``uid`` is the ``measurement_uid`` given by an API wrapper or a postcan member
    name, when there was one.
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
        # One problem, one line: reasons quoting the input must not break it.
        reason = self.reason.replace("\r", " ").replace("\n", " ")
        return f"{where}: {reason}"


Item = Record | Problem


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class _Wrapper(msgspec.Struct):
    """An OONI API ``measurement_meta`` response (or a list row carrying the raw one)."""

    # ``Raw`` alone, not ``Raw | None``: msgspec would then accept only null. An empty
    # Raw means the key was absent.
    raw_measurement: msgspec.Raw = msgspec.Raw()
    measurement_uid: msgspec.Raw = msgspec.Raw()


class _Post(msgspec.Struct):
    """A postcan member / collector upload: ``{"format": "json", "content": {…}}``."""

    format: str | None = None
    content: msgspec.Raw = msgspec.Raw()


_wrapper_decoder = msgspec.json.Decoder(_Wrapper)
_post_decoder = msgspec.json.Decoder(_Post)
_str_decoder = msgspec.json.Decoder(str)
_raw_decoder = msgspec.json.Decoder(msgspec.Raw)
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
# What a failed decode of untrusted bytes may raise besides DecodeError.
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


#: How far into a record the wrapper pre-filter looks before deciding.
_HEAD = 4096
#: Keys of a raw measurement that no API wrapper has at its top level. In a wrapper
#: they can only occur inside ``raw_measurement`` (escaped, when it is a string), so
#: after its key.
_MEASUREMENT_ONLY_KEYS = (
    b'"annotations"',
    b'"data_format_version"',
    b'"test_keys"',
    b'"software_name"',
)


def _may_be_wrapper(raw: bytes) -> bool:
    """Whether ``raw`` may be an API wrapper, without scanning all of a large record.

    Searching a 30 kB measurement for ``"raw_measurement"`` costs 15 µs, 5 % of
    judging it. API responses put ``raw_measurement`` after a few short metadata
    fields, so it shows in the head; and a head holding a key that only measurements
    have, before any ``"raw_measurement"``, proves the record is a measurement. Only
    records whose head shows neither are searched in full.
    """
    if raw.find(b'"raw_measurement"', 0, _HEAD) >= 0:
        return True
    if len(raw) <= _HEAD:
        return False
    for key in _MEASUREMENT_ONLY_KEYS:
        if raw.find(key, 0, _HEAD) >= 0:
            return False
    return b'"raw_measurement"' in raw


def unwrap(raw: bytes, source: str, line: int, uid: str | None = None) -> Item:
    """Return the measurement inside an API wrapper or upload envelope, else ``raw``.

    The substring tests are a cheap pre-filter: the full decode only runs on lines
    that may be wrappers, and a measurement that merely contains the word (in an
    HTTP body, say) decodes to an empty wrapper and is passed through unchanged.
    ``uid`` is a ``measurement_uid`` known from outside (a postcan member name); an
    API wrapper's own ``measurement_uid`` takes precedence.
    """
    if _may_be_wrapper(raw):
        try:
            w: _Wrapper | None = _wrapper_decoder.decode(raw)
        except _DECODE_ERRORS:
            w = None
        if w is not None and len(w.raw_measurement):
            inner = bytes(w.raw_measurement)
            given = _wrapper_uid(w.measurement_uid)
            if given:
                uid = given
            if inner[:1] == b'"':
                # The API serves raw_measurement as a JSON string holding JSON.
                try:
                    inner = _str_decoder.decode(inner).encode("utf-8", "surrogatepass")
                except (*_DECODE_ERRORS, UnicodeEncodeError) as exc:
                    return Problem(
                        source,
                        line,
                        f"raw_measurement string is not JSON: {exc}",
                        raw[:QUARANTINE_EXCERPT],
                    )
            elif inner == b"null":
                return Problem(
                    source, line, "API wrapper has raw_measurement: null", raw[:QUARANTINE_EXCERPT]
                )
            raw = inner.strip()
    if b'"content"' in raw[:64] or (b'"format"' in raw[:64] and b'"content"' in raw):
        try:
            p: _Post | None = _post_decoder.decode(raw)
        except _DECODE_ERRORS:
            p = None
        if p is not None and len(p.content) and p.format in ("json", None):
            raw = bytes(p.content)
        elif p is not None and p.format == "yaml":
            return Problem(
                source, line, "legacy YAML upload is not supported", raw[:QUARANTINE_EXCERPT]
            )
    return Record(source, line, raw, uid)


def _wrapper_uid(raw: msgspec.Raw) -> str | None:
    """The wrapper's ``measurement_uid`` when it is a string (anything else is ignored)."""
    data = bytes(raw)
    if data[:1] != b'"':
        return None
    try:
        return _str_decoder.decode(data)
    except _DECODE_ERRORS:
        return None


def _iter_lines(fh: _Lines, source: str, start: int = 0) -> Iterator[Item]:
    """Yield one item per non-blank line, reporting truncated/corrupt compression.

    ``start`` is the number of lines already consumed from ``fh`` (line numbers go on
    from there).
    """
    n = start
    while True:
        try:
            chunk = fh.readline(MAX_LINE_BYTES)
        except _STREAM_ERRORS as exc:
            yield _truncated(source, n, exc)
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
            except _STREAM_ERRORS as exc:
                yield _truncated(source, n, exc)
                return
            yield Problem(
                source,
                n,
                f"line longer than {MAX_LINE_BYTES} bytes, skipped",
                chunk[:QUARANTINE_EXCERPT],
            )
            continue
        line = chunk.strip()
        if not line:
            continue
        if n == 1 and line.startswith(_BOM):
            line = line[3:].lstrip()
        yield unwrap(line, source, n)


def _truncated(source: str, n: int, exc: BaseException) -> Problem:
    return Problem(
        source,
        n + 1,
        f"compressed stream is truncated or corrupt after line {n} "
        f"({exc.__class__.__name__}: {exc})",
    )


class _Stream(Protocol):
    """What the readers need of an open file: plain, or gzip through :class:`_GzipLines`."""

    def read(self, size: int = -1, /) -> bytes: ...
    def readline(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


class _GzipLines:
    """Lines of a gzip stream, inflated by ISA-L in large steps.

    ``gzip.GzipFile`` refills its line buffer 8 KiB at a time through several Python
    layers and computes the CRC in a separate pass; OONI lines are tens of KiB, so
    that overhead is a quarter of reading time. Here the inflater does the gzip
    framing and CRC check itself (``wbits=31``) and each step inflates up to 256 KiB.
    It is ISA-L's (``isal``, zlib's interface), which inflates OONI's files some 2.4
    times as fast as zlib: with decoding skipping most bytes, inflating was the
    larger part of reading a ``.jsonl.gz``. Output per
    step is capped, so a gzip bomb costs time, not memory. Concatenated members (as
    ``cat a.gz b.gz`` makes) are read one after another, like ``gzip`` does.
    """

    _IN = 64 * 1024  # compressed bytes read per step
    _OUT = 256 * 1024  # at most this many bytes inflated per step

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._z = isal_zlib.decompressobj(wbits=31)
        self._pending = b""  # compressed bytes of the next member
        self._buf = b""
        self._pos = 0

    def _fill(self) -> bool:
        """Replace the (consumed) buffer with more data; ``False`` at the end."""
        while True:
            z = self._z
            # After the end of a member, zlib may leave the trailing bytes in both
            # unconsumed_tail and unused_data: only the latter (now _pending) counts.
            if z.unconsumed_tail and not z.eof:
                data = z.unconsumed_tail
            elif self._pending:
                data, self._pending = self._pending, b""
            else:
                data = self._raw.read(self._IN)
                if not data:
                    if z.eof:
                        return False
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
            if z.eof:
                # A new member starts (trailing NUL padding is allowed, as gzip does).
                data = data.lstrip(b"\x00")
                if not data:
                    continue
                if data[:2] != _GZIP_MAGIC:
                    raise gzip.BadGzipFile("trailing garbage after the last gzip member")
                self._z = z = isal_zlib.decompressobj(wbits=31)
            try:
                out = z.decompress(data, self._OUT)
            except _ISAL_ERROR as exc:
                # The same exception as zlib's, for every reader of a stream.
                raise zlib.error(str(exc)) from None
            if z.eof and z.unused_data:
                self._pending = z.unused_data
            if out:
                self._buf, self._pos = out, 0
                return True

    def readline(self, size: int = -1, /) -> bytes:
        parts: list[bytes] = []
        have = 0
        while True:
            buf, pos = self._buf, self._pos
            end = buf.find(b"\n", pos) + 1 or len(buf)
            if size > 0 and have + end - pos > size:
                end = pos + size - have
            piece = buf[pos:end]
            self._pos = end
            if end < len(buf) or piece.endswith(b"\n") or (size > 0 and have + len(piece) >= size):
                if parts:
                    parts.append(piece)
                    return b"".join(parts)
                return piece
            if piece:
                parts.append(piece)
                have += len(piece)
            if not self._fill():
                return b"".join(parts)

    def read(self, size: int = -1, /) -> bytes:
        parts: list[bytes] = []
        have = 0
        while size < 0 or have < size:
            buf, pos = self._buf, self._pos
            end = len(buf) if size < 0 else min(len(buf), pos + size - have)
            if end > pos:
                parts.append(buf[pos:end])
                have += end - pos
                self._pos = end
                continue
            if not self._fill():
                break
        return b"".join(parts)

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _GzipLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> IO[bytes] | _GzipLines:
    """Open ``path`` for reading, decompressing when it starts with the gzip magic."""
    fh = path.open("rb")
    try:
        magic = fh.peek(2)[:2]
    except OSError:
        fh.close()
        raise
    if magic == _GZIP_MAGIC:
        return _GzipLines(fh)
    return fh


def _parse_error(data: bytes) -> str | None:
    """Why ``data`` is not one JSON value, or ``None`` when it is."""
    try:
        _raw_decoder.decode(data)
    except _DECODE_ERRORS as exc:
        return str(exc) or exc.__class__.__name__
    return None


def _parses(data: bytes) -> bool:
    return _parse_error(data) is None


def _read_bounded(fh: _Stream, limit: int) -> bytes | None:
    """The rest of ``fh``, or ``None`` when it is longer than ``limit`` bytes.

    Reads in 1 MiB steps: ``read(limit)`` would allocate ``limit`` bytes up front.
    """
    parts: list[bytes] = []
    total = 0
    while True:
        block = fh.read(1 << 20)
        if not block:
            return b"".join(parts)
        total += len(block)
        if total > limit:
            return None
        parts.append(block)


def _read_json_document(path: Path, source: str) -> Iterator[Item]:
    """A ``.json`` file: one object (compact or pretty), a list, or JSONL wrongly named.

    Decided from the first non-blank line, so a multi-GB JSONL file called ``.json``
    is streamed like any JSONL file instead of being read whole.
    """
    with _open(path) as fh:
        n = 0
        while True:
            try:
                chunk = fh.readline(MAX_LINE_BYTES)
            except _STREAM_ERRORS as exc:
                yield _truncated(source, n, exc)
                return
            if not chunk:
                yield Problem(source, 0, "no measurements in file (only blank lines)")
                return
            n += 1
            first = chunk.strip()
            if n == 1 and first.startswith(_BOM):
                first = first[3:].lstrip()
            if first:
                break
        if len(chunk) >= MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            rest = None  # an oversized first line: read as JSONL below
        elif first[:1] == b"[":
            yield from _read_json_list(fh, first, source)
            return
        elif len(first) >= _PRETTY_HEAD or _parses(first):
            # One object on one line, or JSONL (whose first line may be broken; a
            # long line is never the opening of a pretty-printed document).
            yield unwrap(first, source, n)
            yield from _iter_lines(fh, source, start=n)
            return
        else:
            try:
                rest = _read_bounded(fh, MAX_DOC_BYTES)
            except _STREAM_ERRORS as exc:
                yield Problem(
                    source,
                    n,
                    f"JSON document is truncated or corrupt ({exc.__class__.__name__}: {exc})",
                )
                return
            if rest is None:
                yield Problem(
                    source,
                    n,
                    f"JSON document larger than {MAX_DOC_BYTES} bytes, "
                    "skipped (convert it to JSONL)",
                )
                return
    if rest is None:
        # The line reader reports the oversized line and goes on after it.
        with _open(path) as fh:
            yield from _iter_lines(fh, source)
        return
    yield from _read_pretty(chunk + rest, source, n)


def _read_pretty(text: bytes, source: str, head_line: int) -> Iterator[Item]:
    """A document spread over lines (pretty-printed), starting at line ``head_line``."""
    data = text.strip()
    if data.startswith(_BOM):
        data = data[3:].lstrip()
    error = _parse_error(data)
    if error is None:
        yield unwrap(data, source, head_line)
        return
    # Not one document. If later lines stand alone as JSON objects, it is JSONL whose
    # first line is broken: report line by line. Otherwise it is one broken document.
    lines = data.split(b"\n")[1:]
    if any(_parses(s) for ln in lines if (s := ln.strip())[:1] == b"{"):
        yield from _iter_lines(_BytesLines(text), source, start=head_line - 1)
        return
    yield Problem(
        source, head_line, f"not a readable JSON document: {error}", data[:QUARANTINE_EXCERPT]
    )


def _read_json_list(fh: _Stream, first: bytes, source: str) -> Iterator[Item]:
    """A JSON list of measurements (or API rows); ``line`` is the item number."""
    try:
        rest = _read_bounded(fh, MAX_DOC_BYTES)
    except _STREAM_ERRORS as exc:
        yield Problem(
            source, 0, f"JSON list is truncated or corrupt ({exc.__class__.__name__}: {exc})"
        )
        return
    if rest is None:
        yield Problem(
            source, 0, f"JSON list larger than {MAX_DOC_BYTES} bytes, skipped (convert it to JSONL)"
        )
        return
    data = first + b"\n" + rest
    try:
        items = _raw_list_decoder.decode(data)
    except _DECODE_ERRORS as exc:
        yield Problem(source, 0, f"not a readable JSON list: {exc}", data[:QUARANTINE_EXCERPT])
        return
    if not items:
        yield Problem(source, 0, "empty JSON list: no measurements")
        return
    for i, item in enumerate(items, 1):
        yield unwrap(bytes(item), source, i)


def _read_postcan(path: Path, source: str) -> Iterator[Item]:
    """An OONI postcan: a tar (usually gzipped) of ``<measurement_uid>.post`` uploads."""
    n = 0
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                n += 1
                where = f"{source}:{member.name}"
                name = member.name.rsplit("/", 1)[-1]
                if name.endswith((".yaml", ".yml")):
                    yield Problem(where, n, "legacy YAML report is not supported")
                    continue
                if member.size > MAX_DOC_BYTES:
                    yield Problem(where, n, f"member larger than {MAX_DOC_BYTES} bytes, skipped")
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                data = fh.read()
                if data[:2] == _GZIP_MAGIC:
                    try:
                        data = gzip.decompress(data)
                    except _STREAM_ERRORS as exc:
                        yield Problem(where, n, f"gzip member is corrupt ({exc})")
                        continue
                body = data.strip()
                if not body:
                    yield Problem(where, n, "empty member: no measurement")
                    continue
                if not name.endswith(".post") and b"\n" in body and not _parses(body):
                    # A JSONL member (legacy cans hold report files).
                    yield from _iter_lines(_BytesLines(data), where)
                    continue
                stem = name.removesuffix(".post")
                uid = stem if _UID_RE.fullmatch(stem) else None
                yield unwrap(body, where, n, uid)
    except (tarfile.TarError, *_STREAM_ERRORS) as exc:
        yield Problem(
            source,
            n + 1,
            f"tar archive is truncated or corrupt after member {n} "
            f"({exc.__class__.__name__}: {exc})",
        )


class _BytesLines:
    """Minimal ``readline`` over bytes, for JSONL held in memory."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def readline(self, size: int = -1, /) -> bytes:
        end = self._data.find(b"\n", self._pos)
        end = len(self._data) if end < 0 else end + 1
        if size > 0:
            end = min(end, self._pos + size)
        out = self._data[self._pos : end]
        self._pos = end
        return out


def _read_any(path: Path, source: str) -> Iterator[Item]:
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        yield from _read_postcan(path, source)
    elif name.endswith((".json", ".json.gz", ".post", ".json.pretty")):
        yield from _read_json_document(path, source)
    else:
        # .jsonl / .jsonl.gz / .ndjson, and anything else we are handed directly:
        # line-oriented is the most forgiving reading.
        with _open(path) as fh:
            yield from _iter_lines(fh, source)


def read_file(path: Path) -> Iterator[Item]:
    """Yield the measurements (and problems) of one file; a file with none is a problem."""
    source = str(path)
    try:
        if path.stat().st_size == 0:
            yield Problem(source, 0, "empty file: no measurements")
            return
    except OSError as exc:
        yield Problem(source, 0, f"cannot read: {exc.strerror or exc}")
        return
    seen = False
    try:
        for item in _read_any(path, source):
            seen = True
            yield item
    except OSError as exc:
        yield Problem(source, 0, f"cannot read: {exc.strerror or exc}")
        return
    if not seen:
        yield Problem(source, 0, "no measurements in file")


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
