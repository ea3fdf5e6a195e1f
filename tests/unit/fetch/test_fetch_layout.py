"""The bucket layout and the parsing of what a fetch asks for."""

from __future__ import annotations

from datetime import date

import pytest

from voipwatch.errors import UsageError
from voipwatch.fetch.bucket import OONI_ENDPOINT, RemoteObject, bucket_url
from voipwatch.fetch.layout import (
    Selection,
    api_test_name,
    day_range,
    parse_countries,
    parse_tests,
)


def test_test_names_take_the_bucket_spelling() -> None:
    assert parse_tests("web_connectivity, Facebook_Messenger,whatsapp") == (
        "webconnectivity",
        "facebookmessenger",
        "whatsapp",
    )
    assert parse_tests(None) == (
        "whatsapp",
        "telegram",
        "signal",
        "facebookmessenger",
        "stunreachability",
    )
    assert api_test_name("webconnectivity") == "web_connectivity"
    with pytest.raises(UsageError, match="unknown test name 'whatsap'"):
        parse_tests("whatsap")


def test_countries_and_days() -> None:
    assert parse_countries("ir, RU,ir") == ("IR", "RU")
    assert parse_countries(None) == ()
    with pytest.raises(UsageError, match="not a country code"):
        parse_countries("IRN")
    assert day_range(date(2024, 2, 28), date(2024, 3, 1)) == [date(2024, 2, 28), date(2024, 2, 29)]
    assert day_range(date(2024, 1, 1), None) == [date(2024, 1, 1)]
    with pytest.raises(UsageError, match="is not after"):
        day_range(date(2024, 1, 2), date(2024, 1, 1))


def test_selection_prefixes_and_keys() -> None:
    sel = Selection((date(2024, 1, 1),), ("IR",), ("whatsapp",))
    prefixes = sel.prefixes()
    assert len(prefixes) == 24
    assert prefixes[0] == "raw/20240101/00/IR/"
    assert Selection((date(2024, 1, 1),), (), ("whatsapp",)).prefixes() == ["raw/20240101/"]
    good = "raw/20240101/07/IR/whatsapp/2024010107_IR_whatsapp.n1.0.jsonl.gz"
    assert sel.wants(good)
    assert sel.wants(good.replace(".jsonl.gz", ".tar.gz"))
    assert not sel.wants(good.replace("/IR/", "/RU/").replace("_IR_", "_RU_"))
    assert not sel.wants(good.replace("whatsapp/", "telegram/"))
    assert not sel.wants(good.replace("20240101/", "20240102/"))
    assert not sel.wants(good + ".part")


def test_bucket_urls_and_checksums() -> None:
    assert bucket_url(None, None) == OONI_ENDPOINT
    assert bucket_url("http://127.0.0.1:5000/", None) == "http://127.0.0.1:5000/ooni-data-eu-fra"
    assert RemoteObject("k", 1, "d41d8cd98f00b204e9800998ecf8427e").md5 is not None
    assert RemoteObject("k", 1, "d41d8cd98f00b204e9800998ecf8427e-3").md5 is None
