"""Importers of documented cases: names, the three source formats, our own, and bad input."""

from __future__ import annotations

import json
from datetime import date

import pytest

from voipwatch.cases.importers import detect_format, read_cases
from voipwatch.cases.names import _names, app_for, app_ids, country_code, services_in
from voipwatch.errors import InputError

TODAY = date(2026, 11, 22)

STOP_HEADER = (
    "start_date_type,start_date,country,geo_scope,area_name,shutdown_type,affected_network,"
    "shutdown_extent,ordered_by,actual_cause,info_source_link,shutdown_status,end_date,duration,"
    "gov_justification,legal_method,facebook_affected,whatsapp_affected,telegram_affected,"
    "other_affected,telcos_involved,event,an_link,count_year\n"
)


def stop_csv(*rows: str) -> bytes:
    return (STOP_HEADER + "".join(r + "\n" for r in rows)).encode()


CENALERT_HEADER = (
    "country,country_code,affected_regions,start_date,end_date,cause,affected_services,link,"
    "source\n"
)


def test_names_map_free_text_to_catalogue_apps() -> None:
    assert services_in("Facebook Messenger, WhatsApp web interface") == (
        ["messenger", "whatsapp"],
        [],
    )
    assert services_in("Blocking of Whatsapp/Telegram") == (["telegram", "whatsapp"], [])
    assert services_in("Blocking Signal (along with other social media amid protests)")[0] == [
        "signal"
    ]
    # "Second line" is an app of its own, "IMO messenger" is imo, not Messenger.
    assert services_in("Element, Second line, Zangi, IMO messenger") == (["imo"], [])
    assert services_in("Viber and Line")[0] == ["line", "viber"]
    assert services_in("Twitter, Facebook, Instagram") == ([], ["facebook", "instagram", "twitter"])
    assert services_in("VoIP")[0] == ["voip"]
    assert services_in("Unspecified messaging and social media services")[0] == ["messaging"]
    assert app_for("WhatsApp") == "whatsapp"
    assert app_for("Facebook Messenger") == "messenger"
    assert app_for("tinder") is None


def test_names_file_names_only_catalogue_apps() -> None:
    assert set(_names().apps) - {"voip", "messaging"} <= app_ids()


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Iran (Islamic Republic of)", "IR"),
        ("Congo (Democratic Republic of the)", "CD"),
        ("Russia", "RU"),
        ("Türkiye", "TR"),
        ("Viet Nam", "VN"),
        ("BR", "BR"),
        ("Somaliland", "SO"),
        ("Atlantis", None),
    ],
)
def test_country_names(name: str, code: str | None) -> None:
    assert country_code(name) == code


def test_ooni_incidents() -> None:
    doc = {
        "incidents": [
            {
                "id": "1",
                "title": "Brazil blocked Telegram",
                "start_time": "2023-04-27T00:00:00.000000Z",
                "end_time": "2023-04-29T00:00:00.000000Z",
                "CCs": ["BR"],
                "ASNs": [28573, 26599],
                "test_names": ["telegram"],
                "tags": ["brazil", "telegram", "censorship"],
                "links": [],
                "published": True,
            },
            {
                "id": "2",
                "title": "Russia blocked Viber",
                "start_time": "2024-12-13T00:00:00Z",
                "end_time": None,
                "CCs": ["RU"],
                "ASNs": [],
                "test_names": ["web_connectivity"],
                "tags": ["viber"],
            },
            {
                "id": "3",
                "title": "Spain blocks a website",
                "start_time": "2020-02-01T00:00:00Z",
                "CCs": ["ES"],
                "test_names": ["web_connectivity"],
                "tags": ["censorship"],
            },
        ]
    }
    data = json.dumps(doc).encode()
    assert detect_format(data) == "ooni"
    b = read_cases(data, file="incidents.json", today=TODAY)
    assert not b.problems
    assert b.skipped == {"names no calling or messaging app": 1}
    br, ru = b.records
    assert (br.country, br.apps, br.asns, br.start, br.end) == (
        "BR",
        ["telegram"],
        [26599, 28573],
        date(2023, 4, 27),
        date(2023, 4, 29),
    )
    assert br.links == ["https://explorer.ooni.org/findings/1"]
    assert (ru.apps, ru.end, ru.end_status) == (["viber"], None, "ongoing")


