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
or illegal. Results are written to a file on this computer; nothing is uploaded
unless you ask for it (--upload). To record your country and network, the probe
asks the test helper for your public address and looks it up on this computer;
your IP address is not recorded.
"""

UPLOAD_RISKS = """\
voipwatch is about to send these measurements to a collector (--upload), which
publishes them or passes them to people who document blocking.

What is sent: the measurements as written to your file: which apps' servers were
tested and how they answered, with the time, your country and your network (its
AS number and name). Not your IP address, nor your name.

Risks: anyone who reads the published data can see that someone on your network,
in your country, tested these apps at that time. On a small network that may point
at you. The collector sees your address while it receives the upload (as any web
server does); voipwatch's collector does not write it down.
"""


def consent_file() -> Path:
    return Path(platformdirs.user_config_dir("voipwatch")) / "consent"


def upload_consent_file() -> Path:
    return Path(platformdirs.user_config_dir("voipwatch")) / "upload-consent"


def has_consented(*, upload: bool = False) -> bool:
    """Whether the user agreed to measure (``upload``: and to upload measurements)."""
    return (upload_consent_file() if upload else consent_file()).is_file()


def remember(*, upload: bool = False) -> None:
    path = upload_consent_file() if upload else consent_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"consented {datetime.now(UTC).isoformat(timespec='seconds')}\n")


def interactive() -> bool:
    """Whether there is a person at a terminal to ask."""
    return sys.stdin.isatty()
