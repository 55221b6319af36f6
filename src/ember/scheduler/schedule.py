"""When a job runs: natural language or a cron expression, in a time zone, to the next run time.

``parse("every weekday at 9am")`` and ``parse("0 9 * * 1-5")`` give the same ``Schedule``. What is
understood (case-insensitive; a trailing IANA zone such as ``Europe/Berlin`` or ``UTC`` sets the
time zone, else the machine's):

- ``every weekday at 9am``, ``every day at 18:00``, ``daily at 6pm``, ``every monday 08:30``,
  ``every monday and thursday at 9``, ``every weekend at 10``, ``every morning`` (08:00),
  ``every evening`` (18:00), ``every month on the 1st at 9``;
- ``every hour``, ``hourly``, ``every 15 minutes``, ``every 2 hours``;
- once: ``in 2 hours``, ``in 30 minutes``, ``at 2026-12-24 09:00``, ``tomorrow at 8am``,
  ``today at 17:30``;
- a five-field cron expression (``*/15 9-17 * * 1-5``), evaluated by ``croniter`` (daylight
  saving time handled: a time that does not exist that day runs at the next one that does).

Anything else raises ``ScheduleError`` with examples, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = {"monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6, "sunday": 0}
ABBREVIATIONS = {"mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday", "thu": "thursday",
                 "thur": "thursday", "thurs": "thursday", "fri": "friday", "sat": "saturday", "sun": "sunday"}
PARTS_OF_DAY = {"morning": "08:00", "noon": "12:00", "afternoon": "14:00", "evening": "18:00", "night": "21:00",
                "midnight": "00:00"}
EXAMPLES = ('"every weekday at 9am", "every monday 08:30 Europe/Berlin", "in 2 hours", '
            '"tomorrow at 8am", "every 15 minutes", or a cron expression such as "0 9 * * 1-5"')


class ScheduleError(ValueError):
    """A schedule that cannot be understood; the message gives examples of what can."""


@dataclass(frozen=True)
class Schedule:
    """``cron``: a five-field expression; ``once``: a single run at ``at`` (UTC seconds)."""

    text: str
    kind: str  # "cron" or "once"
    expr: str = ""
    at: float | None = None
    tz: str = ""  # IANA name; "" is the machine's local zone

    def zone(self) -> tzinfo:
        return zone(self.tz)

    def next_after(self, moment: float) -> float | None:
        """The first run time strictly after ``moment`` (UTC seconds), or None when there is none."""
        if self.kind == "once":
            return self.at if self.at is not None and self.at > moment else None
        from croniter import croniter

        start = datetime.fromtimestamp(moment, self.zone())
        return croniter(self.expr, start).get_next(datetime).timestamp()

    def describe(self) -> str:
        where = f" ({self.tz})" if self.tz else ""
        if self.kind == "once":
            assert self.at is not None
            return f"once, at {datetime.fromtimestamp(self.at, self.zone()):%Y-%m-%d %H:%M}{where}"
        return f"{self.text}{'' if self.tz and self.tz in self.text else where}"


def zone(name: str) -> tzinfo:
    if not name:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC") from None


def _clock(text: str) -> tuple[int, int]:
    """"9", "9am", "9:30", "09:30", "6pm", "18:00", "noon", "morning" -> (hour, minute)."""
    text = PARTS_OF_DAY.get(text.strip(), text.strip())
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", text)
    if not match:
        raise ScheduleError(f"{text!r} is not a time of day; write 9am, 18:00 or 6:30pm")
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half == "pm" and hour < 12:
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ScheduleError(f"{text!r} is not a time of day")
    return hour, minute


def _days(text: str) -> str:
    """"weekday", "monday and thursday", "mon, wed" -> the cron day-of-week field."""
    text = text.strip()
    if text in ("day", "days", ""):
        return "*"
    if text in ("weekday", "weekdays", "working day", "workday", "workdays"):
        return "1-5"
    if text in ("weekend", "weekends", "weekend day"):
        return "0,6"
    numbers = []
    for word in re.split(r"\s*(?:,|\band\b|&)\s*", text):
        word = ABBREVIATIONS.get(word.rstrip("s"), word.rstrip("s") if word.rstrip("s") in DAYS else word)
        if word not in DAYS:
            raise ScheduleError(f"{word!r} is not a day; write monday, weekday or weekend")
        numbers.append(DAYS[word])
    return ",".join(str(n) for n in sorted(set(numbers)))


def _split_zone(text: str) -> tuple[str, str]:
    words = text.split()
    if words and ("/" in words[-1] or words[-1].upper() in ("UTC", "GMT")):
        name = "UTC" if words[-1].upper() in ("UTC", "GMT") else words[-1]
        for candidate in (name, name.title(), "/".join(part.capitalize() for part in name.split("/"))):
            try:
                ZoneInfo(candidate)
                return " ".join(words[:-1]), candidate
            except (ZoneInfoNotFoundError, ValueError):
                continue
        raise ScheduleError(f"unknown time zone {words[-1]!r}; use an IANA name such as Europe/Berlin or UTC")
    return text, ""


def parse(text: str, now: float, default_tz: str = "") -> Schedule:
    """``text`` as a ``Schedule``; ``now`` (UTC seconds) anchors "in 2 hours" and "tomorrow"."""
    original = " ".join(text.split())
    body, tz = _split_zone(original.lower())
    tz = tz or default_tz
    body = body.strip().removeprefix("run ").strip()
    if _looks_like_cron(body):
        from croniter import croniter

        if not croniter.is_valid(body):
            raise ScheduleError(f"{body!r} is not a valid cron expression (five fields: minute hour day month weekday)")
        return Schedule(original, "cron", expr=body, tz=tz)
    local = datetime.fromtimestamp(now, zone(tz))

    if match := re.fullmatch(r"in (\d+) ?(minute|min|hour|hr|day|week)s?", body):
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"minute": timedelta(minutes=1), "min": timedelta(minutes=1), "hour": timedelta(hours=1),
                 "hr": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[unit] * amount
        return Schedule(original, "once", at=(local + delta).timestamp(), tz=tz)
    if match := re.fullmatch(r"(?:at |on )?(\d{4}-\d{2}-\d{2})(?:[ t](?:at )?(.+))?", body):
        hour, minute = _clock(match.group(2) or "00:00")
        day = datetime.strptime(match.group(1), "%Y-%m-%d").replace(hour=hour, minute=minute, tzinfo=zone(tz))
        return Schedule(original, "once", at=day.timestamp(), tz=tz)
    if match := re.fullmatch(r"(today|tomorrow)(?: at)? (.+)", body):
        hour, minute = _clock(match.group(2))
        day = local + timedelta(days=1 if match.group(1) == "tomorrow" else 0)
        at = day.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at.timestamp() <= now:
            raise ScheduleError(f"{original!r} is in the past")
        return Schedule(original, "once", at=at.timestamp(), tz=tz)

    if body in ("hourly", "every hour"):
        return Schedule(original, "cron", expr="0 * * * *", tz=tz)
    if match := re.fullmatch(r"every (\d+) ?(minute|min|hour)s?", body):
        amount, unit = int(match.group(1)), match.group(2)
        if unit in ("minute", "min"):
            if not 1 <= amount <= 59:
                raise ScheduleError("every N minutes takes N from 1 to 59")
            return Schedule(original, "cron", expr=f"*/{amount} * * * *", tz=tz)
        if not 1 <= amount <= 23:
            raise ScheduleError("every N hours takes N from 1 to 23")
        return Schedule(original, "cron", expr=f"0 */{amount} * * *", tz=tz)
    if match := re.fullmatch(r"(?:every month|monthly) on the (\d{1,2})(?:st|nd|rd|th)?(?:(?: at)? (.+))?", body):
        day_of_month = int(match.group(1))
        if not 1 <= day_of_month <= 31:
            raise ScheduleError("a day of the month is 1 to 31")
        hour, minute = _clock(match.group(2) or "09:00")
        return Schedule(original, "cron", expr=f"{minute} {hour} {day_of_month} * *", tz=tz)
    if match := re.fullmatch(r"daily(?: at (.+))?", body):
        hour, minute = _clock(match.group(1) or "09:00")
        return Schedule(original, "cron", expr=f"{minute} {hour} * * *", tz=tz)
    if match := re.fullmatch(r"every (morning|evening|night|noon|afternoon)", body):
        hour, minute = _clock(match.group(1))
        return Schedule(original, "cron", expr=f"{minute} {hour} * * *", tz=tz)
    if match := re.fullmatch(r"every (?:week on )?([a-z ,&]+?)(?:(?: at)? (\d[\d:]*\s*(?:am|pm)?|morning|evening|noon|night|afternoon|midnight))?", body):
        days = _days(match.group(1))
        hour, minute = _clock(match.group(2) or "09:00")
        return Schedule(original, "cron", expr=f"{minute} {hour} * * {days}", tz=tz)
    raise ScheduleError(f"cannot read the schedule {original!r}; write, for example, {EXAMPLES}")


def _looks_like_cron(text: str) -> bool:
    fields = text.split()
    return len(fields) == 5 and all(re.fullmatch(r"[\d*/,\-a-z?LW#]+", f) for f in fields) and any(
        c.isdigit() or c == "*" for c in fields[0])
