"""The plain-language headlines over both planes: every app gets a call verdict, apps
without call servers of their own borrow the generic call tests'."""

from __future__ import annotations

from typing import Any


def _verdict(test: str, *roles: tuple[str, str, str, str | None]) -> Any:
    from voipwatch.verdicts.types import RoleVerdict, Verdict

    services = [
        RoleVerdict(svc, role, "media" if "/" in role and plane == "media" else "signalling",
                    status, tech, 0.9, [])  # type: ignore[arg-type]
        for svc, role, plane, status, tech in (
            (r[0].split("/")[0], r[0], r[1], r[2], r[3]) for r in roles
        )
    ]  # fmt: skip
    return Verdict("uid", "rid", test, "0.1.0", "ZZ", "AS0", "", None, "ok", services)


def test_apps_without_call_servers_get_the_generic_call_verdict() -> None:
    """Telegram's calls have no fixed servers: the generic call tests speak for them."""
    from voipwatch.probe.summary import headlines

    lines = headlines(
        [
            _verdict("telegram", ("telegram/dc", "signalling", "ok", None)),
            _verdict("whatsapp", ("whatsapp/endpoints", "signalling", "ok", None)),
            _verdict(
                "voipwatch_call",
                ("whatsapp/relay", "media", "blocked", "stun.dpi"),
                ("stun/public", "media", "blocked", "stun.dpi"),
                ("webrtc/media", "media", "ok", None),
            ),
        ]
    )
    telegram = next(x for x in lines if x.startswith("Telegram"))
    assert telegram.startswith("Telegram messages: reachable. Calls: blocked — ")
    assert "generic call tests" in telegram
    whatsapp = next(x for x in lines if x.startswith("WhatsApp"))
    assert whatsapp.startswith("WhatsApp messages: reachable. Calls: blocked — ")
    assert "generic" not in whatsapp
    # Without the call plane measured, nothing is said about calls.
    only = headlines([_verdict("telegram", ("telegram/dc", "signalling", "ok", None))])
    assert only == ["Telegram messages: reachable."]


def test_sip_borrows_no_generic_call_verdict() -> None:
    from voipwatch.probe.summary import headlines

    lines = headlines(
        [
            _verdict(
                "voipwatch_call",
                ("sip/signalling", "signalling", "ok", None),
                ("stun/public", "media", "blocked", "stun.dpi"),
            )
        ]
    )
    assert "SIP telephony messages: reachable." in lines
