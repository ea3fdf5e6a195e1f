"""The reader: every packaging of OONI measurements, in order, in constant memory.

Files are built at test time in ``tmp_path`` from real measurements of
``../shared/ooni-samples`` (nothing is copied into the repository).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tracemalloc
import zlib
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipwatch.ooni import reader
from voipwatch.ooni.reader import Problem, Record, read_file, read_paths, unwrap
from voipwatch.verdicts import judge

pytestmark = pytest.mark.shared

IM_TESTS = ("whatsapp", "telegram", "signal", "facebook_messenger", "stun_reachability")


@pytest.fixture(scope="module")
def im_lines(shared_dir: Path) -> list[bytes]:
    """Real IM measurements with a report_id (so their identity is packaging-free)."""
    out: list[bytes] = []
    for name in (
        "ooni-samples/derived/all_raw_measurements.jsonl",
        "ooni-samples/more/all_im.jsonl",
    ):
        for line in (shared_dir / name).read_bytes().splitlines():
            d = json.loads(line)
            if d.get("test_name") in IM_TESTS and d.get("report_id"):
                out.append(line)
    assert len(out) >= 10
    return out


def _items(paths: list[Path]) -> list[Record | Problem]:
    return list(read_paths(paths))


def _records(items: list[Record | Problem]) -> list[Record]:
    assert not [i for i in items if isinstance(i, Problem)], items
    return [i for i in items if isinstance(i, Record)]


def _same(raw: bytes, line: bytes) -> bool:
    return json.loads(raw) == json.loads(line)


def _post(m: dict[str, Any]) -> bytes:
    return json.dumps({"format": "json", "content": m}).encode()


def _postcan(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# --- one format at a time -------------------------------------------------------------


def test_jsonl_in_order_with_line_numbers(tmp_path: Path, im_lines: list[bytes]) -> None:
    lines = im_lines[:5]
    p = tmp_path / "m.jsonl"
    # A blank line and CRLF endings: line numbers still count physical lines.
    p.write_bytes(lines[0] + b"\r\n" + lines[1] + b"\n\n" + b"\n".join(lines[2:]) + b"\n")
    recs = _records(list(read_file(p)))
    assert [r.line for r in recs] == [1, 2, 4, 5, 6]
    assert [r.raw for r in recs] == lines
    assert all(r.source == str(p) and r.uid is None for r in recs)


def test_jsonl_gz(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "m.jsonl.gz"
    p.write_bytes(gzip.compress(b"\n".join(im_lines) + b"\n"))
    recs = _records(list(read_file(p)))
    assert [r.raw for r in recs] == im_lines
    assert [r.line for r in recs] == list(range(1, len(im_lines) + 1))


def test_compression_is_sniffed_not_named(tmp_path: Path, im_lines: list[bytes]) -> None:
    gz_named_plain = tmp_path / "a.jsonl"
    gz_named_plain.write_bytes(gzip.compress(im_lines[0]))
    plain_named_gz = tmp_path / "b.jsonl.gz"
    plain_named_gz.write_bytes(im_lines[1])
    recs = _records(_items([gz_named_plain, plain_named_gz]))
    assert [r.raw for r in recs] == im_lines[:2]


def test_json_single_compact(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "m.json"
    p.write_bytes(im_lines[0] + b"\n")
    (rec,) = _records(list(read_file(p)))
    assert rec.raw == im_lines[0]
    assert rec.line == 1


def test_json_pretty_printed(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "m.json"
    p.write_text("\n" + json.dumps(json.loads(im_lines[0]), indent=2))
    (rec,) = _records(list(read_file(p)))
    assert _same(rec.raw, im_lines[0])
    assert rec.line == 2  # where the document starts


def test_json_with_bom(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "m.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(json.loads(im_lines[0]), indent=1).encode())
    (rec,) = _records(list(read_file(p)))
    assert _same(rec.raw, im_lines[0])
    q = tmp_path / "m.jsonl"
    q.write_bytes(b"\xef\xbb\xbf" + b"\n".join(im_lines[:2]))
    assert [r.raw for r in _records(list(read_file(q)))] == im_lines[:2]


@pytest.mark.parametrize("indent", [None, 2])
def test_json_list(tmp_path: Path, im_lines: list[bytes], indent: int | None) -> None:
    p = tmp_path / "list.json"
    p.write_text(json.dumps([json.loads(x) for x in im_lines[:4]], indent=indent))
    recs = _records(list(read_file(p)))
    assert [r.line for r in recs] == [1, 2, 3, 4]  # the item number
    assert all(_same(r.raw, x) for r, x in zip(recs, im_lines[:4], strict=True))


def test_jsonl_mislabelled_json(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "report.json"  # what ooniprobe writes: JSONL, named .json
    p.write_bytes(b"\n".join(im_lines[:6]) + b"\n")
    recs = _records(list(read_file(p)))
    assert [r.raw for r in recs] == im_lines[:6]
    assert [r.line for r in recs] == [1, 2, 3, 4, 5, 6]


def test_json_gz_pretty(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "m.json.gz"
    p.write_bytes(gzip.compress(json.dumps(json.loads(im_lines[2]), indent=4).encode()))
    (rec,) = _records(list(read_file(p)))
    assert _same(rec.raw, im_lines[2])


def test_api_wrapper_raw_measurement_as_string(tmp_path: Path, im_lines: list[bytes]) -> None:
    uid = "20231113073551.123456_DE_signal_0123456789abcdef"
    doc = {
        "measurement_uid": uid,
        "anomaly": False,
        "scores": "{}",
        "raw_measurement": im_lines[0].decode(),
    }
    p = tmp_path / "meta.json"
    p.write_text(json.dumps(doc, indent=2))
    (rec,) = _records(list(read_file(p)))
    assert rec.uid == uid
    assert rec.raw == im_lines[0]


def test_api_wrapper_raw_measurement_as_object(tmp_path: Path, im_lines: list[bytes]) -> None:
    uid = "20231113073551.123456_DE_signal_fedcba9876543210"
    doc = {"measurement_uid": uid, "raw_measurement": json.loads(im_lines[0])}
    p = tmp_path / "meta.jsonl"
    p.write_text(json.dumps(doc) + "\n")
    (rec,) = _records(list(read_file(p)))
    assert rec.uid == uid
    assert _same(rec.raw, im_lines[0])


def test_api_wrapper_null_raw_measurement_is_a_problem() -> None:
    item = unwrap(b'{"measurement_uid": "x", "raw_measurement": null}', "f", 3)
    assert isinstance(item, Problem)
    assert item.line == 3
    assert "null" in item.reason


@pytest.mark.parametrize("first", [True, False])
def test_word_raw_measurement_inside_a_measurement_is_not_a_wrapper(
    im_lines: list[bytes], first: bool
) -> None:
    m = json.loads(im_lines[0])
    note = {"x_note": 'see "raw_measurement" in the API'}
    # Near the head (decoded, found empty) or deep inside (never decoded).
    m = {**note, **m} if first else {**m, "test_keys": {**m["test_keys"], **note}}
    raw = json.dumps(m).encode()
    item = unwrap(raw, "f", 1)
    assert isinstance(item, Record)
    assert item.raw == raw


@pytest.mark.parametrize("as_string", [True, False])
def test_api_wrapper_with_raw_measurement_far_from_the_head(
    im_lines: list[bytes], as_string: bool
) -> None:
    """The pre-filter's fast path must not miss a wrapper whose key comes late."""
    inner = json.loads(im_lines[0])
    doc = {
        "anomaly": False,
        "scores": json.dumps({"blocking_general": 0.0, "pad": "x" * 20000}),
        "measurement_uid": "20240101000000.000000_IT_signal_0000000000000001",
        "raw_measurement": json.dumps(inner) if as_string else inner,
    }
    item = unwrap(json.dumps(doc).encode(), "f", 1)
    assert isinstance(item, Record)
    assert json.loads(item.raw) == inner
    assert item.uid == doc["measurement_uid"]


