"""The probe's configuration for a simulated run (TOML for ``voipwatch probe --config``).

The call-plane keys of ``[probe.helper]`` (``address``, ``stun_servers``,
``media_seconds``, ``throughput_bytes``, ``sip_servers`` (kamailio, when it
answers over TLS too), and ``residual_wait`` for a scenario that runs the residual
check) are written only when the probe's
configuration knows them: it refuses unknown keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from voipwatch.probe.config import HelperConfig
from voipwatch.sim.plan import CONTROL_NAME, HELPER, HELPER_PORT, RESOLVER, RESOLVER_NAME, SIM_NET


def _s(text: str) -> str:
    # A JSON string is a valid TOML basic string for the characters we write.
    return json.dumps(text)


class Timeouts(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The probe's timeouts in a world, in seconds (``[probe.timeouts]``).

    Shorter than the probe's own defaults: every server of a world is a veth away.
    A scenario may shorten them further where it drops a path (``[timeouts]`` in its
    file): a dropped path times out whatever the wait, so the verdicts stay the same
    and only the waiting is shorter.
    """

    dns: float = 2.0
    connect: float = 3.0
    tls: float = 3.0
    http: float = 5.0
    run: float = 40.0


MEDIA_SECONDS = 2
THROUGHPUT_BYTES = 1_000_000
MEDIA_KEYS = ("address", "stun_servers", "media_seconds", "throughput_bytes")


def probe_knows_media_keys() -> bool:
    """Whether ``voipwatch probe``'s configuration accepts the call-plane helper keys."""
    return set(MEDIA_KEYS) <= set(HelperConfig.__struct_fields__)


def render(
    ca_file: Path,
    overlay: Mapping[str, str],
    *,
    helper: bool = True,
    media_helper: str = "",
    stun_servers: Sequence[str] = (),
    media_keys: bool | None = None,
    residual_wait: float = 0.0,
    sip_servers: Sequence[str] = (),
    location_db: Path | None = None,
    timeouts: Timeouts | None = None,
) -> str:
    """The TOML; ``media_keys`` forces the call-plane keys on or off (default: when the
    probe knows them). ``location_db`` is the world's test location database: the
    probe locates itself in it as it would in a real one."""
    t = timeouts or Timeouts()
    lines = [
        "# voipwatch probe configuration for a simulated world (all addresses are simulated).",
        "[probe]",
        f"control_sni = {_s(CONTROL_NAME)}",
        f"ca_file = {_s(str(ca_file))}",
        f"routable = [{_s(str(SIM_NET))}]",
        "retries = 2",
        *([f"location_db = [{_s(str(location_db))}]"] if location_db else []),
        "",
        "[probe.resolvers]",
        "system = true",
        f"udp = [{_s(RESOLVER)}]",
        f"doh = [{_s(f'https://{RESOLVER_NAME}/dns-query@{RESOLVER}')}]",
        f"dot = [{_s(f'{RESOLVER}#{RESOLVER_NAME}')}]",
        "injection_window = 1.0",
        "",
        "[probe.timeouts]",
        f"dns = {t.dns:g}",
        f"connect = {t.connect:g}",
        f"tls = {t.tls:g}",
        f"http = {t.http:g}",
        f"run = {t.run:g}",
        "",
    ]
    helper_lines = [f"url = {_s(f'http://{HELPER}:{HELPER_PORT}')}"] if helper else []
    if probe_knows_media_keys() if media_keys is None else media_keys:
        if media_helper:
            helper_lines.append(f"address = {_s(media_helper)}")
        helper_lines += [
            f"stun_servers = [{', '.join(_s(x) for x in stun_servers)}]",
            f"media_seconds = {MEDIA_SECONDS}",
            f"throughput_bytes = {THROUGHPUT_BYTES}",
        ]
        if sip_servers:
            helper_lines.append(f"sip_servers = [{', '.join(_s(x) for x in sip_servers)}]")
        if residual_wait:
            helper_lines.append(f"residual_wait = {residual_wait:g}")
    if helper_lines:
        lines += ["[probe.helper]", *helper_lines, ""]
    pairs = ", ".join(f"{_s(k)} = {_s(v)}" for k, v in sorted(overlay.items()))
    lines += ["[overlay]", f"ips = {{ {pairs} }}", ""]
    return "\n".join(lines)
