"""The probe's configuration for a simulated run (TOML for ``voipwatch probe --config``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from voipwatch.sim.plan import CONTROL_NAME, HELPER, HELPER_PORT, RESOLVER, RESOLVER_NAME, SIM_NET


def _s(text: str) -> str:
    # A JSON string is a valid TOML basic string for the characters we write.
    return json.dumps(text)


def render(ca_file: Path, overlay: Mapping[str, str], *, helper: bool = True) -> str:
    lines = [
        "# voipwatch probe configuration for a simulated world (all addresses are simulated).",
        "[probe]",
        'probe_cc = "ZZ"',
        'probe_asn = "AS0"',
        f"control_sni = {_s(CONTROL_NAME)}",
        f"ca_file = {_s(str(ca_file))}",
        f"routable = [{_s(str(SIM_NET))}]",
        "retries = 2",
        "",
        "[probe.resolvers]",
        "system = true",
        f"udp = [{_s(RESOLVER)}]",
        f"doh = [{_s(f'https://{RESOLVER_NAME}/dns-query@{RESOLVER}')}]",
        f"dot = [{_s(f'{RESOLVER}#{RESOLVER_NAME}')}]",
        "injection_window = 1.0",
        "",
        "[probe.timeouts]",
        "dns = 2",
        "connect = 3",
        "tls = 3",
        "http = 5",
        "run = 40",
        "",
    ]
    if helper:
        lines += ["[probe.helper]", f"url = {_s(f'http://{HELPER}:{HELPER_PORT}')}", ""]
    pairs = ", ".join(f"{_s(k)} = {_s(v)}" for k, v in sorted(overlay.items()))
    lines += ["[overlay]", f"ips = {{ {pairs} }}", ""]
    return "\n".join(lines)
