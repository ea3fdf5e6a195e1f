"""Test doubles shipped with voipwatch, for its own tests and for anyone testing on it.

- loopback servers (:mod:`.loopback`): DNS (honest, injecting, silent), DNS over
  TLS, TLS/HTTP sites that reset or drop by SNI, a blackholed port, a test PKI; each
  on its own address of 127.0.0.0/8, so a measurement that mentions 127.0.0.1
  anywhere but ``probe_ip`` leaks the client's address;
- worlds: role verdicts of hand-placed blocks written through the store's insert path
  (:mod:`.verdict_world`), the countries, events and cases of the web's test store
  (:mod:`.web_world`), and worlds written from their labels, the detector's exam
  (:mod:`.labelworld`);
- call-plane exchanges as the probe writes them (:mod:`.exchanges`), and a detected
  event for what reads events (:mod:`.events`).
"""

from voipwatch.testing import labelworld
from voipwatch.testing.events import T0, event
from voipwatch.testing.exchanges import APP_IP, HELPER_IP, exchange
from voipwatch.testing.loopback import (
    PKI,
    Blackhole,
    DnsServer,
    DotServer,
    Site,
    ZoneValue,
    answer,
    is_loopback,
    loopback_ip,
    make_pki,
    sni_of,
)
from voipwatch.testing.verdict_world import (
    SERVICES,
    Block,
    Network,
    RoleRow,
    Row,
    World,
    insert,
    judgement,
)
from voipwatch.testing.web_world import CASES, COUNTRIES, DAYS, END, Country, make_events, populate

__all__ = [
    "APP_IP",
    "CASES",
    "COUNTRIES",
    "DAYS",
    "END",
    "HELPER_IP",
    "PKI",
    "SERVICES",
    "T0",
    "Blackhole",
    "Block",
    "Country",
    "DnsServer",
    "DotServer",
    "Network",
    "RoleRow",
    "Row",
    "Site",
    "World",
    "ZoneValue",
    "answer",
    "event",
    "exchange",
    "insert",
    "is_loopback",
    "judgement",
    "labelworld",
    "loopback_ip",
    "make_events",
    "make_pki",
    "populate",
    "sni_of",
]
