"""The sensor-readings row check: what is a good reading, and where a bad one is reported."""

from __future__ import annotations

import io

import pytest

from storage.readings import MAX_REPORTED, ReadingsError, check_csv, check_records, check_row


@pytest.mark.parametrize(
    ("timestamp", "value"),
    [
        ("2024-03-01T00:00:00+00:00", "1.5"),
        ("2024-03-01T00:00:00Z", "-3"),
        ("2024-03-01 12:30:15.123456789+01:00", "1e-3"),
        ("2024-03-01T12:30+0530", ".5"),
        ("2024-03-01T12:30:00-08", "+7."),
        ("2024-03-01T12:30:00,5Z", "1E+10"),
    ],
)
def test_good_readings(timestamp: str, value: str) -> None:
    assert check_row("pump-1", timestamp, value) is None


@pytest.mark.parametrize(
    ("equipment_id", "timestamp", "value", "reason"),
    [
        ("", "2024-03-01T00:00:00Z", "1", "equipment_id is empty"),
        ("pump 1", "2024-03-01T00:00:00Z", "1", "equipment_id"),
        ("-pump", "2024-03-01T00:00:00Z", "1", "equipment_id"),
        ("p" * 129, "2024-03-01T00:00:00Z", "1", "equipment_id"),
        ("pump", "2024-03-01T00:00:00", "1", "no UTC offset"),
        ("pump", "2024-03-01", "1", "not an ISO 8601"),
        ("pump", "20240301T000000Z", "1", "not an ISO 8601"),
        ("pump", "2024-W09-5T00:00Z", "1", "not an ISO 8601"),
        ("pump", "yesterday", "1", "not an ISO 8601"),
        ("pump", "2024-02-30T00:00:00Z", "1", "not a valid time"),
        ("pump", "2024-03-01T24:00:00Z", "1", "not a valid time"),
        ("pump", "2024-03-01T00:00:00+25:00", "1", "not a valid time"),
        ("pump", "2024-03-01T00:00:00Z", "", "not a number"),
        ("pump", "2024-03-01T00:00:00Z", "nan", "not a number"),
        ("pump", "2024-03-01T00:00:00Z", "inf", "not a number"),
        ("pump", "2024-03-01T00:00:00Z", "-Infinity", "not a number"),
        ("pump", "2024-03-01T00:00:00Z", "1_000", "not a number"),
        ("pump", "2024-03-01T00:00:00Z", "0x10", "not a number"),
        ("pump", "2024-03-01T00:00:00Z", "1e999", "out of range"),
    ],
)
def test_bad_readings(equipment_id: str, timestamp: str, value: str, reason: str) -> None:
    found = check_row(equipment_id, timestamp, value)
    assert found is not None and reason in found


def run_csv(text: str | bytes) -> tuple[object, str]:
    out = io.StringIO()
    data = text.encode() if isinstance(text, str) else text
    return check_csv(io.BytesIO(data), out), out.getvalue()


def test_csv_reports_bad_rows_by_line_and_writes_the_good_ones() -> None:
    checked, out = run_csv(
        "equipment_id,timestamp,value\n"
        "pump-1,2024-03-01T00:00:00Z,1.5\n"
        "pump-1,2024-03-01T00:01:00,2.5\n"  # line 3: no offset
        "\n"  # blank lines are skipped, but counted
        "pump-2,2024-03-01T00:02:00+01:00,nan\n"  # line 5
        "pump-2,2024-03-01T00:03:00Z\n"  # line 6: two fields
        'pump-3," 2024-03-01T00:04:00Z ",4\n'
    )
    assert checked.accepted == 2 and checked.rejected == 3
    assert [(row.where, row.reason.split(" ")[0]) for row in checked.errors] == [(3, "timestamp"), (5, "value"), (6, "2")]
    assert out == "pump-1,2024-03-01T00:00:00Z,1.5\npump-3,2024-03-01T00:04:00Z,4\n"


def test_csv_line_numbers_count_physical_lines_of_quoted_fields() -> None:
    checked, _ = run_csv('equipment_id,timestamp,value\r\n"pump\r\n1",2024-03-01T00:00:00Z,1\r\npump,bad,1\r\n')
    assert [row.where for row in checked.errors] == [2, 4]


def test_csv_columns_in_any_order_are_written_in_the_standard_order() -> None:
    checked, out = run_csv("\ufeffValue, Timestamp ,equipment_id\n3,2024-03-01T00:00:00Z,fan\n")
    assert checked.accepted == 1 and out == "fan,2024-03-01T00:00:00Z,3\n"


def test_csv_row_that_is_not_utf8_is_bad_but_the_file_goes_on() -> None:
    checked, out = run_csv(b"equipment_id,timestamp,value\npump\xff,2024-03-01T00:00:00Z,1\npump,2024-03-01T00:00:00Z,2\n")
    assert [(row.where, row.reason) for row in checked.errors] == [(2, "not valid UTF-8")]
    assert out == "pump,2024-03-01T00:00:00Z,2\n"


def test_csv_with_broken_quoting_is_reported_per_row() -> None:
    checked, out = run_csv('equipment_id,timestamp,value\npump,"2024"x,1\npump,2024-03-01T00:00:00Z,2\n')
    assert checked.rejected == 1 and checked.errors[0].where == 2 and "CSV" in checked.errors[0].reason
    assert out == "pump,2024-03-01T00:00:00Z,2\n"


@pytest.mark.parametrize("text", ["", "equipment_id,time,value\n", "equipment_id,timestamp,value,unit\n", "a\n"])
def test_csv_needs_the_three_columns(text: str) -> None:
    with pytest.raises(ReadingsError):
        run_csv(text)


def test_only_the_first_bad_rows_are_kept_but_all_are_counted() -> None:
    checked, _ = run_csv("equipment_id,timestamp,value\n" + "pump,now,1\n" * (MAX_REPORTED + 5))
    assert checked.rejected == MAX_REPORTED + 5 and len(checked.errors) == MAX_REPORTED


def test_json_records() -> None:
    out = io.StringIO()
    checked = check_records(
        {
            "records": [
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:00:00Z", "value": 1.25},
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:01:00Z", "value": 3},
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:02:00Z", "value": "3"},
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:02:00Z", "value": True},
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:02:00Z", "value": float("nan")},
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:02:00Z", "value": 10**400},
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:02:00Z"},
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:02:00Z", "value": 1, "unit": "bar"},
                ["pump-1", "2024-03-01T00:02:00Z", 1],
                {"equipment_id": 7, "timestamp": "2024-03-01T00:02:00Z", "value": 1},
                {"equipment_id": "pump-1", "timestamp": "2024-03-01T00:02:00", "value": 1},
            ]
        },
        out,
    )
    assert checked.accepted == 2
    assert [row.where for row in checked.errors] == list(range(3, 12))
    assert "missing value" in checked.errors[4].reason and "unexpected unit" in checked.errors[5].reason
    assert out.getvalue() == "pump-1,2024-03-01T00:00:00Z,1.25\npump-1,2024-03-01T00:01:00Z,3\n"


@pytest.mark.parametrize("body", [{"rows": []}, "text", 5, None])
def test_json_must_be_a_list_of_records(body: object) -> None:
    with pytest.raises(ReadingsError):
        check_records(body, io.StringIO())
