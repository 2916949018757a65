"""Meeting patterns and local time: pure functions, no database, no Discord.

A series is a local wall-clock start (in the chapter's IANA timezone), a duration and an RFC 5545
RRULE (python-dateutil). Occurrences are expanded as *local* times and only then turned into UTC,
so a 19:00 meeting stays at 19:00 across DST changes.

Local times that do not exist or occur twice are resolved one way, every time (``fold=0``):
- a time in a spring-forward gap (02:30 on the night clocks jump 02:00→03:00) moves forward by the
  gap, to 03:30 local;
- a time in a fall-back overlap (01:30 on the night 01:00-02:00 happens twice) is the first one,
  the instant still on summer time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as date_parser
from dateutil.rrule import rrulestr

from bot.errors import InvalidInput

# A series may run for at most a year from its first occurrence; organizers extend it by
# scheduling again. This bounds every expansion and what a typo like "daily for 10 years" costs.
MAX_SERIES_SPAN = timedelta(days=366)
MAX_OCCURRENCES = 120
MAX_DURATION = timedelta(hours=24)
MIN_DURATION = timedelta(minutes=5)

_WEEKDAYS = {
    "mo": "MO", "mon": "MO", "monday": "MO", "mondays": "MO",
    "tu": "TU", "tue": "TU", "tues": "TU", "tuesday": "TU", "tuesdays": "TU",
    "we": "WE", "wed": "WE", "wednesday": "WE", "wednesdays": "WE",
    "th": "TH", "thu": "TH", "thur": "TH", "thurs": "TH", "thursday": "TH", "thursdays": "TH",
    "fr": "FR", "fri": "FR", "friday": "FR", "fridays": "FR",
    "sa": "SA", "sat": "SA", "saturday": "SA", "saturdays": "SA",
    "su": "SU", "sun": "SU", "sunday": "SU", "sundays": "SU",
}  # fmt: skip
_WEEKDAY_NAMES = {
    "MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday",
    "FR": "Friday", "SA": "Saturday", "SU": "Sunday",
}  # fmt: skip
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1,
}  # fmt: skip
_ORDINAL = re.compile(r"^(\d{1,2})(st|nd|rd|th)?$")
_FILLER = {"and", "on", "the", "of", "every", "each", "month", "monthly", "day", "days", ","}

REPEAT_HELP = (
    "Use `once`, `weekly`, `every two weeks`, `monthly`, days of the month like `1st and 15th`, "
    "or weekdays of the month like `1st and 3rd Tuesday` or `last Friday`."
)


@dataclass(frozen=True, slots=True)
class Repeat:
    """A parsed ``repeat``: the RRULE (None for a one-off) and how to say it to people."""

    rrule: str | None
    description: str


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"`{name}` is not a known timezone; use an IANA name like `America/New_York`."
        ) from exc


def _ordinal(n: int) -> str:
    if n == -1:
        return "last"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def parse_repeat(text: str) -> Repeat:
    """``weekly`` → ``FREQ=WEEKLY``; ``1st and 3rd Tuesday`` → ``FREQ=MONTHLY;BYDAY=+1TU,+3TU``."""
    cleaned = " ".join(text.lower().replace(",", " , ").replace("&", " and ").split())
    if cleaned in {"", "once", "one time", "one-off", "no", "never", "none"}:
        return Repeat(None, "once")
    if cleaned in {"weekly", "every week", "each week"}:
        return Repeat("FREQ=WEEKLY", "every week")
    if cleaned in {
        "every two weeks",
        "every 2 weeks",
        "every other week",
        "biweekly",
        "fortnightly",
    }:
        return Repeat("FREQ=WEEKLY;INTERVAL=2", "every two weeks")
    if cleaned in {"monthly", "every month", "each month"}:
        return Repeat("FREQ=MONTHLY", "every month")

    pending: list[int] = []  # ordinals waiting for their weekday ("1st and 3rd" … "Tuesday")
    by_day: list[tuple[int, str]] = []
    last_day = False
    for token in cleaned.split():
        if token in _FILLER:
            continue
        if token in _ORDINAL_WORDS:
            pending.append(_ORDINAL_WORDS[token])
            continue
        match = _ORDINAL.match(token)
        if match:
            pending.append(int(match.group(1)))
            continue
        if token in _WEEKDAYS:
            if not pending:
                raise InvalidInput(
                    f"Say which `{token}` of the month, e.g. `1st and 3rd {token}`. {REPEAT_HELP}"
                )
            by_day.extend((n, _WEEKDAYS[token]) for n in pending)
            pending = []
            continue
        raise InvalidInput(f"I don't understand `{token}` in `{text}`. {REPEAT_HELP}")
    if by_day and pending:
        # "1st Tuesday and 15th": mixing both kinds cannot be one RRULE
        raise InvalidInput(
            f"Use either days of the month or weekdays of the month, not both. {REPEAT_HELP}"
        )
    if by_day:
        for n, _ in by_day:
            if n == 0 or n > 5:
                raise InvalidInput(
                    f"A month has at most five of each weekday; `{_ordinal(n)}` is too many."
                )
        unique = sorted(set(by_day), key=lambda d: (list(_WEEKDAY_NAMES).index(d[1]), d[0] % 99))
        rule = ",".join(f"{n:+d}{day}" for n, day in unique)
        words = [f"{_ordinal(n)} {_WEEKDAY_NAMES[day]}" for n, day in unique]
        return Repeat(f"FREQ=MONTHLY;BYDAY={rule}", f"the {_join(words)} of each month")
    if not pending:
        raise InvalidInput(f"I couldn't read a pattern from `{text}`. {REPEAT_HELP}")
    days: list[int] = []
    for n in pending:
        if n == -1:
            last_day = True
        elif 1 <= n <= 28:
            days.append(n)
        elif 29 <= n <= 31:
            raise InvalidInput(
                f"Not every month has a {_ordinal(n)}; use `last` for the last day of the month."
            )
        else:
            raise InvalidInput(f"`{n}` is not a day of the month. {REPEAT_HELP}")
    values = sorted(set(days)) + ([-1] if last_day else [])
    words = [_ordinal(n) if n > 0 else "last day" for n in values]
    rule = ",".join(str(n) for n in values)
    return Repeat(f"FREQ=MONTHLY;BYMONTHDAY={rule}", f"the {_join(words)} of each month")


def describe(rrule: str | None) -> str:
    """How to say a stored RRULE to people (the inverse of ``parse_repeat`` for what it makes)."""
    if rrule is None:
        return "once"
    parts = dict(p.split("=", 1) for p in rrule.split(";"))
    if parts.get("FREQ") == "WEEKLY":
        return "every two weeks" if parts.get("INTERVAL") == "2" else "every week"
    if "BYDAY" in parts:
        words = []
        for item in parts["BYDAY"].split(","):
            words.append(f"{_ordinal(int(item[:-2]))} {_WEEKDAY_NAMES[item[-2:]]}")
        return f"the {_join(words)} of each month"
    if "BYMONTHDAY" in parts:
        values = [int(v) for v in parts["BYMONTHDAY"].split(",")]
        return f"the {_join([_ordinal(v) if v > 0 else 'last day' for v in values])} of each month"
    return "every month"


def parse_local_start(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """A written start (``2027-01-05 19:00``, ``Jan 5 7pm``) as a naive local wall time.

    A date without a year means the next such date; a time is required. A zone written in the
    text (``19:00 UTC``) is honoured and converted to the chapter's local time.
    """
    text = text.strip()
    if not text:
        raise InvalidInput("Give a start like `2027-01-05 19:00` or `Jan 5 7pm`.")
    local_now = now.astimezone(tz).replace(tzinfo=None)
    # Parse twice with different defaults: a field that changes was not written.
    first_default = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    second_default = first_default.replace(year=local_now.year - 1, day=2, hour=13)
    try:
        first = date_parser.parse(text, default=first_default)
        second = date_parser.parse(text, default=second_default)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"I couldn't read `{text}` as a date and time; try `2027-01-05 19:00` or `Jan 5 7pm`."
        ) from exc
    if first.hour != second.hour:
        raise InvalidInput(f"`{text}` has no time of day; add one, e.g. `{text} 7pm`.")
    if first.day != second.day:
        raise InvalidInput(f"`{text}` has no day; write the date, e.g. `Jan 5 7pm`.")
    if first.tzinfo is not None:
        first = first.astimezone(tz).replace(tzinfo=None)
    elif first.year != second.year and first < local_now:
        first = first.replace(year=first.year + 1)  # "Jan 5" in December means next January
    return first.replace(second=0, microsecond=0)


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall time, resolved as the module docstring says."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def local_time_note(local: datetime, tz: ZoneInfo) -> str | None:
    """Why a local time was moved (gap) or which of two it is (overlap); None if it is plain."""
    aware = local.replace(tzinfo=tz, fold=0)
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != local:
        return f"{local:%H:%M} does not exist that day (clocks jump forward); it is {back:%H:%M}."
    if aware.utcoffset() != local.replace(tzinfo=tz, fold=1).utcoffset():
        return f"{local:%H:%M} happens twice that day (clocks go back); it is the first one."
    return None


def occurrences(
    local_start: datetime,
    rrule: str | None,
    tz: ZoneInfo,
    *,
    after: datetime | None = None,
    before: datetime | None = None,
    until_local: datetime | None = None,
) -> list[datetime]:
    """UTC starts of a series' occurrences, optionally only those in [after, before).

    ``local_start`` is the first local start; the first occurrence is the first date that matches
    the pattern on or after it (dateutil's rule, not RFC 5545's "DTSTART always counts").
    """
    if local_start.tzinfo is not None:
        raise ValueError("local_start is a naive local wall time")
    if rrule is None:
        locals_: list[datetime] = [local_start]
    else:
        rule = rrulestr(rrule, dtstart=local_start)
        end = until_local or local_start + MAX_SERIES_SPAN
        locals_ = list(rule.between(local_start, end, inc=True, count=MAX_OCCURRENCES + 1))
        locals_ = locals_[: MAX_OCCURRENCES + 1]
    result = []
    for local in locals_:
        instant = to_utc(local, tz)
        if after is not None and instant < after:
            continue
        if before is not None and instant >= before:
            break
        result.append(instant)
    return result


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """A checked series, ready to show for confirmation and then to save."""

    local_start: datetime
    until_local: datetime | None
    timezone: str
    duration: timedelta
    repeat: Repeat
    first_starts: tuple[datetime, ...]  # UTC, the first few occurrences
    count: int
    notes: tuple[str, ...]


def plan_series(
    *,
    start: str,
    timezone: str,
    duration: str,
    repeat: str,
    now: datetime,
    until: str | None = None,
) -> SeriesPlan:
    """Check every input of ``/meeting schedule`` before anything is saved."""
    tz = zone(timezone)
    local_start = parse_local_start(start, tz, now)
    length = parse_duration(duration)
    if not MIN_DURATION <= length <= MAX_DURATION:
        raise InvalidInput("A meeting lasts between 5 minutes and 24 hours.")
    pattern = parse_repeat(repeat)
    if to_utc(local_start, tz) <= now:
        raise InvalidInput(
            f"{local_start:%Y-%m-%d %H:%M} ({timezone}) is in the past; give a future start."
        )
    until_local: datetime | None = None
    if until:
        until_date = _parse_date(until, tz, now)
        until_local = datetime.combine(until_date, datetime.max.time()).replace(microsecond=0)
        if until_local < local_start:
            raise InvalidInput("The series ends before it starts; check `until`.")
    if until_local is not None and until_local - local_start > MAX_SERIES_SPAN:
        raise InvalidInput(
            "A series can run for at most a year; pick an `until` within a year "
            "(schedule it again next year)."
        )
    starts = occurrences(local_start, pattern.rrule, tz, until_local=until_local)
    if not starts:
        raise InvalidInput("That pattern has no meeting before the series ends; check `until`.")
    if len(starts) > MAX_OCCURRENCES:
        raise InvalidInput(f"A series can have at most {MAX_OCCURRENCES} meetings.")
    notes = []
    first_local = starts[0].astimezone(tz).replace(tzinfo=None)
    if first_local.date() != local_start.date():
        notes.append(
            f"{local_start:%a %b} {local_start.day} does not match {pattern.description}; "
            f"the first meeting is {first_local:%a %b} {first_local.day}."
        )
    for instant in starts:
        wall = local_start.replace(
            year=instant.astimezone(tz).year,
            month=instant.astimezone(tz).month,
            day=instant.astimezone(tz).day,
        )
        note = local_time_note(wall, tz)
        if note:
            notes.append(f"{wall:%Y-%m-%d}: {note}")
    return SeriesPlan(
        local_start=local_start,
        until_local=until_local,
        timezone=timezone,
        duration=length,
        repeat=pattern,
        first_starts=tuple(starts[:5]),
        count=len(starts),
        notes=tuple(notes[:5]),
    )


def _parse_date(text: str, tz: ZoneInfo, now: datetime) -> date:
    local_now = now.astimezone(tz).replace(tzinfo=None)
    try:
        parsed = date_parser.parse(text, default=local_now.replace(hour=0, minute=0))
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"I couldn't read `{text}` as a date; try `2027-06-30`.") from exc
    return parsed.date()


_DURATION_PART = re.compile(r"(\d+)\s*(w|d|h|m)", re.IGNORECASE)
_DURATION_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``1h30m``, ``2h``, ``3d`` → a timedelta (m is minutes)."""
    squeezed = text.strip().lower().replace(" ", "")
    squeezed = re.sub(r"(minutes?|mins?)", "m", squeezed)
    squeezed = re.sub(r"(hours?|hrs?)", "h", squeezed)
    squeezed = re.sub(r"(days?)", "d", squeezed)
    squeezed = re.sub(r"(weeks?)", "w", squeezed)
    parts = _DURATION_PART.findall(squeezed)
    if not parts or "".join(n + u for n, u in parts) != squeezed:
        raise InvalidInput(f"I couldn't read `{text}` as a duration; try `90m`, `2h` or `3d`.")
    total = timedelta()
    for amount, unit in parts:
        total += timedelta(**{_DURATION_UNITS[unit]: int(amount)})
    return total


