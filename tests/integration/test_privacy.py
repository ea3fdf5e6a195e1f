"""Privacy: no file voipwatch writes holds the address of the person who measured.

The probe runs as a user runs it (a subprocess, ``--plane all``) against the test
helpers on loopback (``voipwatch helper serve``, also a subprocess), its call-plane
sockets bound to a client address of their own, so a leak is easy to find. The
helpers' STUN answers carry that address back to the probe (XOR-MAPPED-ADDRESS) and
the TLS and SIP servers see it too. Then every file under the run's folders — the
measurements, the consent files, the store after ``voipwatch ingest`` (with each
stored raw measurement decompressed), the upload queue, the spool and the log of
the collector (``voipwatch serve --collector-spool``) the probe uploaded to from that
address, and every line the probe, the helpers and the server printed — is searched
for the address in every form it could take: dotted, packed, XOR-ed with the STUN
magic cookie, in hex and in base64. (``probe_ip`` is
``127.0.0.1``, the placeholder OONI writes for a scrubbed address, so the client's
address here is another loopback address.) The probe looked that address up to
record its country and network: the test location database knows it.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from voipwatch.locate import Mapping, write_test_db
from voipwatch.store import open_store
from voipwatch.store.rows import decompress
from voipwatch.testing import DnsServer

VOIPWATCH = [sys.executable, "-m", "voipwatch.cli"]
MAGIC = 0x2112A442
_rng = random.Random()
#: The probe's own address: unique, so that any occurrence is a leak.
CLIENT = f"127.{_rng.randint(100, 250)}.{_rng.randint(1, 250)}.{_rng.randint(2, 250)}"
HELPER = f"127.{_rng.randint(1, 99)}.{_rng.randint(1, 250)}.2"
APP = f"127.{_rng.randint(1, 99)}.{_rng.randint(1, 250)}.3"
TLS_PORT = 8443
#: The test location of the client's address: (country, AS number, network name).
LOCATION = ("XP", 64998, "Privacy Test Net")


def needles(ip: str) -> list[bytes]:
    """Every form an IPv4 address takes in text or bytes a file may hold."""
    packed = ipaddress.IPv4Address(ip).packed
    xored = struct.pack("!I", int.from_bytes(packed, "big") ^ MAGIC)
    forms = [ip.encode()]
    for raw in (packed, xored):
        forms += [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)]
    # Base64 of an address inside a longer blob depends on alignment: all three shifts.
    for shift in (1, 2):
        forms.append(base64.b64encode(b"\x00" * shift + packed)[4:8])
    return forms


def leaks(data: bytes, ip: str, *, binary: bool = True) -> list[bytes]:
    """The forms of ``ip`` found in ``data``.

    ``binary=False`` leaves out the 4-byte packed forms: in a compressed database file
    they turn up by chance (one in a thousand runs); its rows are searched in full.
    """
    return [n for n in needles(ip) if len(n) >= (4 if binary else 8) and n in data]


def env(tmp: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    e.update(
        NO_COLOR="1",
        COLUMNS="200",
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        XDG_STATE_HOME=str(tmp / "state"),
        TMPDIR=str(tmp / "tmp"),
    )
    return e


def helper(ip: str, tmp: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``voipwatch helper serve`` on ``ip``, its output kept for the scan."""
    with (tmp / f"helper-{ip}.log").open("wb") as log:
        proc = subprocess.Popen(
            [*VOIPWATCH, "helper", "serve", "--listen", ip, "--control-port", "0",
             "--tls-port", str(TLS_PORT), *extra],
            stdout=log, stderr=subprocess.STDOUT, env=env(tmp),
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while b"test helpers on" not in (tmp / f"helper-{ip}.log").read_bytes():
        assert proc.poll() is None, (tmp / f"helper-{ip}.log").read_text()
        assert time.monotonic() < deadline, "the helper did not start"
        time.sleep(0.1)
    return proc


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe's whole run on loopback; yields the folder holding everything it wrote."""
    tmp = tmp_path_factory.mktemp("privacy")
    (tmp / "tmp").mkdir()
    # The configuration names the client address on purpose: it lives apart.
    cfg = tmp_path_factory.mktemp("config") / "probe.toml"
    dns = DnsServer(
        f"127.{_rng.randint(1, 99)}.{_rng.randint(1, 250)}.4",
        {"turn3.voip.signal.org": [APP], "stun.fbsbx.com": [APP], "chat.signal.org": [APP]},
        0,
    )
    # The probe locates itself in a test database that knows the client's address, and
    # uploads (from that address) to a collector whose every file is scanned too.
    location = write_test_db(
        tmp_path_factory.mktemp("location") / "test.mmdb",
        [Mapping(f"{CLIENT}/32", *LOCATION)],
    )
    (tmp / "data").mkdir()
    with open_store(tmp / "data" / "collector.duckdb"):
        pass
    helpers = [helper(HELPER, tmp), helper(APP, tmp, "--sip-port", "0", "--sips-port", "0")]
    port = free_port()
    serve = [*VOIPWATCH, "serve", "--db", str(tmp / "data" / "collector.duckdb"),
             "--port", str(port), "--no-warm", "--collector-spool", str(tmp / "spool")]  # fmt: skip
    with (tmp / "serve.log").open("wb") as log:
        helpers.append(subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT, env=env(tmp)))
    try:
        cfg.write_text(
            f"""
[probe]
source_address = "{CLIENT}"
retries = 0
[probe.resolvers]
system = false
udp = ["{dns.address}"]
doh = []
dot = []
[probe.timeouts]
dns = 0.5
connect = 0.5
tls = 0.5
http = 0.5
run = 60.0
[probe.helper]
stun_servers = ["{APP}:3478"]
sip_servers = ["{HELPER}"]
media_seconds = 1
throughput_bytes = 100000
tls_port = {TLS_PORT}
residual_wait = 0.1
"""
        )
        out = tmp / "data" / "measurements.jsonl"
        args = ["probe", "--plane", "all", "--apps", "signal,messenger", "--yes", "--json",
                "--config", cfg, "--out", out, "--helper", HELPER, "--residual",
                "--location-db", location, "--upload", f"http://127.0.0.1:{port}",
                "--queue", tmp / "data" / "queue"]  # fmt: skip
        r = subprocess.run(
            [*VOIPWATCH, *map(str, args)], capture_output=True, env=env(tmp), timeout=300
        )
        (tmp / "probe.stdout").write_bytes(r.stdout)
        (tmp / "probe.stderr").write_bytes(r.stderr)
        assert r.returncode == 0, r.stderr.decode()[-3000:]
        assert out.stat().st_size > 0
        db = tmp / "data" / "store.duckdb"
        for cmd in (["ingest", "--db", db, out], ["verdicts", "--json", out]):
            c = subprocess.run(
                [*VOIPWATCH, *map(str, cmd)], capture_output=True, env=env(tmp), timeout=300
            )
            assert c.returncode == 0, c.stderr.decode()
            (tmp / f"{cmd[0]}.stdout").write_bytes(c.stdout)
            (tmp / f"{cmd[0]}.stderr").write_bytes(c.stderr)
    finally:
        for h in helpers:
            h.terminate()
            h.wait(timeout=30)
        dns.close()
    return tmp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_the_address_was_looked_up_and_the_measurements_uploaded(run_dir: Path) -> None:
    """The scan is meaningful for location and upload too: the client's address found
    the test location, and the measurements reached the collector's spool."""
    lines = (run_dir / "data" / "measurements.jsonl").read_text().splitlines()
    ms = [json.loads(x) for x in lines]
    cc, asn, name = LOCATION
    assert {(m["probe_cc"], m["probe_asn"], m["probe_network_name"]) for m in ms} == {
        (cc, f"AS{asn}", name)
    }
    spooled = [json.loads(p.read_text()) for p in (run_dir / "spool" / "incoming").iterdir()]
    assert sorted(m["report_id"] for m in spooled) == sorted(m["report_id"] for m in ms)
    assert list((run_dir / "data" / "queue" / "pending").iterdir()) == []


