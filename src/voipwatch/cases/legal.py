"""Legal and policy context per country: data files with a schema and validation.

Each ``data/legal/<cc>.toml`` says, for one country, what is documented about the
VoIP licensing regime and the regulator, the laws cited for blocking, net-neutrality
law, the incumbent operator and the international commitments a brief can point to.
``data/legal/_international.toml`` holds the commitments that apply to every country
(SDG target 9.c, Human Rights Council resolution 32/13, ICCPR Art. 19's content).

The rules the schema enforces:

* **every statement carries at least one source** (title, http(s) URL and rank) and
  an ``as_of`` date (the day, month or year the sources describe); a statement with
  no value is an error — what is not known is left out, never guessed or filled
  with a placeholder;
* sources are ranked ``official`` > ``intergovernmental`` > ``ngo`` > ``press``;
* a UN text (the international commitments, a country's treaty status) is cited to
  the UN's own domains only; where the UN page itself could not be read, the
  statement says so in its ``caveat`` rather than citing an unofficial copy;
* a treaty status (ICCPR, ICESCR) cites the UN Treaty Collection's page of that
  treaty.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from voipwatch.errors import InputError

Text = Annotated[str, msgspec.Meta(min_length=1)]
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://\S+$")]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
Day = Annotated[str, msgspec.Meta(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]

#: The commitments voipwatch's briefs know by id.
COMMITMENT_IDS = ("iccpr-19", "sdg-9c", "hrc-32-13")

Rank = Literal["official", "intergovernmental", "ngo", "press"]
#: Sources by weight, strongest first: a brief cites the strongest it has.
RANKS: tuple[Rank, ...] = ("official", "intergovernmental", "ngo", "press")

#: The UN's own domains (and their subdomains): the only places a UN text is cited to.
UN_DOMAINS = (
    "un.org",
    "ohchr.org",
    "treaties.un.org",
    "undocs.org",
    "documents.un.org",
    "digitallibrary.un.org",
    "unstats.un.org",
    "sdgs.un.org",
)

#: Treaties whose status a country file records, with the UN Treaty Collection
#: chapter IV number of each (its page is the source a status must cite).
TREATIES: dict[str, str] = {"iccpr": "IV-4", "icescr": "IV-3"}

#: Where each international commitment's text may be cited: hosts, and for the
#: resolution its document symbol in the URL.
COMMITMENT_HOSTS: dict[str, tuple[tuple[str, ...], str]] = {
    "iccpr-19": (("ohchr.org", "treaties.un.org", "un.org"), ""),
    "hrc-32-13": (
        ("undocs.org", "documents.un.org", "digitallibrary.un.org"),
        "A/HRC/RES/32/13",
    ),
    "sdg-9c": (("un.org", "unstats.un.org", "sdgs.un.org"), ""),
}


class SourceRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: Text
    url: Url
    rank: Rank


Sources = Annotated[list[SourceRef], msgspec.Meta(min_length=1)]


class Statement(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One documented fact, where it is documented, as of when, and its own date if any.

    ``caveat`` says what a reader should know about the sourcing, e.g. that the
    official page could not be read and what was read instead.
    """

    value: Text
    sources: Sources
    as_of: Day
    date: Day | None = None
    caveat: str = ""


Share = Annotated[float, msgspec.Meta(ge=0, le=100)]


class Incumbent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The incumbent operator; ``state_owned`` and ``state_share`` (the state's share of
    its capital, in percent, directly or through state bodies) stay unset unless a
    source says so. The share is the seeds of a conflict of interest: the state
    that orders a block also owns the operator that profits from it."""

    operator: Text
    value: Text
    sources: Sources
    as_of: Day
    state_owned: bool | None = None
    state_share: Share | None = None
    date: Day | None = None
    caveat: str = ""


TreatyStatus = Literal["party", "signatory", "not_signed"]


class Treaty(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A country's status under a UN treaty (``iccpr`` or ``icescr``); ``date`` is the
    ratification or accession (party) or signature (signatory)."""

    id: Literal["iccpr", "icescr"]
    status: TreatyStatus
    value: Text
    sources: Sources
    as_of: Day
    date: Day | None = None
    caveat: str = ""


class Commitment(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    id: Text
    value: Text
    sources: Sources
    as_of: Day
    date: Day | None = None
    caveat: str = ""
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
    multistakeholder: Statement | None = None
    treaties: list[Treaty] = msgspec.field(default_factory=list)
    commitments: list[Commitment] = msgspec.field(default_factory=list)
    notes: list[Statement] = msgspec.field(default_factory=list)

    def statements(self) -> int:
        """How many sourced statements the file makes (for coverage tables)."""
        single = (
            self.regulator,
            self.voip_licensing,
            self.net_neutrality,
            self.incumbent,
            self.multistakeholder,
        )
        return (
            sum(s is not None for s in single)
            + len(self.laws_cited)
            + len(self.treaties)
            + len(self.commitments)
            + len(self.notes)
        )

    def treaty(self, treaty_id: str) -> Treaty | None:
        return next((t for t in self.treaties if t.id == treaty_id), None)

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
    seen: set[str] = set()
    for t in ctx.treaties:
        if t.id in seen:
            raise InputError(f"treaties: {t.id} is given twice", source=source)
        seen.add(t.id)
        problem = treaty_problem(t)
        if problem:
            raise InputError(f"treaties: {t.id}: {problem}", source=source)
    for c in ctx.commitments:
        problem = commitment_problem(c)
        if problem:
            raise InputError(f"commitments: {c.id}: {problem}", source=source)
    return ctx


def on_un_domain(url: str, hosts: tuple[str, ...] = UN_DOMAINS) -> bool:
    """Whether ``url`` is on one of ``hosts`` or a subdomain of one."""
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in hosts)


def treaty_problem(t: Treaty) -> str:
    """Why a treaty status is not sourced as it must be, or "" when it is."""
    if not all(on_un_domain(s.url) for s in t.sources):
        return "a treaty status is cited to the UN's own domains only"
    number = TREATIES[t.id]
    if not any(
        on_un_domain(s.url, ("treaties.un.org",)) and f"mtdsg_no={number}&" in s.url + "&"
        for s in t.sources
    ):
        return f"cite the UN Treaty Collection's page of the treaty (mtdsg_no={number})"
    return ""


def commitment_problem(c: Commitment) -> str:
    """Why a UN commitment is cited to something other than the UN, or "" when it is not."""
    rule = COMMITMENT_HOSTS.get(c.id)
    if rule is None:
        return ""
    hosts, symbol = rule
    for s in c.sources:
        if not on_un_domain(s.url, hosts):
            return (
                f"a UN text is cited to the UN's own documents only ({', '.join(hosts)}): {s.url}"
            )
    if symbol and not any(symbol.lower() in s.url.lower() for s in c.sources):
        return f"cite the document {symbol} itself"
    return ""


def _explain(msg: str) -> str:
    if "sources" in msg or "`as_of`" in msg:
        return (
            "every statement needs at least one source (title, http(s) URL and rank) and an "
            f"as_of date: {msg}"
        )
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
    for c in intl.commitments:
        problem = commitment_problem(c)
        if problem:
            raise InputError(f"commitments: {c.id}: {problem}", source="_international.toml")
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
