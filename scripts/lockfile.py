"""What the lock pins, against what an environment holds.

    python scripts/lockfile.py check LOCK...   list every difference; exit 1 if any
    python scripts/lockfile.py prune LOCK...   uninstall what no lock names

LOCK files are the exports in requirements/ (pip's requirements format, one
``name==version ; marker`` per package, each with its hashes). Run it with the
environment's own Python: markers are evaluated for that interpreter. Standard
library only, plus ``packaging`` (pip's own copy when the environment has no other),
so it runs before anything but pip is installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

try:
    from packaging.markers import Marker
    from packaging.utils import canonicalize_name
except ImportError:  # a bare venv: pip vendors packaging
    from pip._vendor.packaging.markers import Marker  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

#: Installed but never locked: the project itself, installed editable from the checkout.
NOT_LOCKED = frozenset({"voipwatch"})

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*(?:\\|$)")


def pins(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of the packages ``path`` pins for this interpreter."""
    out: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line or line[0] in "# ":
            continue
        m = _PIN.match(line)
        if m is None:
            raise ValueError(f"{path}:{number}: not a pinned requirement: {line[:80]!r}")
        name, version, marker = m.groups()
        if marker and not Marker(marker).evaluate():
            continue
        key = canonicalize_name(name)
        if out.get(key, version) != version:
            raise ValueError(f"{path}:{number}: {name} pinned twice ({out[key]}, {version})")
        out[key] = version
    return out


def locked(paths: Iterable[Path]) -> dict[str, str]:
    """The union of several locks; a package pinned differently in two is an error."""
    out: dict[str, str] = {}
    for path in paths:
        for name, version in pins(path).items():
            if out.get(name, version) != version:
                raise ValueError(f"{path}: {name}=={version}, another lock says {out[name]}")
            out[name] = version
    return out


def installed() -> dict[str, str]:
    """``{canonical name: version}`` of the distributions this interpreter sees."""
    return {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"]
    }


def differences(want: dict[str, str], have: dict[str, str]) -> list[str]:
    """One line per package that is missing, at another version, or not locked."""
    out = []
    for name in sorted(want.keys() | have.keys()):
        if name in NOT_LOCKED:
            continue
        if name not in have:
            out.append(f"{name}: locked at {want[name]}, not installed")
        elif name not in want:
            out.append(f"{name}: {have[name]} installed, not in the lock")
        elif want[name] != have[name]:
            out.append(f"{name}: {have[name]} installed, locked at {want[name]}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("check", "prune"):
        print(__doc__, file=sys.stderr)
        return 2
    want = locked(Path(p) for p in argv[1:])
    if argv[0] == "prune":
        extra = sorted(set(installed()) - want.keys() - NOT_LOCKED)
        if extra:
            print(f"removing packages the lock does not name: {', '.join(extra)}", file=sys.stderr)
            subprocess.run(
                [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *extra], check=True
            )
        return 0
    diff = differences(want, installed())
    for line in diff:
        print(line, file=sys.stderr)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