def test_stop_sheet_dirty_cells() -> None:
    data = stop_csv(
        # A block listed once per year, the area respelled: one record from the latest row.
        "Actual,2021-01-25,Iran (Islamic Republic of),,National,Shutdown,,Service-based,,"
        "Information control,https://a.example/1,,,,,,No,No,No,Signal,,first,,2021",
        "Actual,2021-01-25,Iran (Islamic Republic of),,Nationwide,Shutdown,,Service-based,,"
        "Information control,https://a.example/2,Ongoing,,,,,No,No,No,Signal,,later,,2022",
        # Estimated onset, an end before the start (dropped), operators by name.
        "Estimated,2020-06-19,Belarus,,Minsk,Shutdown,Mobile,Service-based,Executive government,"
        "Protests,,Ended,2020-06-16,-2,Unknown,Government order,No,No,Yes,Viber,"
        '"Belarus: A1, Belarus: MTS",e,,2020',
        # A full shutdown without an end but with a plausible duration in hours.
        ",2019-06-11,Ethiopia,,Nationwide,Shutdown,,Full network,,Exam cheating,,,,72"
        ",,,,,,,,,,2019",
        # A dirty duration and no end: no end is guessed.
        ",2019-07-01,Ethiopia,,Tigray,Shutdown,,Full network,,Conflict,,,,Curfew Style"
        ",,,,,,,,,,2019",
        # A service block of no calling or messaging app is out of scope.
        ",2019-07-02,Turkey,,Nationwide,Shutdown,,Service-based,,,,,,,,,Yes,No,No,,,,,2019",
    )
    assert detect_format(data) == "stop"
    b = read_cases(data, file="stop.csv", today=TODAY)
    assert not b.problems
    assert b.skipped["repeats a block of another year's row"] == 1
    assert b.skipped["service block of no calling or messaging app"] == 1
    assert b.notes == {"end before start (end dropped)": 1, "end estimated from duration": 1}
    ir, by, et, et2 = b.records
    assert (ir.apps, ir.end_status, ir.title, ir.region) == (["signal"], "ongoing", "later", "")
    assert ir.links == ["https://a.example/1", "https://a.example/2"]
    assert (by.start_precision, by.end, by.operators, by.legal_basis) == (
        "estimated",
        None,
        ["A1", "MTS"],
        "Government order",
    )
    assert by.apps == ["telegram", "viber"]
    assert (et.kind, et.apps, et.end, et.end_precision) == (
        "full_shutdown",
        [],
        date(2019, 6, 14),
        "estimated",
    )
    assert (et2.end, et2.region) == (None, "Tigray")


def test_a_stop_row_with_more_cells_than_the_header_is_a_problem_naming_its_line() -> None:
    row = (
        ",2019-06-11,Ethiopia,,Nationwide,Shutdown,,Full network,,Exam cheating,,,,72,,,,,,,,,,2019"
    )
    b = read_cases(stop_csv(row, row + ",extra"), file="stop.csv", source="stop", today=TODAY)
    assert [str(p) for p in b.problems] == ["stop.csv:3: more cells than the header has columns"]
    assert b.rows == 2
    assert len(b.records) == 1


def test_stop_record_ids_survive_a_newer_copy() -> None:
    row = (
        "Actual,2021-01-25,Iran (Islamic Republic of),,National,Shutdown,,Service-based,,,,,,"
        ",,,No,No,No,Signal,,,,2021"
    )
    later = row.replace("National", "Nationwide").removesuffix("2021") + "2022"
    one = read_cases(stop_csv(row), file="a.csv", today=TODAY).records
    two = read_cases(stop_csv(row, later), file="b.csv", today=TODAY).records
    assert [r.record_id for r in one] == [r.record_id for r in two]


def test_cenalert_list() -> None:
    data = (
        CENALERT_HEADER + 'Brazil,BR,National,2023-04-26,2023-04-29,,"Telegram, Blocking Telegram",'
        'https://x.example/1,"Access Now, NetBlocks"\n'
        + "country,country_code,affected_regions,start_date,end_date,cause,affected_services,"
        "link,source\n"
        + "Italy,IT,,2020-03-10,,,VPNs,,Other\n"
        + "Morocco,MA,,2016-02-16,2016-11-04,,VoIP,,Access Now\n"
        + "Mali,ML,,2018-08-11,,,Social media and messaging services,,NetBlocks\n"
    ).encode()
    assert detect_format(data) == "cenalert"
    b = read_cases(data, file="All.csv", today=TODAY)
    assert not b.problems
    br, ma, ml = b.records
    assert (ml.kind, ml.apps) == ("service_block", [])
    assert (br.apps, br.reported_by, br.end) == (
        ["telegram"],
        ["Access Now", "NetBlocks"],
        date(2023, 4, 29),
    )
    assert (ma.kind, ma.apps) == ("voip_only", [])
    assert sum(b.skipped.values()) == 1


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (CENALERT_HEADER + "Atlantis,,,2020-01-01,,,WhatsApp,,OONI\n", "unknown country"),
        (CENALERT_HEADER + "Atlantis,QQ,,2020-01-01,,,WhatsApp,,OONI\n", "unknown country"),
        (CENALERT_HEADER + "Brazil,BR,,2031-01-01,,,WhatsApp,,OONI\n", "in the future"),
        (CENALERT_HEADER + "Brazil,BR,,01/02/2020,,,WhatsApp,,OONI\n", "is not a date"),
        (CENALERT_HEADER + "Brazil,BR,,2020-01-01,,,WhatsApp,,OONI,extra\n", "more cells"),
        (
            '{"country": "BR", "kind": "service_block", "start": "2020-01-01", "apps": ["tinder"]}',
            "unknown app",
        ),
        ('{"country": "BR", "kind": "block", "start": "2020-01-01", "apps": ["whatsapp"]}', "kind"),
        ('{"country": "BR", "kind": "service_block", "start": "2020-01-01", "apps": [', "JSON"),
    ],
)
def test_bad_records_are_problems(data: str, fragment: str) -> None:
    b = read_cases(data.encode(), file="bad", today=TODAY)
    assert b.problems
    assert fragment in str(b.problems[0])
    assert str(b.problems[0]).startswith("bad:")


def test_unrecognised_file_is_an_input_error() -> None:
    with pytest.raises(InputError, match="format not recognised"):
        read_cases(b"a,b,c\n1,2,3\n", file="x.csv", today=TODAY)
    with pytest.raises(InputError, match="not an Access Now STOP sheet"):
        read_cases(b"a,b\n1,2\n", file="x.csv", source="stop", today=TODAY)
    with pytest.raises(InputError, match="not valid JSON"):
        read_cases(b'{"incidents": [', file="x.json", today=TODAY)
