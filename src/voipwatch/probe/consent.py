"""Informed consent before the first measurement, remembered in the user config dir."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

RISKS = """\
voipwatch is about to test whether messaging and calling apps (WhatsApp, Telegram,
Signal, Messenger, Viber, Skype, Zoom, imo, LINE, WeChat) work on this network.

What it does: it looks up the apps' server names and connects to their servers,
as the apps themselves would, and compares with neutral controls.

Risks: your network operator, and anyone else who watches this network, can see
that you are testing these apps. In some countries using or testing them is risky,
or illegal. Results are written to a file on this computer only; nothing is
uploaded. Your IP address is not recorded.
"""


def consent_file() -> Path:
    return Path(platformdirs.user_config_dir("voipwatch")) / "consent"


def has_consented() -> bool:
    return consent_file().is_file()


def remember() -> None:
    path = consent_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"consented {datetime.now(UTC).isoformat(timespec='seconds')}\n")


def interactive() -> bool:
    """Whether there is a person at a terminal to ask."""
    return sys.stdin.isatty()