MIN_LEAD = timedelta(minutes=5)
MAX_LEAD = timedelta(days=14)
MAX_LEADS = 5
DEFAULT_LEADS = (timedelta(days=3), timedelta(hours=2))


def parse_leads(text: str) -> tuple[timedelta, ...]:
    """A reminder policy ``3d, 2h`` → leads, longest first; each at least 5 minutes."""
    items = [item for item in re.split(r"[,;]|\band\b", text) if item.strip()]
    if not items:
        raise InvalidInput("Give reminder leads like `3d, 2h`.")
    leads = {parse_duration(item) for item in items}
    if len(leads) > MAX_LEADS:
        raise InvalidInput(f"At most {MAX_LEADS} reminders per meeting.")
    for lead in leads:
        if lead < MIN_LEAD:
            raise InvalidInput("Each reminder lead must be at least 5 minutes, e.g. `3d, 2h`.")
        if lead > MAX_LEAD:
            raise InvalidInput("A reminder lead can be at most 14 days.")
    return tuple(sorted(leads, reverse=True))


def format_lead(lead: timedelta) -> str:
    """``timedelta(days=3)`` → ``3d``; ``timedelta(minutes=90)`` → ``1h30m``."""
    minutes = int(lead.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return "".join(parts) or "0m"


def format_leads(leads: tuple[timedelta, ...]) -> str:
    return ", ".join(format_lead(lead) for lead in leads) if leads else "none"