def test_the_client_address_was_really_seen(run_dir: Path) -> None:
    """The scan is meaningful: the probe's call-plane exchanges reached the helpers."""
    ms = [json.loads(x) for x in (run_dir / "data" / "measurements.jsonl").read_text().splitlines()]
    exchanges = [x for m in ms for x in m["test_keys"].get("x_exchanges") or []]
    answered = [x for x in exchanges if x.get("success") and x.get("payload") == "stun_binding"]
    assert answered, "STUN bindings were answered, each carrying the client's address"


def test_no_client_address_in_any_file(run_dir: Path) -> None:
    files = [p for p in sorted(run_dir.rglob("*")) if p.is_file()]
    assert any(p.name == "measurements.jsonl" for p in files)
    found = {}
    for p in files:
        hits = leaks(p.read_bytes(), CLIENT, binary=p.suffix not in (".duckdb", ".wal"))
        if hits:
            found[str(p.relative_to(run_dir))] = hits
    print(f"scanned {len(files)} files for {len(needles(CLIENT))} forms of {CLIENT}")
    assert found == {}


def test_no_client_address_in_the_store(run_dir: Path) -> None:
    """Inside the store, where the raw measurements are compressed: every table, every row."""
    con = duckdb.connect(str(run_dir / "data" / "store.duckdb"), read_only=True)
    try:
        names = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        tables = [t for (t,) in names]
        rows = 0
        for t in tables:
            for row in con.execute(f"SELECT * FROM {t}").fetchall():
                rows += 1
                for v in row:
                    data = v if isinstance(v, bytes) else str(v).encode()
                    assert not leaks(data, CLIENT), (t, row[:3])
        raws = con.execute("SELECT raw_zstd FROM measurements").fetchall()
    finally:
        con.close()
    assert raws
    for (blob,) in raws:
        assert not leaks(decompress(blob), CLIENT)
    print(f"scanned {rows} rows and {len(raws)} raw measurements")


def test_probe_ip_is_the_redaction_placeholder(run_dir: Path) -> None:
    """``probe_ip`` holds OONI's placeholder for a scrubbed address, never a real one."""
    ms = [json.loads(x) for x in (run_dir / "data" / "measurements.jsonl").read_text().splitlines()]
    assert {m.get("probe_ip") for m in ms} <= {"127.0.0.1", None}


def test_no_mapped_address_is_stored(run_dir: Path) -> None:
    """What the STUN answers mapped is summed up as a word, never kept as an address."""
    text = (run_dir / "data" / "measurements.jsonl").read_text()
    for key in ("mapped", "xor_mapped", "reflexive", "srflx"):
        assert key not in text.lower()
