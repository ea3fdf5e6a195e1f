"""Self-location: country, AS number and network name from a location database, for
the address the test helper saw — and that address kept nowhere.

The databases are real MaxMind-format files (written by mmdb-writer, read by
maxminddb) and the bundled geoip2fast data; the helpers are the project's own
control helper (``whoami``) and UDP service (STUN binding) on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from voipwatch.cli import app
from voipwatch.errors import FetchError, LocationDbError
from voipwatch.helper import control, echo
from voipwatch.locate import (
    ENV,
    UNKNOWN,
    Location,
    Mapping,
    configured_paths,
    describe,
    locate,
    open_locator,
    refresh,
    where,
    write_test_db,
)
from voipwatch.locate.records import country_of, network_of
from voipwatch.probe import parse_config

LOOPBACK_NET = "127.0.0.0/8"


@pytest.fixture
def test_db(tmp_path: Path) -> Path:
    return write_test_db(
        tmp_path / "test.mmdb",
        [
            Mapping(LOOPBACK_NET, "XL", 64500, "Loopback Test Net"),
            Mapping("198.18.0.0/24", "XA", 64512, "Sim Client Net"),
            Mapping("2001:db8::/32", "XB", 64513, "Doc Net v6"),
        ],
    )


@pytest.mark.parametrize(
    ("record", "cc", "asn", "name"),
    [
        # GeoLite2-Country / DB-IP lite / OONI probe-assets country
        ({"country": {"iso_code": "IT", "names": {"en": "Italy"}}}, "IT", "AS0", None),
        ({"registered_country": {"iso_code": "ir"}}, "IR", "AS0", None),
        # GeoLite2-ASN / DB-IP ASN / OONI probe-assets ASN
        (
            {"autonomous_system_number": 30722, "autonomous_system_organization": "Vodafone"},
            "ZZ",
            "AS30722",
            "Vodafone",
        ),
        # IPinfo lite and country_asn
        (
            {"country_code": "DE", "asn": "AS3320", "as_name": "Deutsche Telekom AG"},
            "DE",
            "AS3320",
            "Deutsche Telekom AG",
        ),
        ({"country": "FR", "asn": "as3215", "as_name": " Orange "}, "FR", "AS3215", "Orange"),
        # Nonsense is unknown, never an exception
        ({"country": {"iso_code": 7}, "asn": "ASx", "as_name": ""}, "ZZ", "AS0", None),
        ({"autonomous_system_number": -5, "country": ["IT"]}, "ZZ", "AS0", None),
        ({}, "ZZ", "AS0", None),
    ],
)
def test_field_names_of_the_common_databases(
    record: dict[str, object], cc: str, asn: str, name: str | None
) -> None:
    assert country_of(record) == cc
    assert network_of(record) == (asn, name)


def test_lookup_in_a_test_database(test_db: Path) -> None:
    loc = open_locator([test_db], bundled=False)
    assert loc.lookup("127.9.8.7") == Location("XL", "AS64500", "Loopback Test Net", "test.mmdb")
    assert loc.lookup("2001:db8::1").probe_asn == "AS64513"
    assert loc.lookup("192.0.2.1") == UNKNOWN
    assert loc.lookup("not an address") == UNKNOWN


def test_the_bundled_database_knows_countries_and_names_not_numbers() -> None:
    """geoip2fast's data (GeoLite2): a real database our code did not write."""
    found = open_locator([]).lookup("8.8.8.8")
    assert (found.probe_cc, found.probe_asn) == ("US", "AS0")
    assert found.probe_network_name  # GOOGLE, in the 2024 data
    assert open_locator([]).lookup("10.1.2.3") == UNKNOWN  # private: nowhere


def test_a_configured_database_gives_the_number_the_bundled_one_lacks(tmp_path: Path) -> None:
    asn_only = tmp_path / "asn.mmdb"
    write_test_db(asn_only, [Mapping("8.8.8.0/24", "", 15169, "GOOGLE-TEST")])
    found = open_locator([asn_only]).lookup("8.8.8.8")
    assert (found.probe_cc, found.probe_asn, found.probe_network_name) == (
        "US",
        "AS15169",
        "GOOGLE-TEST",
    )
    assert "asn.mmdb" in found.source
    assert "geoip2fast" in found.source


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a database at all")
    with pytest.raises(LocationDbError, match=r"bad\.mmdb: not a usable location database"):
        open_locator([bad])
    with pytest.raises(LocationDbError, match=r"missing\.mmdb"):
        open_locator([tmp_path / "missing.mmdb"])


def test_which_databases_are_used(tmp_path: Path, test_db: Path) -> None:
    other = tmp_path / "other.mmdb"
    assert configured_paths([str(test_db)], {ENV: str(other)}) == [test_db]
    assert configured_paths([], {ENV: f"{test_db}:{other}"}) == [test_db, other]


