"""Time references in English text, resolved to date ranges.

Two uses, one grammar:

- ``query_ranges(query, now)``: the periods a search query asks about ("in May 2023", "on
  9 November, 2022", "last week", "the week before 16 November 2023", "between August 11 and
  August 15 2023"). Search boosts messages from, or about, those periods. ``now`` is the time
  of the latest message searched, so "last week" means the week before the conversation's
  present, which is today for a live agent and the archive's end for an imported history.
- ``mention_ranges(text, said_at)``: the periods a message talks about, resolved against the
  message's own timestamp: "yesterday" in a message of 8 May 2023 is 7 May 2023, "last
  month" is April 2023. They are indexed so that "what happened on 7 May" finds it.

Everything is a half-open ``(start, end)`` pair of POSIX timestamps (local time, as the
message timestamps are). Vague words ("recently", "lately") resolve to nothing on purpose:
a boost for a guessed period does more harm than good.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

Range = tuple[float, float]

MONTHS = {
    name: i + 1
    for i, names in enumerate([
        ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
        ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
        ("november", "nov"), ("december", "dec"),
    ])
    for name in names
}
WEEKDAYS = {d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "a couple of": 2,
           "a few": 3, "few": 3, "several": 3}
UNITS = {"day": 1, "week": 7, "month": 30.5, "year": 365.25}

_MONTH = r"(?P<{0}>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<{0}>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<{0}>(?:19|20)\d\d)"
_DATE_PATTERNS = [
    # 13 October 2023, 8th December, 2023, 13 Oct
    re.compile(r"\b" + _DAY.format("d") + r"\s+(?:of\s+)?" + _MONTH.format("m") + r"(?:,?\s*" + _YEAR.format("y") + r")?\b"),
    # October 13, 2023, December 1,2023, October 13
    re.compile(r"\b" + _MONTH.format("m") + r"\s+" + _DAY.format("d") + r"(?!\d)(?:\s*,?\s*" + _YEAR.format("y") + r")?\b"),
    # 2023-10-13
    re.compile(r"\b(?P<y>(?:19|20)\d\d)-(?P<mn>[01]\d)-(?P<d>[0-3]\d)\b"),
]
_MONTH_YEAR = re.compile(r"\b" + _MONTH.format("m") + r",?\s+(?:of\s+)?" + _YEAR.format("y") + r"\b")
_MONTH_ALONE = re.compile(r"\b(?:in|during|of|since|last|this|next|early|late|mid|mid-)\s+" + _MONTH.format("m") + r"\b")
_YEAR_ALONE = re.compile(r"\b(?:in|during|of|since|by|from|around)\s+" + _YEAR.format("y") + r"\b")
_AGO = re.compile(
    r"\b(?P<n>\d+|a couple of|a few|few|several|an|a|one|two|three|four|five|six)\s+"
    r"(?P<u>day|week|month|year)s?\s+ago\b"
)
_WEEKDAY = re.compile(r"\b(?P<rel>last|this past|past|on|next|this)\s+(?P<w>" + "|".join(WEEKDAYS) + r")\b")
_RELATIVE = re.compile(
    r"\b(yesterday|today|tonight|tomorrow|last night|this morning|last weekend|this weekend|next weekend"
    r"|last week|this week|next week|past week|last month|this month|next month|past month"
    r"|last year|this year|next year|past year)\b"
)
_MODAL_MAY = re.compile(r"\s+(?:be|have|not|also|well|help|need|want|seem|get|come|go|take|make|find|know)\b")
_BEFORE = re.compile(r"\b(?:the\s+)?(?:week|weekend|days?|" + "|".join(WEEKDAYS) + r")\s+before\s*$")
_BETWEEN = re.compile(r"\bbetween\s*$")


def _day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_range(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1)
    end = datetime(year + (month == 12), month % 12 + 1, 1)
    return start, end


def _nearest_year(month: int, day: int, ref: datetime, past: bool = False) -> int:
    """The year that puts month/day closest to ``ref``: a message's "in June" may be a plan for next
    June, but a question's "in June" (``past``) asks about one that has happened."""
    best = ref.year - 1 if past and datetime(ref.year, month, min(day, 28)) > ref else ref.year
    for year in (ref.year - 1, ref.year) if past else (ref.year - 1, ref.year, ref.year + 1):
        if past and datetime(year, month, min(day, 28)) > ref:
            continue
        try:
            if abs(datetime(year, month, min(day, 28)) - ref) < abs(datetime(best, month, min(day, 28)) - ref):
                best = year
        except ValueError:
            continue
    return best


