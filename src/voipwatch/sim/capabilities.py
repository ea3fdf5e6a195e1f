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
    "tc": "iproute2",
    "turnserver": "coturn",
    "kamailio": "kamailio",
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
    "icmp_reject": "add rule inet t c udp dport 3478 reject with icmpx type port-unreachable",
    "payload": "add rule inet t c udp length >= 33 @th,96,32 0x2112a442 @th,168,8 0x01 drop",
    "dynset": (
        "add set inet t s { type ipv4_addr . ipv4_addr . inet_service; "
        "flags dynamic, timeout; timeout 60s; }\n"
        "add rule inet t c meta l4proto { tcp, udp } ip saddr . ip daddr . th dport @s drop\n"
        "add rule inet t c meta mark 0x101 add @s { ip saddr . ip daddr . udp dport } drop"
    ),
    "ct": "add rule inet t c meta l4proto udp ct direction original ip daddr != { 1.2.3.4 } drop",
}
_IPTABLES_FEATURES = {
    "string": ["-A", "FORWARD", "-p", "tcp", "-m", "string", "--algo", "bm",
               "--hex-string", "|00 00 04|test", "-j", "DROP"],
    "xt_reject": ["-A", "FORWARD", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
    "connmark": ["-t", "mangle", "-A", "FORWARD", "-p", "tcp", "-j", "CONNMARK",
                 "--set-mark", "0x11"],
    "classify": ["-t", "mangle", "-A", "POSTROUTING", "-m", "connmark", "--mark", "0x11",
                 "-j", "CLASSIFY", "--set-class", "1:11"],
    "mark": ["-t", "mangle", "-A", "FORWARD", "-p", "tcp", "-j", "MARK", "--set-mark", "0x101"],
}  # fmt: skip
# tc commands (on the scratch namespace's lo) proving each feature.
_TC_FEATURES = {
    "htb": [
        ["qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "99"],
        ["class", "add", "dev", "lo", "parent", "1:", "classid", "1:11", "htb",
         "rate", "128kbit", "ceil", "128kbit"],
    ],
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
                for cmd in _TC_FEATURES.get(feature, []):
                    netns.run(["tc", *cmd], ns=scratch)
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
