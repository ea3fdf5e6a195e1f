"""Bad input through the command line: never a traceback, never a lost good record.

Each case runs ``voipwatch verdicts --json`` in a subprocess, as a user would, and
checks the contract of DESIGN.md: one clear stderr line per problem naming file, line
and reason; every good record on stdout, in input order; exit status 0 when the run
finished, 1 when no input could be read at all, 2 for usage errors.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.shared

SUMMARY = re.compile(r"^(\d+) measurements judged, (\d+) problems$")


@dataclass
class Run:
    rc: int
    verdicts: list[dict[str, Any]]
    problems: list[str]
    stderr: str


def voipwatch(*args: str | Path, parse: bool = True) -> Run:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["NO_COLOR"] = "1"
    res = subprocess.run(
        [sys.executable, "-m", "voipwatch.cli", *map(str, args)],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )
    stderr = res.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    verdicts = [json.loads(line) for line in res.stdout.splitlines()] if parse else []
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    problems = [ln for ln in lines if not SUMMARY.match(ln)]
    return Run(res.returncode, verdicts, problems, stderr)


def judged(args: list[str | Path], *, verdicts: int, problems: int, rc: int = 0) -> Run:
    """Run ``verdicts --json`` and check the counts, the summary and the exit status."""
    r = voipwatch("verdicts", "--json", *args)
    assert r.rc == rc, r.stderr[-2000:]
    assert len(r.verdicts) == verdicts, r.stderr[-2000:]
    assert len(r.problems) == problems, r.problems
    summary = SUMMARY.match(r.stderr.strip().splitlines()[-1])
    assert summary is not None
    assert (int(summary[1]), int(summary[2])) == (verdicts, problems)
    for v in r.verdicts:
        assert {
            "measurement_uid",
            "report_id",
            "test_name",
            "probe_cc",
            "probe_asn",
            "measurement_start_time",
            "status",
            "services",
        } <= set(v)
    return r


def has_problem(r: Run, path: Path, line: int | None, *words: str) -> None:
    where = f"{path}:{line}: " if line else f"{path}: "
    hits = [p for p in r.problems if p.startswith(where)]
    assert hits, (where, r.problems)
    assert all(w.lower() in hits[0].lower() for w in words), (words, hits[0])


@pytest.fixture(scope="module")
def good(shared_dir: Path) -> list[dict[str, Any]]:
    """Real IM measurements, each given a distinct report_id to check output order."""
    out = []
    for line in (shared_dir / "ooni-samples/more/all_im.jsonl").read_bytes().splitlines():
        d = json.loads(line)
        if d["test_name"] in ("whatsapp", "telegram", "signal", "facebook_messenger"):
            d["report_id"] = f"20240101T000000Z_{d['test_name']}_IT_30722_n1_{len(out):016d}"
            out.append(d)
    assert len(out) >= 6
    return out


def enc(d: Any) -> bytes:
    return json.dumps(d).encode()


def order(r: Run) -> list[str]:
    return [v["report_id"] for v in r.verdicts]


def ids(ms: list[dict[str, Any]]) -> list[str]:
    return [m["report_id"] for m in ms]


# --- the cases ------------------------------------------------------------------------


def test_truncated_gzip(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    data = gzip.compress(b"\n".join(enc(m) for m in good) + b"\n")
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(data[: len(data) * 2 // 3])
    # How many lines are complete before the cut, decompressing by hand.
    d = zlib.decompressobj(wbits=31)
    complete = d.decompress(data[: len(data) * 2 // 3]).count(b"\n")
    assert 0 < complete < len(good)
    r = judged([p], verdicts=complete, problems=1)
    assert order(r) == ids(good)[:complete]
    has_problem(r, p, complete + 1, "truncated")


def test_broken_json_line_among_good_ones(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    p = tmp_path / "m.jsonl"
    p.write_bytes(enc(good[0]) + b"\n" + enc(good[1])[:500] + b"\n" + enc(good[2]) + b"\n")
    r = judged([p], verdicts=2, problems=1)
    assert order(r) == [good[0]["report_id"], good[2]["report_id"]]
    has_problem(r, p, 2, "invalid JSON")


def test_json_values_that_are_not_measurements(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    p = tmp_path / "m.jsonl"
    p.write_bytes(b"\n".join([enc(good[0]), b"[1,2]", b'"x"', b"{}", b'{"a":1}', enc(good[1])]))
    r = judged([p], verdicts=2, problems=4)
    assert order(r) == ids(good[:2])
    has_problem(r, p, 2, "array", "not a measurement")
    has_problem(r, p, 3, "string", "not a measurement")
    has_problem(r, p, 4, "not an OONI measurement")
    has_problem(r, p, 5, "not an OONI measurement")


def test_only_non_measurements_is_exit_1(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_bytes(b"[1, 2]")
    r = judged([p], verdicts=0, problems=2, rc=1)
    has_problem(r, p, 1, "number")


def test_wrong_types_in_test_keys(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    bad = json.loads(enc(good[0]))
    bad["test_keys"]["tcp_connect"] = {"ip": "1.2.3.4"}
    bad["test_keys"]["queries"] = "none"
    bad["test_keys"]["requests"] = [5, {"failure": 1, "request": []}]
    bad["probe_asn"] = 30722
    p = tmp_path / "m.jsonl"
    p.write_bytes(enc(bad) + b"\n" + enc(good[1]) + b"\n")
    r = judged([p], verdicts=2, problems=0)
    assert order(r) == ids(good[:2])
    notes = " ".join(r.verdicts[0]["notes"])
    assert "test_keys.tcp_connect" in notes
    assert "test_keys.queries" in notes
    assert r.verdicts[0]["probe_asn"] == "AS30722"


def test_empty_file_only_is_exit_1(tmp_path: Path) -> None:
    p = tmp_path / "empty.jsonl"
    p.write_bytes(b"")
    r = judged([p], verdicts=0, problems=1, rc=1)
    has_problem(r, p, None, "empty file")


def test_empty_file_beside_good_one(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    e, g = tmp_path / "empty.json", tmp_path / "g.jsonl"
    e.write_bytes(b"")
    g.write_bytes(enc(good[0]))
    r = judged([e, g], verdicts=1, problems=1)
    has_problem(r, e, None, "empty file")


def test_fifty_megabyte_lines(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    """A 50 MB measurement is judged; a 50 MB broken line is one clear problem."""
    huge = json.loads(enc(good[1]))
    huge["test_keys"]["x_padding"] = "A" * (50 * 1024 * 1024)
    p = tmp_path / "huge.jsonl"
    with p.open("wb") as fh:
        fh.write(enc(good[0]) + b"\n")
        fh.write(enc(huge) + b"\n")
        fh.write(b'{"test_name": "whatsapp", "x": "' + b"B" * (50 * 1024 * 1024) + b"\n")
        fh.write(enc(good[2]) + b"\n")
    del huge
    r = judged([p], verdicts=3, problems=1)
    assert order(r) == ids(good[:3])
    has_problem(r, p, 3, "invalid JSON")
    assert max(len(x) for x in r.problems) < 500  # the problem line quotes no megabytes


def test_invalid_utf8(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    a = enc({**good[0], "software_name": "ooniprobe-XX"}).replace(b"-XX", b"-\xff\xfe")
    b = enc({**good[1], "probe_network_name": "XX"}).replace(b'"XX"', b'"\xc3("')
    p = tmp_path / "m.jsonl"
    p.write_bytes(a + b"\n" + b"\xff\xfe\xfd garbage\n" + b + b"\n" + enc(good[2]) + b"\n")
    r = judged([p], verdicts=3, problems=1)
    assert order(r) == ids(good[:3])
    assert any("UTF-8" in n for n in r.verdicts[0]["notes"])
    has_problem(r, p, 2, "invalid JSON")


def test_directory_of_mixed_files(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.jsonl").write_bytes(enc(good[0]) + b"\n" + enc(good[1]) + b"\n")
    (d / "b.json.gz").write_bytes(gzip.compress(json.dumps(good[2], indent=2).encode()))
    with tarfile.open(d / "c.tar.gz", "w:gz") as tar:
        for i, m in enumerate(good[3:5]):
            data = enc({"format": "json", "content": m})
            info = tarfile.TarInfo(f"2024010100_IT_x/{i}.post")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (d / "d.json").write_bytes(b"")
    (d / "e.jsonl").write_bytes(b"not json at all\n")
    (d / "readme.txt").write_text("ignored: not a measurement file")
    (d / "sub" / "f.jsonl.gz").write_bytes(gzip.compress(enc(good[5])))
    r = judged([d], verdicts=6, problems=2)
    assert order(r) == ids(good[:6])
    has_problem(r, d / "d.json", None, "empty")
    has_problem(r, d / "e.jsonl", 1, "invalid JSON")


def test_nonexistent_path_only_is_exit_1(tmp_path: Path) -> None:
    p = tmp_path / "nope.jsonl"
    r = judged([p], verdicts=0, problems=1, rc=1)
    has_problem(r, p, None, "no such file")


def test_nonexistent_path_beside_good_one(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    g, nope = tmp_path / "g.jsonl", tmp_path / "nope.jsonl"
    g.write_bytes(enc(good[0]))
    r = judged([nope, g], verdicts=1, problems=1)
    has_problem(r, nope, None, "no such file")


@pytest.mark.parametrize(
    "args",
    [[], ["verdicts"], ["verdicts", "--json"], ["verdicts", "--bogus", "x.jsonl"], ["nosuch"]],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    r = voipwatch(*args, parse=False)
    assert r.rc == 2, r.stderr


def test_closed_stdout_is_not_a_crash(tmp_path: Path, good: list[dict[str, Any]]) -> None:
    """``voipwatch verdicts --json … | head -1`` stops quietly."""
    p = tmp_path / "m.jsonl"
    p.write_bytes(b"\n".join(enc(m) for m in good * 300))
    with subprocess.Popen(
        [sys.executable, "-m", "voipwatch.cli", "verdicts", "--json", str(p)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr


def test_files_without_measurements_do_not_stop_ingest(
    tmp_path: Path, good: list[dict[str, Any]]
) -> None:
    # A labels file or an empty list passed by mistake leaves a part with no rows;
    # the files after it must still be stored, whichever engine prepared the parts.
    (tmp_path / "labels.json").write_bytes(b"[]")
    (tmp_path / "obj.json").write_bytes(b'{"labels": []}')
    (tmp_path / "g.jsonl").write_bytes(b"\n".join(enc(m) for m in good[:3]))
    for workers in ("1", "2"):
        db = tmp_path / f"store{workers}.duckdb"
        r = voipwatch(
            "ingest", "--json", "--workers", workers, "--db", db, *sorted(tmp_path.glob("*.json*"))
        )
        assert r.rc == 0, r.stderr[-2000:]
        counts = r.verdicts[-1]
        assert (counts["new"], counts["quarantined"]) == (3, 2), counts
