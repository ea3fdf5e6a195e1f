"""Derive voipwatch's table of censors' fingerprints from OONI's blocking-fingerprints.

OONI keeps the known blocking fingerprints in https://github.com/ooni/blocking-fingerprints
(``fingerprints_dns.csv``, ``fingerprints_http.csv``). This script reads the two files
from a checkout (or any folder holding them), checks every row, and writes the
compact table the verdict rules read:

    git clone https://github.com/ooni/blocking-fingerprints upstream
    python scripts/derive_fingerprints.py upstream src/voipwatch/ooni/data/fingerprints.json \\
        --commit "$(git -C upstream rev-parse --short HEAD)"

A table written elsewhere can be used without reinstalling: point
``$VOIPWATCH_FINGERPRINTS`` at it. Nothing is written unless both files were read
and every row checked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voipwatch.errors import FingerprintTableError
from voipwatch.ooni.fingerprints import derive, parse

LICENCE = (
    "none stated: ooni/blocking-fingerprints has no LICENSE file; its rows come from "
    "ooni/pipeline, censoredplanet/censoredplanet-analysis and "
    "citizenlab/filtering-annotations (see its Readme.md)"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "src", type=Path, help="folder with fingerprints_dns.csv, fingerprints_http.csv"
    )
    ap.add_argument("out", type=Path, help="table to write (JSON)")
    ap.add_argument("--commit", default="", help="upstream commit the files are from")
    args = ap.parse_args(argv)
    source = "ooni/blocking-fingerprints" + (f" @ {args.commit}" if args.commit else "")
    try:
        dns = (args.src / "fingerprints_dns.csv").read_text(encoding="utf-8")
        http = (args.src / "fingerprints_http.csv").read_text(encoding="utf-8")
        table = derive(dns, http, source=source, licence=LICENCE)
        checked = parse(table, source=str(args.out))
    except OSError as exc:
        print(f"derive_fingerprints: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    except FingerprintTableError as exc:
        print(f"derive_fingerprints: {exc}; nothing was written", file=sys.stderr)
        return 1
    args.out.write_bytes(table)
    print(f"{args.out}: {len(checked)} fingerprints from {source}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
