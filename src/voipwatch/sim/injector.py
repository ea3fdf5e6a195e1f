"""On-path DNS injector: forged A answers for chosen names, the genuine ones still pass.

Runs in the censor namespace, sniffing the interface toward the client with an
AF_PACKET socket. For every UDP query to port 53 (to any resolver) of a chosen name
it sends a forged answer straight back to the client, from the resolver's address,
with IP TTL 64 (the genuine answer, routed through the censor, arrives with a lower
TTL). The query itself is not touched, so the client sees two answers; which comes
first depends on timing, as on real networks.

    python -m voipwatch.sim.injector --iface r0 web.whatsapp.com=198.18.250.66 ...
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import sys
from types import FrameType

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
TYPE_A = 1
CLASS_IN = 1
TTL = 60


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def parse_query(payload: bytes) -> tuple[int, int, str, bytes] | None:
    """(id, flags, lower-case name, question bytes) of a one-question A query, else None."""
    if len(payload) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", payload[:6])
    if flags & 0x8000 or qd != 1:  # an answer, or not one question
        return None
    labels: list[str] = []
    i = 12
    while True:
        if i >= len(payload):
            return None
        n = payload[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(payload):
            return None
        labels.append(payload[i : i + n].decode("ascii", "replace").lower())
        i += n
    if i + 4 > len(payload):
        return None
    qtype, qclass = struct.unpack("!HH", payload[i : i + 4])
    if qtype != TYPE_A or qclass != CLASS_IN:
        return None
    return qid, flags, ".".join(labels), payload[12 : i + 4]


def forge(frame: bytes, names: dict[str, bytes]) -> bytes | None:
    """The Ethernet frame of a forged answer to the query in ``frame``, if it asks a name."""
    if len(frame) < 14 + 20 + 8 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP or len(ip) < ihl + 8:
        return None
    src, dst = ip[12:16], ip[16:20]
    sport, dport, ulen = struct.unpack("!HHH", ip[ihl : ihl + 6])
    if dport != 53:
        return None
    query = parse_query(ip[ihl + 8 : ihl + ulen])
    if query is None:
        return None
    qid, qflags, name, question = query
    address = names.get(name)
    if address is None:
        return None
    flags = 0x8180 | (qflags & 0x0100)  # response, recursion available, RD copied
    dns = struct.pack("!HHHHHH", qid, flags, 1, 1, 0, 0) + question
    dns += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + address
    udp_len = 8 + len(dns)
    pseudo = dst + src + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", 53, sport, udp_len, 0) + dns
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, os.getpid() & 0xFFFF, 0x4000, 64,
        socket.IPPROTO_UDP, 0, dst, src,
    )  # fmt: skip
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    # Back to where the query came from: swap the Ethernet addresses.
    return frame[6:12] + frame[0:6] + frame[12:14] + header + udp


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voipwatch.sim.injector")
    parser.add_argument("--iface", required=True)
    parser.add_argument("answers", nargs="+", metavar="NAME=ADDRESS")
    args = parser.parse_args(argv)
    names: dict[str, bytes] = {}
    for item in args.answers:
        name, _, address = item.partition("=")
        names[name.lower().rstrip(".")] = socket.inet_aton(address)
    signal.signal(signal.SIGTERM, _stop)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    sock.bind((args.iface, 0))
    print("injector ready", flush=True)
    try:
        while True:
            frame, addr = sock.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING:
                continue
            reply = forge(frame, names)
            if reply is not None:
                sock.send(reply)
    except KeyboardInterrupt:
        return 0
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
