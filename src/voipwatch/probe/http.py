"""A minimal HTTP/1.1 client over an open stream (plain or TLS).

Enough for OONI's IM tests (one GET or POST, ``Connection: close``, no redirects
followed, as probe-cli's urlgetter with the experiments' settings) and for DoH.
Bodies are kept up to 4 KiB (df-001 ``body_is_truncated``).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field

from voipwatch.probe.errors import ProbeFailure
from voipwatch.probe.measurement import JsonObject

BODY_LIMIT = 4096
_HEAD_LIMIT = 1 << 16

#: probe-cli's default headers (model.HTTPHeaderUserAgent etc.), version scrubbed as OONI does.
DEFAULT_HEADERS = (
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.9"),
    (
        "User-Agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ),
)


@dataclass(slots=True)
class Response:
    code: int
    headers_list: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in reversed(self.headers_list):
            if k.lower() == low:
                return v
        return None


def maybe_binary(data: bytes) -> str | dict[str, str]:
    """df-001 ``MaybeBinaryData``: text as a string, anything else as base64."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"format": "base64", "data": base64.b64encode(data).decode("ascii")}


def request_record(
    url: str, method: str, headers: list[tuple[str, str]], body: bytes = b""
) -> JsonObject:
    return {
        "url": url,
        "method": method,
        "headers": dict(headers),
        "headers_list": [list(h) for h in headers],
        "body": maybe_binary(body),
        "body_is_truncated": False,
        "x_transport": "tcp",
    }


def response_record(r: Response) -> JsonObject:
    return {
        "code": r.code,
        "headers": dict(r.headers_list),
        "headers_list": [list(h) for h in r.headers_list],
        "body": maybe_binary(r.body),
        "body_is_truncated": r.truncated,
    }


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    timeout: float,
    body_limit: int = BODY_LIMIT,
) -> Response:
    """Send one request and read the response head and up to 4 KiB of body."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    async with asyncio.timeout(timeout):
        writer.write(data)
        await writer.drain()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise ProbeFailure("http_invalid_response") from None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise ProbeFailure("eof_error") from None
            raise ProbeFailure("http_invalid_response") from None
        resp = _parse_head(head)
        if method == "HEAD" or resp.code in (204, 304) or 100 <= resp.code < 200:
            return resp
        length = resp.header("Content-Length")
        want = body_limit
        if length is not None and length.strip().isdigit():
            want = min(int(length), body_limit)
            resp.truncated = int(length) > body_limit
        chunks: list[bytes] = []
        got = 0
        while got < want:
            chunk = await reader.read(want - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        resp.body = b"".join(chunks)
        if length is None and got >= body_limit:
            resp.truncated = True
        return resp


def _parse_head(head: bytes) -> Response:
    text = head.decode("latin-1")
    status, *rest = text.split("\r\n")
    parts = status.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProbeFailure("http_invalid_response")
    resp = Response(int(parts[1]))
    for line in rest:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if sep:
            resp.headers_list.append((k.strip(), v.strip()))
    return resp
