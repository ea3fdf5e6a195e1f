"""Every verdict on the real samples and the committed fixtures, byte for byte.

Judging is made faster without changing what it says: each measurement under
``../shared/ooni-samples``, ``tests/fixtures`` and the demo data is judged and the
whole :class:`~voipwatch.verdicts.Judgement` (key, verdict, observations) encoded to
JSON; the SHA-256 over a file's judgements must equal the one in
``fixtures/verdicts_golden.tsv``, written by the engine before it was optimised. A
change of what a rule says (which bumps ``RULES_VERSION``) regenerates the file, on
purpose and in its own commit::

    python tests/integration/test_verdicts_golden.py
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec

from voipwatch.errors import InputError
from voipwatch.ooni.reader import Problem, read_paths
from voipwatch.verdicts import judge_bytes

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
GOLDEN = REPO / "tests" / "fixtures" / "verdicts_golden.tsv"
#: (root, folder under it); sources are named relative to their root.
SOURCES = (
    (SHARED, "ooni-samples"),
    (REPO, "tests/fixtures/measurements"),
    (REPO, "tests/fixtures/nasty"),
    (REPO, "src/voipwatch/demo_data"),
)


def rows(shared: Path = SHARED) -> Iterator[str]:
    """One ``source<TAB>records<TAB>digest`` row per file with records judged (or refused)."""
    encoder = msgspec.json.Encoder()
    for root, folder in SOURCES:
        base = shared if root == SHARED else root
        current, count, digest = "", 0, hashlib.sha256()
        for item in read_paths([base / folder]):
            if isinstance(item, Problem):
                continue  # the reader's business, not the judge's
            source = Path(item.source).relative_to(base).as_posix()
            if source != current:
                if count:
                    yield f"{current}\t{count}\t{digest.hexdigest()}"
                current, count, digest = source, 0, hashlib.sha256()
            try:
                j = judge_bytes(item.raw, source=source, line=item.line, uid=item.uid)
                body = encoder.encode(j)
            except InputError as exc:
                body = f"refused: {exc}".encode()
            count += 1
            digest.update(b"%d\n%s\n" % (item.line, body))
        if count:
            yield f"{current}\t{count}\t{digest.hexdigest()}"


def test_every_verdict_is_byte_identical_to_the_golden(shared_dir: Path) -> None:
    expected = GOLDEN.read_text().splitlines()
    got = list(rows(shared_dir))
    assert sum(int(r.split("\t")[1]) for r in got) > 7000, "the samples were not all found"
    changed = sorted(set(got) ^ set(expected))
    assert not changed, f"{len(changed)} rows differ: " + "; ".join(changed[:6])
    assert got == expected


if __name__ == "__main__":
    GOLDEN.write_text("".join(r + "\n" for r in rows()))
    print(f"wrote {GOLDEN}", file=sys.stderr)
