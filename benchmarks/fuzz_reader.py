#!/usr/bin/env python
"""Coverage-guided fuzzing of the measurement reader and the verdict engine (atheris).

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python benchmarks/fuzz_reader.py [--runs N] [--seconds S] [--corpus DIR]

Each input is a byte string. Its first byte picks how the rest is packaged (a
``.jsonl``, ``.json``, ``.jsonl.gz``, ``.json.gz``, postcan ``.tar.gz`` or ``.post``
file, or one JSON value handed straight to the verdict engine); the file is read with
:func:`voipwatch.ooni.reader.read_file` and every record it yields is judged with
:func:`voipwatch.verdicts.judge`. The contract under test is the one every command
relies on: a record yields a verdict, a :class:`~voipwatch.ooni.reader.Problem`, or a
:class:`voipwatch.errors.InputError` — never another exception, never a verdict that
cannot be encoded as JSON.

The fuzzer starts from the committed measurement fixtures and the nasty corpus
(``tests/fixtures/measurements``, ``tests/fixtures/nasty``) and mutates them, guided
by line coverage of ``voipwatch.ooni`` and ``voipwatch.verdicts``. A finding is
recorded (kind and place of the exception, and the input that raised it, under
``--findings``) and the run goes on, so one bug does not hide the next.

The run is bounded by ``--runs`` and ``--seconds``, whichever comes first; at the end
it prints the inputs tried, the coverage features reached, and the findings, and a
final JSON line with every figure. Exit status 1 when there was a finding.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SEEDS = (REPO / "tests" / "fixtures" / "measurements", REPO / "tests" / "fixtures" / "nasty")
# What the first byte of an input selects (modulo the count).
PACKAGINGS = ("jsonl", "json", "jsonl.gz", "json.gz", "tar.gz", "post", "value")

try:
    import atheris
except ImportError:  # pragma: no cover - the fuzz extra is optional
    sys.exit("atheris is not installed: .venv/bin/pip install -e '.[fuzz]'")

with atheris.instrument_imports(include=["voipwatch.ooni", "voipwatch.verdicts"]):
    import msgspec

    from voipwatch.errors import InputError
    from voipwatch.ooni.reader import Problem, Record, read_file
    from voipwatch.verdicts import judge, judge_bytes
    from voipwatch.verdicts.engine import RULES

_encode = msgspec.json.Encoder().encode
_tmp = Path(tempfile.mkdtemp(prefix="voipwatch-fuzz-", dir="/dev/shm"))
STATS: dict[str, Any] = {"inputs": 0, "records": 0, "verdicts": 0, "problems": 0, "errors": 0}
FINDINGS: dict[str, dict[str, Any]] = {}
FINDINGS_DIR = REPO / "benchmarks" / "out" / "fuzz-findings"


def package(kind: str, body: bytes) -> Path:
    """Write ``body`` as a file of packaging ``kind``; return its path."""
    path = _tmp / f"input.{kind}"
    if kind.endswith("gz") and kind != "tar.gz":
        # Half the time a clean stream, half the time cut short or with junk after.
        data = gzip.compress(body, compresslevel=1, mtime=0)
        if body[:1] in (b"x", b"{"):
            data = data[: max(2, len(data) * 2 // 3)]
        path.write_bytes(data)
    elif kind == "tar.gz":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for i, part in enumerate(body.split(b"\x00\x00")[:4]):
                info = tarfile.TarInfo(f"2024010100_XX/{i}.post")
                info.size = len(part)
                tar.addfile(info, io.BytesIO(part))
        path.write_bytes(buf.getvalue())
    else:
        path.write_bytes(body)
    return path


def record_finding(exc: BaseException, data: bytes) -> None:
    tb = traceback.extract_tb(exc.__traceback__)
    frame = tb[-1] if tb else None
    where = f"{frame.filename.rsplit('/src/', 1)[-1]}:{frame.lineno}" if frame else "?"
    key = f"{type(exc).__name__} at {where}"
    if key in FINDINGS:
        FINDINGS[key]["count"] += 1
        return
    FINDINGS_DIR.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    (FINDINGS_DIR / name).write_bytes(data)
    FINDINGS[key] = {"count": 1, "message": str(exc)[:200], "input": str(FINDINGS_DIR / name)}
    print(f"FINDING {key}: {str(exc)[:200]} (input {FINDINGS_DIR / name})", flush=True)


def check_judged(record: Record) -> None:
    try:
        j = judge(record)
    except InputError:
        STATS["errors"] += 1
        return
    _encode(j.verdict)
    STATS["verdicts"] += 1


LIMITS: dict[str, float] = {"runs": 0, "deadline": 0.0}


def one_input(data: bytes) -> None:
    STATS["inputs"] += 1
    if STATS["inputs"] > LIMITS["runs"] or time.monotonic() > LIMITS["deadline"]:
        finish()
    if not data:
        return
    kind = PACKAGINGS[data[0] % len(PACKAGINGS)]
    body = data[1:]
    try:
        if kind == "value":
            try:
                j = judge_bytes(body, source="fuzz", line=1)
            except InputError:
                STATS["errors"] += 1
            else:
                _encode(j.verdict)
                STATS["verdicts"] += 1
            return
        for item in read_file(package(kind, body)):
            if isinstance(item, Problem):
                STATS["problems"] += 1
                str(item)
            else:
                STATS["records"] += 1
                check_judged(item)
    except Exception as exc:
        record_finding(exc, data)


STARTED: dict[str, Any] = {}


def finish() -> None:
    """Print the figures, remove the scratch folder, and end the run."""
    figures = report(STARTED["at"], STARTED["corpus"])
    shutil.rmtree(_tmp, ignore_errors=True)
    sys.stdout.flush()
    os._exit(1 if figures["findings"] else 0)


def seed_corpus(out: Path) -> int:
    """Copy the seeds into ``out`` (libFuzzer mutates its corpus folder in place)."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for folder in SEEDS:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.suffix != ".toml" and p.stat().st_size < 1 << 20:
                raw = p.read_bytes()
                if raw[:2] == b"\x1f\x8b":
                    try:
                        raw = gzip.decompress(raw)
                    except (OSError, EOFError):
                        raw = raw[10:]
                for i, kind in enumerate(PACKAGINGS):
                    if kind in ("jsonl", "json", "value", "jsonl.gz"):
                        (out / f"{p.name}.{kind}").write_bytes(bytes([i]) + raw)
                        n += 1
    return n