def test_postcan(tmp_path: Path, im_lines: list[bytes]) -> None:
    ms = [json.loads(x) for x in im_lines[:3]]
    uids = [
        f"2024010100000{i}.00000{i}_IT_{m['test_name'].replace('_', '')}_{i:016x}"
        for i, m in enumerate(ms)
    ]
    members = [(f"2024010100_IT_x/{u}.post", _post(m)) for u, m in zip(uids, ms, strict=True)]
    p = _postcan(tmp_path / "2024010100_IT_x.n0.0.tar.gz", members)
    recs = _records(list(read_file(p)))
    assert [r.line for r in recs] == [1, 2, 3]  # member numbers
    assert [r.uid for r in recs] == uids  # the collector names each upload by its uid
    assert all(_same(r.raw, x) for r, x in zip(recs, im_lines[:3], strict=True))
    assert recs[0].source == f"{p}:{members[0][0]}"


def test_postcan_yaml_and_garbage_members(tmp_path: Path, im_lines: list[bytes]) -> None:
    m = json.loads(im_lines[0])
    members = [
        ("a/legacy.post", json.dumps({"format": "yaml", "content": "---"}).encode()),
        ("a/empty.post", b""),
        ("a/good.post", _post(m)),
    ]
    items = list(read_file(_postcan(tmp_path / "c.tar.gz", members)))
    assert [type(i) for i in items] == [Problem, Problem, Record]
    assert "YAML" in items[0].reason  # type: ignore[union-attr]