def _relative(word: str, ref: datetime) -> tuple[datetime, datetime]:
    today = _day(ref)
    week_start = today - timedelta(days=today.weekday())
    month_start = today.replace(day=1)
    if word in ("yesterday", "last night"):
        return today - timedelta(days=1), today
    if word in ("today", "tonight", "this morning"):
        return today, today + timedelta(days=1)
    if word == "tomorrow":
        return today + timedelta(days=1), today + timedelta(days=2)
    if word in ("last week", "past week"):
        return today - timedelta(days=10), today
    if word == "this week":
        return week_start, week_start + timedelta(days=7)
    if word == "next week":
        return week_start + timedelta(days=7), week_start + timedelta(days=14)
    if word == "last weekend":
        saturday = week_start - timedelta(days=2)
        return saturday - timedelta(days=1), saturday + timedelta(days=2)
    if word in ("this weekend", "next weekend"):
        saturday = week_start + timedelta(days=5 + (7 if word == "next weekend" else 0))
        return saturday, saturday + timedelta(days=2)
    if word in ("last month", "past month"):
        previous = month_start - timedelta(days=1)
        return _month_range(previous.year, previous.month)[0], month_start + timedelta(days=today.day - 1)
    if word == "this month":
        return _month_range(today.year, today.month)
    if word == "next month":
        following = month_start + timedelta(days=32)
        return _month_range(following.year, following.month)
    if word in ("last year", "past year"):
        return datetime(today.year - 1, 1, 1), today
    if word == "this year":
        return datetime(today.year, 1, 1), datetime(today.year + 1, 1, 1)
    if word == "next year":
        return datetime(today.year + 1, 1, 1), datetime(today.year + 2, 1, 1)
    raise ValueError(word)


def _spans(text: str, ref: datetime, past: bool = False) -> list[tuple[int, int, datetime, datetime]]:
    """Every time expression in ``text``: (char start, char end, period start, period end)."""
    low = text.lower().replace("\u2019", "'")
    found: list[tuple[int, int, datetime, datetime]] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    def add(a: int, b: int, start: datetime, end: datetime) -> None:
        taken.append((a, b))
        found.append((a, b, start, end))

    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(low):
            if not free(m.start(), m.end()):
                continue
            month = int(m.group("mn")) if "mn" in m.groupdict() else MONTHS[m.group("m")]
            day = int(m.group("d"))
            year = int(m.group("y")) if m.group("y") else _nearest_year(month, day, ref, past)
            try:
                start = datetime(year, month, day)
            except ValueError:
                continue
            add(m.start(), m.end(), start, start + timedelta(days=1))
    for m in _MONTH_YEAR.finditer(low):
        if free(m.start(), m.end()):
            add(m.start(), m.end(), *_month_range(int(m.group("y")), MONTHS[m.group("m")]))
    for m in _MONTH_ALONE.finditer(low):
        if free(m.start("m"), m.end()) and not (m.group("m") == "may" and _MODAL_MAY.match(low, m.end())):
            month = MONTHS[m.group("m")]
            year = _nearest_year(month, 1, ref, past)
            add(m.start("m"), m.end(), *_month_range(year, month))
            if past:  # "in June" asked in December 2023 may well mean June 2022 too
                found.append((m.start("m"), m.end(), *_month_range(year - 1, month)))
    for m in _YEAR_ALONE.finditer(low):
        if free(m.start("y"), m.end()):
            year = int(m.group("y"))
            add(m.start("y"), m.end(), datetime(year, 1, 1), datetime(year + 1, 1, 1))
    for m in _AGO.finditer(low):
        if free(m.start(), m.end()):
            raw = m.group("n")
            n = int(raw) if raw.isdigit() else NUMBERS.get(raw, 1)
            days = n * UNITS[m.group("u")]
            slack = max(1.0, days * 0.25)
            center = _day(ref) - timedelta(days=days)
            add(m.start(), m.end(), center - timedelta(days=slack), center + timedelta(days=slack + 1))
    for m in _WEEKDAY.finditer(low):
        if free(m.start(), m.end()):
            target = WEEKDAYS[m.group("w")]
            today = _day(ref)
            if m.group("rel") == "next":
                delta = (target - today.weekday()) % 7 or 7
                weekday = today + timedelta(days=delta)
            else:
                delta = (today.weekday() - target) % 7 or 7
                weekday = today - timedelta(days=delta)
            add(m.start(), m.end(), weekday, weekday + timedelta(days=1))
    for m in _RELATIVE.finditer(low):
        if free(m.start(), m.end()):
            add(m.start(), m.end(), *_relative(m.group(1), ref))
    found.sort()
    return found


def _widen(text: str, spans: list[tuple[int, int, datetime, datetime]]) -> list[tuple[int, int, datetime, datetime]]:
    """Apply "the week before DATE" and "between DATE and DATE" to the dates they govern."""
    low = text.lower()
    out: list[tuple[int, int, datetime, datetime]] = []
    skip = set()
    for i, (a, b, start, end) in enumerate(spans):
        if i in skip:
            continue
        before = low[max(0, a - 40):a]
        if _BEFORE.search(before):
            start = start - timedelta(days=8)
        elif _BETWEEN.search(before) and i + 1 < len(spans) and low[b:spans[i + 1][0]].strip() in ("and", "-", "to"):
            end = max(end, spans[i + 1][3])
            b = spans[i + 1][1]
            skip.add(i + 1)
        out.append((a, b, start, end))
    return out


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def query_ranges(query: str, now: datetime) -> tuple[list[Range], str]:
    """The periods ``query`` asks about, and the query with those expressions removed."""
    spans = _widen(query, _spans(query, now, past=True))
    rest, last = [], 0
    for a, b, _, _ in spans:
        rest.append(query[last:a])
        last = b
    rest.append(query[last:])
    return [(_ts(s), _ts(e)) for _, _, s, e in spans], " ".join("".join(rest).split())


def mention_ranges(text: str, said_at: datetime) -> list[Range]:
    """The periods a message said at ``said_at`` refers to, resolved against that moment."""
    return [(_ts(s), _ts(e)) for _, _, s, e in _widen(text, _spans(text, said_at))]
