"""Meeting patterns and local time: RRULEs, DST in both directions, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import InvalidInput
from bot.services.recurrence import (
    describe,
    format_leads,
    local_time_note,
    occurrences,
    parse_duration,
    parse_leads,
    parse_local_start,
    parse_repeat,
    plan_series,
    to_utc,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def local_times(starts: list[datetime], tz: ZoneInfo) -> list[str]:
    return [s.astimezone(tz).strftime("%Y-%m-%d %H:%M %a") for s in starts]


@pytest.mark.parametrize(
    ("text", "rrule", "description"),
    [
        ("once", None, "once"),
        ("weekly", "FREQ=WEEKLY", "every week"),
        ("every two weeks", "FREQ=WEEKLY;INTERVAL=2", "every two weeks"),
        ("Biweekly", "FREQ=WEEKLY;INTERVAL=2", "every two weeks"),
        ("monthly", "FREQ=MONTHLY", "every month"),
        ("1st and 15th", "FREQ=MONTHLY;BYMONTHDAY=1,15", "the 1st and 15th of each month"),
        ("15, 1", "FREQ=MONTHLY;BYMONTHDAY=1,15", "the 1st and 15th of each month"),
        (
            "1st and 3rd Tuesday",
            "FREQ=MONTHLY;BYDAY=+1TU,+3TU",
            "the 1st Tuesday and 3rd Tuesday of each month",
        ),
        ("last friday", "FREQ=MONTHLY;BYDAY=-1FR", "the last Friday of each month"),
        (
            "2nd Monday & 4th Thursday",
            "FREQ=MONTHLY;BYDAY=+2MO,+4TH",
            "the 2nd Monday and 4th Thursday of each month",
        ),
        ("the last day", "FREQ=MONTHLY;BYMONTHDAY=-1", "the last day of each month"),
    ],
)
def test_parse_repeat(text: str, rrule: str | None, description: str) -> None:
    repeat = parse_repeat(text)
    assert repeat.rrule == rrule
    assert repeat.description == description
    assert describe(repeat.rrule) == description


@pytest.mark.parametrize(
    "text", ["daily", "Tuesday", "1st Tuesday and 15th", "31st", "6th Monday", "0th", "yearly-ish"]
)
def test_parse_repeat_refuses_what_it_cannot_express(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_repeat(text)


def test_first_and_third_tuesday() -> None:
    starts = occurrences(
        datetime(2027, 1, 5, 19, 0), "FREQ=MONTHLY;BYDAY=+1TU,+3TU", NEW_YORK, before=_utc(2027, 4)
    )
    assert local_times(starts, NEW_YORK) == [
        "2027-01-05 19:00 Tue",
        "2027-01-19 19:00 Tue",
        "2027-02-02 19:00 Tue",
        "2027-02-16 19:00 Tue",
        "2027-03-02 19:00 Tue",
        "2027-03-16 19:00 Tue",  # after the March DST change: still 19:00 local
    ]
    assert starts[-2].hour == 0  # 19:00 EST = 00:00 UTC
    assert starts[-1].hour == 23  # 19:00 EDT = 23:00 UTC


def test_first_and_fifteenth() -> None:
    starts = occurrences(
        datetime(2027, 1, 3, 18, 30), "FREQ=MONTHLY;BYMONTHDAY=1,15", BERLIN, before=_utc(2027, 3)
    )
    # the start (3 Jan) does not match: the first meeting is the first match after it
    assert local_times(starts, BERLIN) == [
        "2027-01-15 18:30 Fri",
        "2027-02-01 18:30 Mon",
        "2027-02-15 18:30 Mon",
    ]


@pytest.mark.parametrize(
    ("tz", "before", "after"),
    [
        # spring forward: 2027-03-14 in New York, 2027-03-28 in Berlin
        (NEW_YORK, "2027-03-13", "2027-03-15"),
        (BERLIN, "2027-03-27", "2027-03-29"),
        # fall back: 2027-11-07 in New York, 2027-10-31 in Berlin
        (NEW_YORK, "2027-11-06", "2027-11-08"),
        (BERLIN, "2027-10-30", "2027-11-01"),
    ],
)
def test_weekly_meeting_keeps_its_local_time_across_dst(
    tz: ZoneInfo, before: str, after: str
) -> None:
    first = datetime.fromisoformat(before).replace(hour=19) - timedelta(days=14)
    starts = occurrences(first, "FREQ=DAILY", tz, before=_utc(2028, 1))
    by_day = {s.astimezone(tz).date().isoformat(): s for s in starts}
    ahead, behind = by_day[before], by_day[after]
    assert ahead.astimezone(tz).hour == behind.astimezone(tz).hour == 19
    # the UTC instant moved by the offset change, not the wall time
    assert abs((behind - ahead) - timedelta(days=2)) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("tz", "local", "expected_utc", "note"),
    [
        # 02:30 does not exist: moved forward by the gap, to 03:30 local
        (NEW_YORK, "2027-03-14 02:30", "2027-03-14 07:30", "does not exist"),
        (BERLIN, "2027-03-28 02:30", "2027-03-28 01:30", "does not exist"),
        # 01:30 happens twice: the first one (still summer time)
        (NEW_YORK, "2027-11-07 01:30", "2027-11-07 05:30", "happens twice"),
        (BERLIN, "2027-10-31 02:30", "2027-10-31 00:30", "happens twice"),
        (BERLIN, "2027-10-31 19:00", "2027-10-31 18:00", None),
    ],
)
def test_nonexistent_and_ambiguous_local_times_resolve_one_way(
    tz: ZoneInfo, local: str, expected_utc: str, note: str | None
) -> None:
    wall = datetime.fromisoformat(local)
    assert to_utc(wall, tz) == datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)
    said = local_time_note(wall, tz)
    assert (said is None) if note is None else (said is not None and note in said)


def test_weekly_series_in_the_gap_is_moved_only_on_that_day() -> None:
    starts = occurrences(datetime(2027, 3, 7, 2, 30), "FREQ=WEEKLY", NEW_YORK, before=_utc(2027, 4))
    assert local_times(starts, NEW_YORK)[:3] == [
        "2027-03-07 02:30 Sun",
        "2027-03-14 03:30 Sun",
        "2027-03-21 02:30 Sun",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-05 19:00", datetime(2027, 1, 5, 19, 0)),
        ("Jan 5 7pm", datetime(2027, 1, 5, 19, 0)),  # no year, in December: next January
        ("Dec 20 18:30", datetime(2026, 12, 20, 18, 30)),
        ("5 January 2027 7:15pm", datetime(2027, 1, 5, 19, 15)),
        ("2027-01-05T19:00Z", datetime(2027, 1, 5, 14, 0)),  # an explicit zone is honoured
    ],
)
def test_parse_local_start(text: str, expected: datetime) -> None:
    assert parse_local_start(text, NEW_YORK, NOW) == expected


@pytest.mark.parametrize("text", ["", "someday", "Jan 5", "7pm", "2027-13-01 19:00"])
def test_parse_local_start_refuses(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_local_start(text, NEW_YORK, NOW)


def test_plan_series_checks_everything_before_saving() -> None:
    plan = plan_series(
        start="Jan 5 7pm",
        timezone="America/New_York",
        duration="90m",
        repeat="1st and 3rd Tuesday",
        now=NOW,
    )
    assert plan.duration == timedelta(minutes=90)
    assert plan.first_starts[0] == datetime(2027, 1, 6, 0, 0, tzinfo=UTC)
    assert plan.count == 25  # a year of 1st and 3rd Tuesdays, up to 4 Jan 2028
    assert plan.notes == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "not a known timezone"),
        ({"start": "2026-11-01 19:00"}, "in the past"),
        ({"start": "tomorrowish"}, "couldn't read"),
        ({"repeat": "whenever"}, "understand"),
        ({"duration": "forever"}, "duration"),
        ({"duration": "2m"}, "between 5 minutes"),
        ({"until": "2028-06-01"}, "at most a year"),
        ({"until": "2026-12-20"}, "ends before it starts"),
    ],
)
def test_plan_series_bad_input(kwargs: dict[str, str], message: str) -> None:
    args = {
        "start": "2027-01-05 19:00",
        "timezone": "America/New_York",
        "duration": "1h",
        "repeat": "weekly",
    } | kwargs
    with pytest.raises(InvalidInput, match=message):
        plan_series(now=NOW, **args)


def test_durations_and_leads() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2 hours") == timedelta(hours=2)
    assert parse_leads("3d, 2h") == (timedelta(days=3), timedelta(hours=2))
    assert parse_leads("2h and 3d") == (timedelta(days=3), timedelta(hours=2))
    assert format_leads(parse_leads("1d, 90m")) == "1d, 1h30m"
    with pytest.raises(InvalidInput, match="at least 5 minutes"):
        parse_leads("3d, 2m")
    with pytest.raises(InvalidInput):
        parse_leads("soon")


def _utc(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)