def test_truncated_postcan_keeps_members_before_the_cut(
    tmp_path: Path, im_lines: list[bytes]
) -> None:
    members = [(f"a/{i}.post", _post(json.loads(x))) for i, x in enumerate(im_lines[:4])]
    p = _postcan(tmp_path / "c.tar.gz", members)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 3])
    items = list(read_file(p))
    assert isinstance(items[-1], Problem)
    assert "truncated or corrupt" in items[-1].reason
    assert all(isinstance(i, Record) for i in items[:-1])
    assert len(items) >= 2


def test_directory_walk_sorted_and_mixed(tmp_path: Path, im_lines: list[bytes]) -> None:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "b.jsonl").write_bytes(b"\n".join(im_lines[0:2]))
    (d / "a.json").write_text(json.dumps(json.loads(im_lines[2]), indent=2))
    (d / "sub" / "c.jsonl.gz").write_bytes(gzip.compress(im_lines[3]))
    _postcan(d / "d.tar.gz", [("x/1.post", _post(json.loads(im_lines[4])))])
    (d / "notes.txt").write_text("not a measurement file")
    recs = _records(_items([d]))
    assert [Path(r.source.split(":")[0]).name for r in recs] == [
        "a.json",
        "b.jsonl",
        "b.jsonl",
        "d.tar.gz",
        "c.jsonl.gz",
    ]
    assert all(
        _same(r.raw, x)
        for r, x in zip(
            recs, [im_lines[2], im_lines[0], im_lines[1], im_lines[4], im_lines[3]], strict=True
        )
    )


def test_paths_keep_argument_order(tmp_path: Path, im_lines: list[bytes]) -> None:
    z, a = tmp_path / "z.jsonl", tmp_path / "a.jsonl"
    z.write_bytes(im_lines[0])
    a.write_bytes(im_lines[1])
    missing = tmp_path / "missing.jsonl"
    items = _items([z, missing, a])
    assert [type(i) for i in items] == [Record, Problem, Record]
    assert str(items[1]) == f"{missing}: no such file or directory"


# --- awkward files ----------------------------------------------------------------


def test_oversized_line_is_skipped_not_held(
    tmp_path: Path, im_lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 4096)
    small = min(im_lines, key=len)
    assert len(small) < 4096
    p = tmp_path / "m.jsonl"
    p.write_bytes(small + b"\n" + b"x" * 20000 + b"\n" + small + b"\n")
    items = list(read_file(p))
    assert [type(i) for i in items] == [Record, Problem, Record]
    assert items[1].line == 2
    assert "longer than" in items[1].reason
    assert items[2].line == 3


