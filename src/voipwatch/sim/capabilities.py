"""What the simulator needs from this machine, checked before anything is built.

Each failure is one line that says what to do. Kernel features are tried for real
in a scratch namespace (reading the kernel config is not enough: the same option
can be a module that cannot be loaded here).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from voipwatch.sim import netns
from voipwatch.sim.censor import FEATURES
from voipwatch.sim.errors import SimulationError

# Binaries every world uses, and the Debian packages they come from.
BINARIES = {
    "ip": "iproute2",
    "ss": "iproute2",
    "sysctl": "procps",
    "unbound": "unbound",
    "nginx": "nginx-light",
    "nft": "nftables",
    "iptables": "iptables",
}

_NFT_BASE = "add table inet t\nadd chain inet t c { type filter hook forward priority 0; }\n"
# nft snippets (inside table inet t, chain c) and iptables rules proving each feature.
_NFT_FEATURES = {
    "nft": "",
    "numgen": "add rule inet t c numgen random mod 100 < 30 drop",
    "reject": "add rule inet t c meta l4proto tcp reject with tcp reset",
    "nat": (
        "add table ip tn\n"
        "add chain ip tn p { type nat hook prerouting priority dstnat; }\n"
        "add rule ip tn p udp dport 53 dnat to 198.18.3.53"
    ),
}
_IPTABLES_FEATURES = {
    "string": ["-A", "FORWARD", "-p", "tcp", "-m", "string", "--algo", "bm",
               "--hex-string", "|00 00 04|test", "-j", "DROP"],
    "xt_reject": ["-A", "FORWARD", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
}  # fmt: skip


def check_root() -> None:
    if os.geteuid() != 0:
        raise SimulationError(
            "the simulator needs root (it builds network namespaces): run it with sudo"
        )


def check_binaries() -> None:
    for binary, package in BINARIES.items():
        if shutil.which(binary) is None:
            raise SimulationError(
                f"{binary} is not installed (Debian package {package}): "
                "run scripts/install-system-deps"
            )


def _kinds_needing(feature: str) -> str:
    return ", ".join(k for k, f in FEATURES.items() if feature in f)


def check_kernel(features: Iterable[str], scratch: str) -> None:
    """Create each needed rule in a scratch namespace; a refusal names the recipe kinds."""
    wanted = set(features)
    try:
        netns.add(scratch)
    except SimulationError as exc:
        raise SimulationError(f"cannot create network namespaces here: {exc}") from None
    try:
        if wanted & set(_NFT_FEATURES):
            netns.run(
                ["nft", "-f", "-"],
                ns=scratch,
                input="add table inet t\n"
                "add chain inet t c { type filter hook forward priority 0; }\n",
            )
        for feature in sorted(wanted):
            script = _NFT_FEATURES.get(feature)
            rule = _IPTABLES_FEATURES.get(feature)
            try:
                if script:
                    netns.run(["nft", "-f", "-"], ns=scratch, input=script + "\n")
                elif rule:
                    netns.run(["iptables", *rule], ns=scratch)
            except SimulationError as exc:
                raise SimulationError(
                    f"this kernel cannot do {_kinds_needing(feature)} ({feature}): {exc}"
                ) from None
    finally:
        netns.delete(scratch)


def check_all(features: Iterable[str], scratch: str) -> None:
    check_root()
    check_binaries()
    check_kernel(features, scratch)
