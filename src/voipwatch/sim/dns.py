"""unbound configurations: the public resolver, the ISP resolver, the lying resolver.

* public (internet namespace): authoritative for every simulated name through
  ``local-zone: "." static`` (anything else is NXDOMAIN, so nothing is ever
  looked up outside), on UDP/TCP 53, DoT 853 and DoH 443 ``/dns-query``;
* ISP (censor namespace, the client's system resolver): forwards to the public
  resolver, with the scenario's NXDOMAIN and bogon lies;
* lying (censor namespace): the target of ``dns_hijack_udp``'s DNAT.

unbound serves ``test.`` as an empty zone by default (RFC 6761); ``nodefault``
lets our ``voipwatch.test`` names through.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from voipwatch.sim.plan import RESOLVER

TTL = 60


def _common(name: str, workdir: Path) -> list[str]:
    return [
        "server:",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{workdir}"',
        f'  pidfile: "{workdir / f"unbound-{name}.pid"}"',
        f'  logfile: "{workdir / f"unbound-{name}.log"}"',
        "  use-syslog: no",
        "  verbosity: 1",
        "  num-threads: 1",
        "  do-ip6: no",
        "  so-reuseport: no",
        "  access-control: 0.0.0.0/0 allow",
        '  module-config: "iterator"',
        '  local-zone: "test." nodefault',
    ]


def _data(name: str, address: str) -> str:
    return f'  local-data: "{name}. {TTL} IN A {address}"'


def public_conf(workdir: Path, records: Mapping[str, str], cert: Path, key: Path) -> str:
    lines = _common("public", workdir)
    lines += [
        f"  interface: {RESOLVER}@53",
        f"  interface: {RESOLVER}@853",
        f"  interface: {RESOLVER}@443",
        "  tls-port: 853",
        "  https-port: 443",
        '  http-endpoint: "/dns-query"',
        f'  tls-service-key: "{key}"',
        f'  tls-service-pem: "{cert}"',
        "  do-not-query-localhost: yes",
        '  local-zone: "." static',
    ]
    lines += [_data(n, a) for n, a in sorted(records.items())]
    lines += ["remote-control:", "  control-enable: no", ""]
    return "\n".join(lines)


def forwarding_conf(
    name: str,
    workdir: Path,
    listen: str,
    *,
    nxdomain: set[str] | frozenset[str] = frozenset(),
    lies: Mapping[str, str] | None = None,
) -> str:
    """A resolver in the censor that forwards to the public one, lying about some names."""
    lines = _common(name, workdir)
    lines += [f"  interface: {listen}@53"]
    for n in sorted(nxdomain):
        lines.append(f'  local-zone: "{n}." always_nxdomain')
    for n, address in sorted((lies or {}).items()):
        lines += [f'  local-zone: "{n}." redirect', _data(n, address)]
    lines += [
        "forward-zone:",
        '  name: "."',
        f"  forward-addr: {RESOLVER}",
        "remote-control:",
        "  control-enable: no",
        "",
    ]
    return "\n".join(lines)