def test_oversized_document_is_reported(
    tmp_path: Path, im_lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_DOC_BYTES", 4096)
    p = tmp_path / "m.json"
    p.write_text(json.dumps(json.loads(max(im_lines, key=len)), indent=2))
    (item,) = list(read_file(p))
    assert isinstance(item, Problem)
    assert "larger than" in item.reason


def test_broken_pretty_document_is_one_problem(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "m.json"
    text = json.dumps(json.loads(im_lines[0]), indent=2)
    p.write_text(text[: len(text) // 2])
    (item,) = list(read_file(p))
    assert isinstance(item, Problem)
    assert item.line == 1
    assert "not a readable JSON document" in item.reason


def test_mislabelled_jsonl_with_broken_first_line(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "report.json"
    p.write_bytes(b'{"test_name": "whatsapp",\n' + b"\n".join(im_lines[:2]) + b"\n")
    items = list(read_file(p))
    assert [type(i) for i in items] == [Record, Record, Record]
    assert [i.line for i in items] == [1, 2, 3]
    assert [i.raw for i in items[1:]] == im_lines[:2]  # type: ignore[union-attr]


def test_truncated_gzip_keeps_lines_before_the_cut(tmp_path: Path, im_lines: list[bytes]) -> None:
    data = gzip.compress(b"\n".join(im_lines) + b"\n")
    p = tmp_path / "m.jsonl.gz"
    p.write_bytes(data[: len(data) // 2])
    items = list(read_file(p))
    *good, last = items
    assert isinstance(last, Problem)
    assert "truncated or corrupt" in last.reason
    assert last.line == len(good) + 1
    # Every complete line before the cut came through unchanged, in order.
    recs = _records(good)
    assert recs
    assert [r.raw for r in recs] == im_lines[: len(recs)]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("e.jsonl", b""),
        ("e.json", b""),
        ("b.json", b"\n\n  \n"),
        ("e.jsonl.gz", gzip.compress(b"", mtime=0)),
        ("e.json", b"[]"),
    ],
)
def test_files_without_measurements_are_problems(tmp_path: Path, name: str, content: bytes) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    (item,) = list(read_file(p))
    assert isinstance(item, Problem)
    assert item.source == str(p)


def test_problem_is_one_line() -> None:
    assert str(Problem("f.jsonl", 3, "bad\nthing")) == "f.jsonl:3: bad thing"
    assert str(Problem("f.jsonl", 0, "empty")) == "f.jsonl: empty"


# --- one measurement, many packagings, one identity ---------------------------------


def test_every_packaging_gives_the_same_key(tmp_path: Path, im_lines: list[bytes]) -> None:
    for n, line in enumerate(im_lines[:6]):
        m = json.loads(line)
        uid = f"20240101000000.00000{n}_IT_{m['test_name'].replace('_', '')}_{n:016x}"
        d = tmp_path / f"m{n}"
        d.mkdir()
        files = {
            "a.jsonl": line + b"\n",
            "b.jsonl.gz": gzip.compress(line),
            "c.json": json.dumps(m, indent=2).encode(),
            "d.json.gz": gzip.compress(json.dumps(m, indent=3).encode()),
            "e.json": json.dumps([m]).encode(),
            "f.json": json.dumps(
                {"measurement_uid": uid, "raw_measurement": line.decode()}
            ).encode(),
            "g.json": json.dumps({"measurement_uid": uid, "raw_measurement": m}).encode(),
            "h.jsonl": _post(m),
        }
        for name, data in files.items():
            (d / name).write_bytes(data)
        _postcan(d / "i.tar.gz", [(f"x/{uid}.post", _post(m))])
        recs = _records(_items([d]))
        assert len(recs) == len(files) + 1
        js = [judge(r) for r in recs]
        assert len({j.key for j in js}) == 1, [r.source for r in recs]
        # The verdict itself does not depend on the packaging either.
        verdicts = {json.dumps({**_as_dict(j.verdict), "measurement_uid": ""}) for j in js}
        assert len(verdicts) == 1


def _as_dict(v: Any) -> dict[str, Any]:
    import msgspec

    d: dict[str, Any] = msgspec.to_builtins(v)
    return d


# --- constant memory ----------------------------------------------------------------


def test_streaming_a_large_gzip_uses_constant_memory(tmp_path: Path, im_lines: list[bytes]) -> None:
    p = tmp_path / "big.jsonl.gz"
    target = 24 * 1024 * 1024
    written = count = 0
    with gzip.open(p, "wb", compresslevel=1) as fh:
        while written < target:
            for line in im_lines:
                fh.write(line + b"\n")
                written += len(line) + 1
                count += 1
    biggest = max(len(x) for x in im_lines)
    judge(Record("warm-up", 1, im_lines[0]))  # load the catalogue before measuring
    tracemalloc.start()
    try:
        n = 0
        for item in read_paths([p]):
            assert isinstance(item, Record)
            judge(item)
            n += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == count
    # A few lines' worth at most, nowhere near the file's 24 MB.
    assert peak < max(20 * biggest, 2 * 1024 * 1024), (peak, written)
    assert peak < written / 10


# --- the gzip line reader -----------------------------------------------------------


def _lines_of(data: bytes, size: int = -1) -> list[bytes]:
    out = []
    fh = reader._GzipLines(io.BytesIO(data))
    while line := fh.readline(size):
        out.append(line)
    return out


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=3000).map(lambda b: b.replace(b"\n", b"")), max_size=40),
    final_newline=st.booleans(),
    size=st.sampled_from([-1, 1, 7, 100, 5000]),
    members=st.integers(min_value=1, max_value=3),
)
def test_gzip_lines_reads_like_gzip(
    lines: list[bytes], final_newline: bool, size: int, members: int
) -> None:
    text = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    cut = [len(text) * i // members for i in range(members + 1)]
    data = b"".join(gzip.compress(text[a:b]) for a, b in pairwise(cut))
    expected = []
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
        while line := g.readline(size):
            expected.append(line)
    assert _lines_of(data, size) == expected
    assert reader._GzipLines(io.BytesIO(data)).read() == text
    fh = reader._GzipLines(io.BytesIO(data))
    assert b"".join(iter(lambda: fh.read(333), b"")) == text


def test_gzip_lines_long_lines_members_and_padding(im_lines: list[bytes]) -> None:
    long = b"x" * (3 * 1024 * 1024)  # many inflate steps for one line
    text = im_lines[0] + b"\n" + long + b"\n" + im_lines[1] + b"\n"
    # Two members (as `cat a.gz b.gz` makes), then NUL padding.
    data = gzip.compress(text) + gzip.compress(text) + b"\x00" * 1024
    assert _lines_of(data) == [im_lines[0] + b"\n", long + b"\n", im_lines[1] + b"\n"] * 2
    assert reader._GzipLines(io.BytesIO(data)).read() == text * 2


def test_gzip_lines_trailing_garbage_and_bad_crc() -> None:
    good = gzip.compress(b"a\nb\n")
    with pytest.raises(gzip.BadGzipFile):
        _lines_of(good + b"garbage")
    bad_crc = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    with pytest.raises(zlib.error):
        _lines_of(bad_crc)


def test_gzip_bomb_costs_time_not_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 MB of zeros on one line (200 KB compressed) is skipped in bounded memory."""
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 1024 * 1024)
    p = tmp_path / "bomb.jsonl.gz"
    with gzip.open(p, "wb", compresslevel=9) as fh:
        fh.write(b'{"test_name": "x"}\n')
        block = b"0" * (1024 * 1024)
        for _ in range(200):
            fh.write(block)
        fh.write(b'\n{"test_name": "y"}\n')
    assert p.stat().st_size < 1024 * 1024
    tracemalloc.start()
    try:
        items = list(read_file(p))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [type(i) for i in items] == [Record, Problem, Record]
    assert peak < 8 * 1024 * 1024
