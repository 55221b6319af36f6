"""Reading schedules: natural language and cron expressions, with time zones."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ember.scheduler.schedule import ScheduleError, parse

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=BERLIN).timestamp()  # a Monday


def at(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


@pytest.mark.parametrize(("text", "expr"), [
    ("every weekday at 9am", "0 9 * * 1-5"),
    ("every day at 18:00", "0 18 * * *"),
    ("daily at 6pm", "0 18 * * *"),
    ("every monday 08:30", "30 8 * * 1"),
    ("every monday and thursday at 9", "0 9 * * 1,4"),
    ("every weekend at 10:30", "30 10 * * 0,6"),
    ("every morning", "0 8 * * *"),
    ("every 15 minutes", "*/15 * * * *"),
    ("every 2 hours", "0 */2 * * *"),
    ("hourly", "0 * * * *"),
    ("every month on the 1st at 9", "0 9 1 * *"),
    ("0 9 * * 1-5", "0 9 * * 1-5"),
    ("*/5 9-17 * * mon-fri", "*/5 9-17 * * mon-fri"),
])
def test_repeating_schedules(text, expr):
    schedule = parse(text, NOW, "Europe/Berlin")
    assert (schedule.kind, schedule.expr) == ("cron", expr)


def test_next_runs_in_the_schedules_time_zone():
    schedule = parse("every monday 08:30 Europe/Berlin", NOW)
    assert schedule.tz == "Europe/Berlin"
    assert schedule.next_after(NOW) == at(2026, 12, 14, 8, 30)
    weekday = parse("every weekday at 9am", NOW, "Europe/Berlin")
    assert weekday.next_after(NOW) == at(2026, 12, 8, 9, 0)
    assert weekday.next_after(at(2026, 12, 11, 9, 0)) == at(2026, 12, 14, 9, 0)  # friday -> monday


def test_daylight_saving_time_is_respected():
    spring = datetime(2026, 3, 28, 8, 0, tzinfo=BERLIN).timestamp()  # clocks go forward on the 29th
    daily = parse("every day at 9am", spring, "Europe/Berlin")
    first, second = daily.next_after(spring), None
    second = daily.next_after(first)
    assert datetime.fromtimestamp(first, BERLIN).hour == 9 and datetime.fromtimestamp(second, BERLIN).hour == 9
    assert second - first == 23 * 3600  # the night the clocks go forward is an hour shorter


@pytest.mark.parametrize(("text", "expected"), [
    ("in 2 hours", at(2026, 12, 7, 12, 0)),
    ("in 30 minutes", at(2026, 12, 7, 10, 30)),
    ("tomorrow at 8am", at(2026, 12, 8, 8, 0)),
    ("today at 17:30", at(2026, 12, 7, 17, 30)),
    ("at 2026-12-24 09:00", at(2026, 12, 24, 9, 0)),
])
def test_one_time_schedules(text, expected):
    schedule = parse(text, NOW, "Europe/Berlin")
    assert schedule.kind == "once" and schedule.at == expected
    assert schedule.next_after(NOW) == expected and schedule.next_after(expected) is None


@pytest.mark.parametrize("text", ["whenever", "every blursday at 9", "every 90 minutes", "today at 9am",
                                  "every day at 25:00", "0 9 * *", "every day Mars/Olympus"])
def test_unreadable_schedules_are_refused_with_examples(text):
    with pytest.raises(ScheduleError):
        parse(text, NOW, "Europe/Berlin")
