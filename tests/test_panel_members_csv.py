"""Reading a members file (instrument.panel.members_csv): every problem with its line, pure."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pytest

from instrument.interviews.phone_sample import parse_number
from instrument.panel.members_csv import MembersFileError, parse_members, read_members_file

NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
PHONE = functools.partial(parse_number, region="GB")


def _parse(text: str):  # type: ignore[no-untyped-def]
    return parse_members(text, source="m.csv", parse_phone=PHONE, now=NOW)


def _problems(text: str) -> list[str]:
    with pytest.raises(MembersFileError) as error:
        _parse(text)
    return error.value.problems


def test_a_row_becomes_a_member_with_its_contacts_profile_and_consents() -> None:
    (row,) = _parse(
        "external_id,Status,email_2,email,phone,address_1,address_2,postcode,name,hh_type,"
        "consent_data_linkage,consent_sheet,consent_mode,consent_at\n"
        "R1,PAUSED,b@example.org,a@example.org,+44 20 7946 0123,1 High St,,SW1A 1AA,Ann,,"
        "Yes,v1,Phone,2026-11-30T17:00+01:00\n".replace("Status", "status")
    )
    assert (row.line, row.external_id, row.status) == (2, "R1", "paused")
    assert row.contacts == {
        "email": ("a@example.org", "b@example.org"),
        "phone": ("+442079460123",),
        "address": ("1 High St\nSW1A 1AA",),
        "name": ("Ann",),
    }
    assert row.profile == {"hh_type": None}  # an empty cell: the panel does not know
    (consent,) = row.consents
    assert (consent.scope, consent.given, consent.sheet_version, consent.mode) == (
        "data_linkage", True, "v1", "phone",
    )  # fmt: skip
    assert consent.at == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)


def test_columns_the_file_lacks_are_not_given_and_blank_lines_are_skipped() -> None:
    (row,) = _parse("external_id,region\n\nR1,Wales\n,\n")
    assert row.contacts == {} and row.consents == ()
    assert (row.status, row.language, row.preferred_mode) == (None, None, None)
    (emptied,) = _parse("external_id,email,name\nR1,,\n")
    assert emptied.contacts == {"email": (), "name": ()}  # the file says: none


def test_header_problems_are_on_line_1() -> None:
    assert _problems("id,first_name,email_10,age band,region,region,consent_recontct\n") == [
        "m.csv:1: no external_id column",
        "m.csv:1: column 'first_name' looks like personal data: contact details go in name, "
        "email, email_2 ..., phone, phone_2 ..., address_1 ... address_6 and postcode "
        "(docs/panel.md)",
        "m.csv:1: column 'email_10' looks like personal data: contact details go in name, "
        "email, email_2 ..., phone, phone_2 ..., address_1 ... address_6 and postcode "
        "(docs/panel.md)",
        "m.csv:1: column 'age band' is not a usable profile variable name (letters, digits "
        "and _, not starting with a digit, at most 64 characters)",
        "m.csv:1: column 'region' is given twice",
        "m.csv:1: unknown consent column 'consent_recontct'; did you mean 'consent_recontact'?",
    ]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (",a@example.org,,,,,", "external_id is empty"),
        ("", "4 cells, the header has 3"),
        ("R1,x@y", "email: 'x@y' is not an email address"),
        ("R1,a@example.org,,,A@Example.org", "email_2: the address A@Example.org is given twice"),
        ("R1,,0207 946 0123,020 7946 0123", "phone_2: the number +442079460123 is given twice"),
        ("R1,,,,,klingon", "language 'klingon' is not a language tag (en, cy, pt-BR ...)"),
        ("R1,,,,,,Web", "preferred_mode 'Web' is not a mode name (web, cati ...)"),
    ],
)
def test_row_problems_are_on_their_line(row: str, problem: str) -> None:
    header = "external_id,email,phone,phone_2,email_2,language,preferred_mode"
    first = "R0,,,,,,"
    if problem.startswith("4 cells"):
        header, first, row = "external_id,email,phone", "R0,,", "R1,a,b,c"
    assert _problems(f"{header}\n{first}\n{row}\n") == [f"m.csv:3: {problem}"]


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        ("maybe,v1,web,", "consent_recontact: 'maybe' is neither yes nor no"),
        ("yes,,web,", "consent_sheet is empty: which version of the information sheet was it?"),
        ("no,v1,,", "consent_mode '': how the consent was given, one of web, phone, paper, "
                    "in_person, email, sms, other"),
        ("yes,v1,web,1/12/2026", "consent_at '1/12/2026' is not a date (YYYY-MM-DD) or a time "
                                 "(YYYY-MM-DDTHH:MM+00:00)"),
        ("yes,v1,web,2026-12-01T10:00", "consent_at '2026-12-01T10:00' has no UTC offset "
                                        "(add Z or +01:00)"),
        ("yes,v1,web,2027-01-01", "consent_at '2027-01-01' is in the future"),
    ],
)  # fmt: skip
def test_consent_problems(cells: str, problem: str) -> None:
    header = "external_id,consent_recontact,consent_sheet,consent_mode,consent_at"
    assert _problems(f"{header}\nR1,{cells}\n") == [f"m.csv:2: {problem}"]


def test_a_file_with_a_byte_order_mark_or_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xef\xbb\xbfexternal_id,region\nR1,Wales\n")
    (row,) = read_members_file(path, parse_phone=PHONE, now=NOW)
    assert row.external_id == "R1" and row.profile == {"region": "Wales"}
    path.write_bytes(b"external_id,region\nR1,Gw\xeenedd\n")
    with pytest.raises(MembersFileError, match="not UTF-8 text"):
        read_members_file(path, parse_phone=PHONE, now=NOW)
    assert _problems("external_id\nR\x001\n") == ["m.csv:2: a NUL character (is this a text file?)"]
