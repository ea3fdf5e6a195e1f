"""A tier's answer for one section of a dossier, or the reason it has none.

A page still renders when one tier cannot answer (a store that predates events, an
event that is not priced): the section says why instead, and the rest stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from voipwatch.errors import VoipwatchError

T = TypeVar("T")


class Unavailable(VoipwatchError):
    """A tier the request needs is not part of this build (HTTP 503)."""


@dataclass(frozen=True, slots=True)
class Tier(Generic[T]):
    """``value`` when the tier answered, else ``None`` and ``why`` in words."""

    value: T | None
    why: str | None = None


def attempt(read: Callable[[], T]) -> Tier[T]:
    """``read()``'s answer, or the domain error's words (a missing tier, a refusal)."""
    try:
        return Tier(read())
    except VoipwatchError as exc:
        return Tier(None, str(exc))
