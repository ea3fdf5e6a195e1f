"""Legal and policy context per country: data files with a schema and validation.

Each ``data/legal/<cc>.toml`` says, for one country, what is documented about the
VoIP licensing regime and the regulator, the laws cited for blocking, net-neutrality
law, the incumbent operator and the international commitments a brief can point to.
``data/legal/_international.toml`` holds the commitments that apply to every country
(SDG target 9.c, Human Rights Council resolution 32/13, ICCPR Art. 19's content).

The rule the schema enforces: **every statement carries at least one source** (title
and http(s) URL), and a statement with no value is an error — what is not known is
left out, never guessed or filled with a placeholder.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import msgspec

from voipwatch.errors import InputError

Text = Annotated[str, msgspec.Meta(min_length=1)]
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://\S+$")]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
Day = Annotated[str, msgspec.Meta(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]

#: The commitments voipwatch's briefs know by id.
COMMITMENT_IDS = ("iccpr-19", "sdg-9c", "hrc-32-13")


class SourceRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: Text
    url: Url


Sources = Annotated[list[SourceRef], msgspec.Meta(min_length=1)]


class Statement(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One documented fact, with where it is documented and, if it has one, its date."""

    value: Text
    sources: Sources
    date: Day | None = None


class Incumbent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The incumbent operator; ``state_owned`` stays unset unless a source says so."""

    operator: Text
    value: Text
    sources: Sources
    state_owned: bool | None = None
    date: Day | None = None


class Commitment(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    id: Text
    value: Text
    sources: Sources
    date: Day | None = None
    scope: str = "country"  # "country", or "all" for the international file


class CountryContext(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    country: CountryCode
    name: Text
    reviewed: Day
    regulator: Statement | None = None
    voip_licensing: Statement | None = None
    laws_cited: list[Statement] = msgspec.field(default_factory=list)
    net_neutrality: Statement | None = None
    incumbent: Incumbent | None = None
    commitments: list[Commitment] = msgspec.field(default_factory=list)
    notes: list[Statement] = msgspec.field(default_factory=list)

    def statements(self) -> int:
        """How many sourced statements the file makes (for coverage tables)."""
        single = (self.regulator, self.voip_licensing, self.net_neutrality, self.incumbent)
        return (
            sum(s is not None for s in single)
            + len(self.laws_cited)
            + len(self.commitments)
            + len(self.notes)
        )

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result


class International(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reviewed: Day
    commitments: list[Commitment]


def validate(data: dict[str, Any], *, source: str = "<legal context>") -> CountryContext:
    """The context in ``data`` (a parsed TOML table), or an InputError saying what and where."""
    try:
        ctx = msgspec.convert(data, type=CountryContext)
    except msgspec.ValidationError as exc:
        raise InputError(_explain(str(exc)), source=source) from None
    stem = Path(source).stem
    if len(stem) == 2 and stem.upper() != ctx.country:
        raise InputError(f"file is named {stem} but says country = {ctx.country!r}", source=source)
    return ctx


def _explain(msg: str) -> str:
    if "sources" in msg:
        return f"every statement needs at least one source (title and http(s) URL): {msg}"
    return msg


def validate_file(path: Path) -> CountryContext:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not TOML: {exc}", source=str(path)) from None
    return validate(data, source=str(path))


def _data_dir() -> Any:
    return resources.files("voipwatch.cases").joinpath("data", "legal")


@cache
def international() -> list[Commitment]:
    """The commitments every country's brief can point to (scope "all")."""
    text = _data_dir().joinpath("_international.toml").read_text(encoding="utf-8")
    try:
        intl = msgspec.convert(tomllib.loads(text), type=International)
    except msgspec.ValidationError as exc:
        raise InputError(_explain(str(exc)), source="_international.toml") from None
    return [msgspec.structs.replace(c, scope="all") for c in intl.commitments]


@cache
def _load(cc: str) -> CountryContext | None:
    f = _data_dir().joinpath(f"{cc.lower()}.toml")
    if not f.is_file():
        return None
    ctx = validate(tomllib.loads(f.read_text(encoding="utf-8")), source=f"{cc.lower()}.toml")
    return msgspec.structs.replace(ctx, commitments=[*ctx.commitments, *international()])


def load_context(cc: str) -> CountryContext | None:
    """The legal and policy context of a country (ISO alpha-2), or None if there is none.

    Its ``commitments`` end with the international ones (``scope == "all"``).
    """
    code = cc.strip().upper()
    if len(code) != 2 or not code.isalpha():
        return None
    return _load(code)


def all_contexts() -> list[CountryContext]:
    """Every country with a context file, by country code."""
    codes = sorted(
        p.name[:2].upper()
        for p in _data_dir().iterdir()
        if p.name.endswith(".toml") and len(p.name) == 7 and not p.name.startswith("_")
    )
    return [c for c in (load_context(cc) for cc in codes) if c is not None]