async def _locate_with_helpers(db: Path) -> tuple[Location, Location, Location]:
    server = await control.start("127.0.0.1", 0)
    udp = await echo.start_udp("127.0.0.1", [0])
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        stun_port = udp[0][0].get_extra_info("sockname")[1]
        locator = open_locator([db], bundled=False)
        by_http = await locate(locator, helper_url=url, timeout=2)
        by_stun = await locate(
            locator, stun_address="127.0.0.1", stun_port=stun_port, timeout=2,
            source_address="127.3.4.5",
        )  # fmt: skip
        # No helper at all: a public STUN server (here the helper's UDP service) tells.
        by_public = await locate(
            locator, public_stun=[("127.0.0.9", 9), ("127.0.0.1", stun_port)], timeout=1
        )
        assert by_public == by_stun
        # A helper that does not answer: unknown, and said why.
        nobody = await locate(locator, helper_url="http://127.0.0.1:9", timeout=0.5)
    finally:
        server.close()
        for t, _ in udp:
            t.close()
    return by_http, by_stun, nobody


def test_locate_asks_the_helper_and_keeps_only_the_location(test_db: Path) -> None:
    by_http, by_stun, nobody = asyncio.run(_locate_with_helpers(test_db))
    assert by_http == Location("XL", "AS64500", "Loopback Test Net", "test.mmdb")
    assert by_stun == by_http
    assert not nobody.known
    assert "no test helper or STUN server" in nobody.source
    # A Location has no field that could carry the address.
    assert set(Location.__dataclass_fields__) == {
        "probe_cc",
        "probe_asn",
        "probe_network_name",
        "source",
    }


def test_stated_values_win_over_the_lookup(test_db: Path) -> None:
    # No public STUN server either: nothing leaves this machine.
    cfg = parse_config(
        f'[probe]\nlocation_db = ["{test_db}"]\n[probe.helper]\nstun_servers = []'.encode()
    )
    # No helper: nothing to look up with, and the statement is kept.
    located, loc = where(cfg, cc="it", asn="30722", databases=[], env={})
    assert (located.probe_cc, located.probe_asn) == ("IT", "AS30722")
    assert loc.source == "stated"
    stated = parse_config(b'[probe]\nprobe_cc = "DE"\n[probe.helper]\nstun_servers = []\n')
    located, loc = where(stated, cc=None, asn=None, databases=[], env={})
    assert (located.probe_cc, located.probe_asn) == ("DE", "AS0")
    assert "no test helper or STUN server" in loc.source
    assert "AS0" in describe(loc)
    assert "not recorded" in describe(loc)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _files(folder: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_refresh_replaces_a_database_whole_or_not_at_all(tmp_path: Path, test_db: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "new.mmdb").write_bytes(test_db.read_bytes())
    (served / "junk.mmdb").write_bytes(b"<html>not found</html>")
    dest = tmp_path / "kept" / "location.mmdb"
    with _files(served) as base, httpx.Client(timeout=10) as client:
        assert refresh(f"{base}/new.mmdb", dest, client=client) == test_db.stat().st_size
        before = dest.read_bytes()
        with pytest.raises(LocationDbError):
            refresh(f"{base}/junk.mmdb", dest, client=client)
        with pytest.raises(FetchError, match="HTTP 404"):
            refresh(f"{base}/absent.mmdb", dest, client=client)
        with pytest.raises(FetchError, match="larger than"):
            refresh(f"{base}/new.mmdb", dest, client=client, max_bytes=100)
    assert dest.read_bytes() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["location.mmdb"]  # no leftovers
    assert open_locator([dest], bundled=False).lookup("127.0.0.1").probe_cc == "XL"


def test_locate_refresh_command(tmp_path: Path, test_db: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "GeoLite2-Test.mmdb").write_bytes(test_db.read_bytes())
    (served / "junk.mmdb").write_bytes(b"junk")
    dest = tmp_path / "db.mmdb"
    with _files(served) as base:
        ok = CliRunner().invoke(
            app, ["locate", "refresh", f"{base}/GeoLite2-Test.mmdb", "--out", str(dest)]
        )
        bad = CliRunner().invoke(
            app, ["locate", "refresh", f"{base}/junk.mmdb", "--out", str(dest)]
        )
    assert ok.exit_code == 0, ok.output
    assert dest.read_bytes() == test_db.read_bytes()
    assert bad.exit_code == 1
    assert "not a usable location database" in bad.output
    assert "is unchanged" in bad.output
    assert "Traceback" not in bad.output
    assert dest.read_bytes() == test_db.read_bytes()