def write_dictionary(path: Path) -> int:
    """Tokens for libFuzzer to splice in: every key the model declares, and JSON's odd corners."""
    from voipwatch.ooni import model

    words: set[str] = set()
    for obj in vars(model).values():
        if isinstance(obj, type) and issubclass(obj, msgspec.Struct):
            words.update(f'"{f.encode_name}":' for f in msgspec.structs.fields(obj))
    words.update(f'"{name}"' for name in RULES)
    words.update(
        [
            "NaN",
            "-Infinity",
            "1e999",
            "null",
            "true",
            "false",
            "[]",
            "{}",
            '"\\ud800"',
            '"\\u0000"',
            '"connection_reset"',
            '"generic_timeout_error"',
            '"dns_nxdomain_error"',
            '"raw_measurement":',
            '"format": "json", "content":',
        ]
    )
    lines = []
    for w in sorted(words):
        escaped = w.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'"{escaped}"')
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def report(started: float, corpus: Path) -> dict[str, Any]:
    figures = {
        **STATS,
        "seconds": round(time.monotonic() - started, 1),
        "corpus_files": sum(1 for _ in corpus.iterdir()) if corpus.is_dir() else 0,
        "findings": {k: v["count"] for k, v in FINDINGS.items()},
    }
    print(
        f"\n{figures['inputs']:,} inputs tried in {figures['seconds']} s: "
        f"{figures['records']:,} records read, {figures['verdicts']:,} verdicts, "
        f"{figures['problems']:,} problems, {figures['errors']:,} input errors; "
        f"corpus grew to {figures['corpus_files']} inputs",
        flush=True,
    )
    if FINDINGS:
        print(f"{len(FINDINGS)} finding(s):")
        for k, v in FINDINGS.items():
            print(f"  {k} x{v['count']}: {v['message']} ({v['input']})")
    else:
        print("no findings: every input gave a verdict, a problem or an InputError")
    print(json.dumps(figures), flush=True)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200_000, help="inputs to try at most")
    ap.add_argument("--seconds", type=int, default=600, help="time limit")
    ap.add_argument("--max-len", type=int, default=16384, help="longest input, bytes")
    ap.add_argument(
        "--corpus",
        type=Path,
        default=REPO / "benchmarks" / "out" / "fuzz-corpus",
        help="working corpus folder (seeded from the fixtures; grows as coverage does)",
    )
    args = ap.parse_args()
    n = seed_corpus(args.corpus)
    print(f"seeded {n} inputs from {', '.join(str(s.relative_to(REPO)) for s in SEEDS)}")
    STARTED["at"] = time.monotonic()
    STARTED["corpus"] = args.corpus
    # libFuzzer ends the process with exit() when its own limits are reached, without
    # running Python's exit handlers: the run stops itself at its limits instead.
    LIMITS["runs"] = args.runs
    LIMITS["deadline"] = STARTED["at"] + args.seconds
    dictionary = _tmp / "json.dict"
    print(f"dictionary of {write_dictionary(dictionary)} tokens (schema keys, JSON corners)")
    atheris.Setup(
        [
            sys.argv[0],
            f"-dict={dictionary}",
            f"-runs={args.runs * 10}",
            f"-max_total_time={args.seconds * 10}",
            f"-max_len={args.max_len}",
            "-print_final_stats=1",
            "-rss_limit_mb=4096",
            str(args.corpus),
        ],
        one_input,
    )
    atheris.Fuzz()
    finish()  # the corpus ran out before the limits (libFuzzer -runs reached)


if __name__ == "__main__":
    main()
