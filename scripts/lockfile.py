"""What the lock pins, against what an environment holds.

    python scripts/lockfile.py check LOCK...   list every difference; exit 1 if any
    python scripts/lockfile.py prune LOCK...   uninstall what no lock names; print the lock
                                               lines of locked packages left with files
                                               missing (another package took them), to
                                               reinstall

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


def damaged(want: dict[str, str]) -> list[str]:
    """Installed locked packages some of whose recorded files are gone."""
    out = []
    for d in metadata.distributions():
        name = canonicalize_name(d.metadata["Name"] or "")
        if name not in want or name in NOT_LOCKED:
            continue
        files = d.files or []
        if any(not Path(str(d.locate_file(f))).exists() for f in files if f.suffix != ".pyc"):
            out.append(name)
    return sorted(out)


def blocks(paths: Iterable[Path], names: set[str]) -> str:
    """The requirement blocks (pin and hashes) of ``names`` from the locks."""
    out: list[str] = []
    for path in paths:
        keep = False
        for line in path.read_text().splitlines():
            if line and line[0] not in "# ":
                m = _PIN.match(line)
                keep = m is not None and canonicalize_name(m.group(1)) in names
            if keep and not line.lstrip().startswith("#"):
                out.append(line)
    return "\n".join(out) + "\n" if out else ""


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
        broken = set(damaged(want))
        if broken:
            print(
                f"reinstalling, their files were shared: {', '.join(sorted(broken))}",
                file=sys.stderr,
            )
            sys.stdout.write(blocks([Path(p) for p in argv[1:]], broken))
        return 0
    diff = differences(want, installed())
    for line in diff:
        print(line, file=sys.stderr)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
