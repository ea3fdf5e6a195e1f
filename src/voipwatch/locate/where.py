"""Where a probe run is: the command line's statement, the configuration's, or a lookup."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import msgspec

from voipwatch.catalog import load as load_catalog
from voipwatch.locate.databases import configured_paths, open_locator
from voipwatch.locate.discover import locate
from voipwatch.locate.model import UNKNOWN_ASN, UNKNOWN_CC, Location, asn_text, cc_text
from voipwatch.probe import ProbeConfig
from voipwatch.probe.experiments.calls import public_stun_servers
from voipwatch.probe.tcp import is_ip


def where(
    cfg: ProbeConfig,
    *,
    cc: str | None,
    asn: str | None,
    databases: list[str],
    env: Mapping[str, str],
) -> tuple[ProbeConfig, Location]:
    """``cfg`` with the probe's country, network and network name filled in.

    The command line (``cc``, ``asn``) wins, then values the configuration states
    (anything but ``ZZ``/``AS0``), then the lookup; the address looked up is never
    returned. Raises :class:`LocationDbError` for a database that cannot be read.
    """
    stated_cc = cc_text(cc) if cc else (cfg.probe_cc if cfg.probe_cc != UNKNOWN_CC else None)
    stated_asn = asn_text(asn) if asn else (cfg.probe_asn if cfg.probe_asn != UNKNOWN_ASN else None)
    found = Location(source="stated")
    if stated_cc is None or stated_asn is None:
        locator = open_locator(configured_paths([*databases, *cfg.location_db], env))
        found = asyncio.run(
            locate(
                locator,
                helper_url=cfg.helper.url,
                stun_address=cfg.helper.address,
                timeout=cfg.timeouts.connect,
                source_address=cfg.source_address,
                public_stun=[
                    (host, port)
                    for host, port in public_stun_servers(load_catalog(), cfg)
                    # Names go to the system resolver: only when the probe may use it.
                    if cfg.resolvers.system or is_ip(host)
                ],
            )
        )
    loc = Location(
        stated_cc or found.probe_cc,
        stated_asn or found.probe_asn,
        cfg.probe_network_name or found.probe_network_name,
        found.source,
    )
    located = msgspec.structs.replace(
        cfg,
        probe_cc=loc.probe_cc,
        probe_asn=loc.probe_asn,
        probe_network_name=loc.probe_network_name or "",
    )
    return located, loc


def describe(loc: Location) -> str:
    """One plain line on what the measurements will say about where they were taken."""
    name = f" ({loc.probe_network_name})" if loc.probe_network_name else ""
    line = f"Location recorded: {loc.probe_cc}, {loc.probe_asn}{name}; from {loc.source}."
    if loc.probe_asn == UNKNOWN_ASN:
        line += (
            " The network number is unknown (AS0): the bundled database has network names "
            "but no AS numbers; add a MaxMind-format ASN database (voipwatch locate "
            "refresh URL) or state it with --asn."
        )
    if loc.probe_cc == UNKNOWN_CC:
        line += " The country is unknown (ZZ): state it with --cc."
    return line + " Your IP address is not recorded."
