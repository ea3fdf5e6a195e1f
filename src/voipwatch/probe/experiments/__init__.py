"""The tests: OONI's four IM experiments and ``voipwatch_<app>`` for the other apps."""

from __future__ import annotations

from voipwatch.catalog import Catalog
from voipwatch.probe.config import ProbeConfig
from voipwatch.probe.experiments.base import Experiment, Plan
from voipwatch.probe.experiments.facebook_messenger import FacebookMessenger
from voipwatch.probe.experiments.generic import Generic
from voipwatch.probe.experiments.signal import Signal
from voipwatch.probe.experiments.telegram import Telegram
from voipwatch.probe.experiments.whatsapp import WhatsApp

__all__ = ["APPS", "Experiment", "Plan", "make", "test_name"]

_OONI: dict[str, type[Experiment]] = {
    "whatsapp": WhatsApp,
    "telegram": Telegram,
    "signal": Signal,
    "messenger": FacebookMessenger,
}
#: Apps with a ``voipwatch_<app>`` test (signalling plane, catalogue-driven).
_GENERIC = ("viber", "skype", "zoom", "imo", "line", "wechat")

#: Every app ``voipwatch probe`` measures, in the order it reports them.
APPS: tuple[str, ...] = (*_OONI, *_GENERIC)
#: Other names users may type for an app.
ALIASES = {"facebook_messenger": "messenger", "facebook": "messenger", "teams": "skype"}


def test_name(app: str) -> str:
    cls = _OONI.get(app)
    return cls.test_name if cls is not None else f"voipwatch_{app}"


def make(app: str, catalog: Catalog, config: ProbeConfig) -> Experiment:
    cls = _OONI.get(app)
    if cls is not None:
        return cls(catalog, config)
    return Generic(catalog, config, app)
