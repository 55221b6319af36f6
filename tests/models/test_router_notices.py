"""The router says when it waits or falls back, and which named model answered (for pricing)."""

import pytest

from ember.config import Price, Settings
from ember.models.base import Completion, StreamDone, TextDelta, Usage
from ember.models.router import RouteNotice
from tests.fakes.openai_server import Reply
from tests.models.conftest import SECRET

from .test_router import HI, models_asked


@pytest.fixture
def settings(tmp_path, fake_openai, make_spec):
    models = {
        "default": make_spec(fake_openai, name="default", model="main-1"),
        "backup": make_spec(fake_openai, name="backup", model="backup-1"),
    }
    return Settings(home=tmp_path, models=models, fallback=["backup"], retries=2,
                    prices={"main-1": Price(input=3.0, output=15.0)})


def test_complete_tells_each_retry_and_the_fallback(router, fake_openai, sleeps):
    fake_openai.add(Reply.fail(429, retry_after=2)).add(Reply.fail(503)).add(Reply.fail(500)).add("from backup")
    notices = []
    result = router.complete("chat", HI, on_notice=notices.append)
    assert result.text == "from backup"
    assert notices == [
        "model default (main-1): HTTP 429, rate-limited, retrying in 2.0 s (attempt 2 of 3)",
        "model default (main-1): HTTP 503, retrying in 2.0 s (attempt 3 of 3)",
        "model default (main-1) failed (HTTP 500, 3 attempts); falling back to backup (backup-1)",
    ]
    assert sleeps == [2.0, 2.0]
    assert models_asked(fake_openai) == ["main-1"] * 3 + ["backup-1"]


def test_a_notice_comes_before_its_wait(router, fake_openai, sleeps):
    fake_openai.add(Reply.fail(502)).add("ok")
    seen = []
    router.sleep = lambda delay: seen.append(("slept", delay))
    for item in router.complete_events("chat", HI):
        seen.append(item)
    assert isinstance(seen[0], RouteNotice) and "retrying in 1.0 s" in seen[0].text
    assert seen[1] == ("slept", 1.0)
    assert isinstance(seen[2], Completion) and seen[2].text == "ok"


def test_long_retry_after_and_non_retryable_errors_say_why_they_fall_back(router, fake_openai):
    fake_openai.add(Reply.fail(429, retry_after=3600)).add("from backup")
    notices = []
    router.complete("chat", HI, on_notice=notices.append)
    assert notices == ["model default (main-1) failed (HTTP 429, rate-limited, asked to wait 3600 s); "
                       "falling back to backup (backup-1)"]

    fake_openai.add(Reply.fail(401, f"Incorrect API key provided: {SECRET}")).add("from backup")
    notices.clear()
    router.complete("chat", HI, on_notice=notices.append)
    assert notices == ["model default (main-1) failed (HTTP 401, API key refused); falling back to backup (backup-1)"]


def test_nothing_is_announced_after_the_last_model(router, fake_openai, dead_url, make_spec):
    router.settings.models["backup"] = make_spec(dead_url, name="backup", model="backup-1")
    router.settings.retries = 0
    fake_openai.add(Reply.fail(401, "bad key"))
    notices = []
    with pytest.raises(Exception, match="bad key"):
        router.complete("chat", HI, on_notice=notices.append)
    assert notices == ["model default (main-1) failed (HTTP 401, API key refused); falling back to backup (backup-1)"]


def test_connection_failures_are_named_without_the_url(router, settings, dead_url, make_spec, fake_openai):
    settings.models["default"] = make_spec(dead_url, name="default", model="main-1")
    fake_openai.add("from backup")
    notices = []
    router.complete("chat", HI, on_notice=notices.append)
    assert notices[0] == "model default (main-1): cannot connect, retrying in 1.0 s (attempt 2 of 3)"
    assert all(dead_url not in text for text in notices)


def test_stream_events_yield_notices_in_line(router, fake_openai, sleeps):
    fake_openai.add(Reply.fail(500)).add(text="streamed", usage=(4, 2))
    events = list(router.stream_events("chat", HI))
    assert isinstance(events[0], RouteNotice) and events[0].text.startswith("model default (main-1): HTTP 500")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "streamed"
    assert isinstance(events[-1], StreamDone) and events[-1].completion.spec_name == "default"

    fake_openai.add(Reply.fail(500)).add("again")
    notices = []
    plain = list(router.stream("chat", HI, on_notice=notices.append))
    assert not any(isinstance(e, RouteNotice) for e in plain) and len(notices) == 1


def test_the_completion_names_the_model_that_answered(router, fake_openai):
    fake_openai.add("main answer").add(Reply.fail(401)).add("backup answer")
    assert router.complete("chat", HI).spec_name == "default"
    assert router.complete("chat", HI).spec_name == "backup"


def test_a_fallback_is_priced_as_itself(router, settings, fake_openai):
    """An unpriced fallback is free, even when the model it stands in for has a price."""
    fake_openai.add(Reply.fail(401)).add(text="from backup", usage=(1000, 1000))
    completion = router.complete("chat", HI)
    assert completion.spec_name == "backup"
    assert router.cost_of(completion) == 0.0 and router.last.cost == 0.0

    # Priced by its configured id when the server returns another (a dated alias, say)...
    settings.prices["backup-1"] = Price(input=1.0, output=2.0)
    fake_openai.add(Reply.fail(401)).add(Reply(text="dated", usage=(1000, 1000), model="backup-1-2025"))
    completion = router.complete("chat", HI)
    assert completion.model == "backup-1-2025"
    assert router.cost_of(completion) == pytest.approx(3000 / 1e6) == pytest.approx(router.last.cost)

    # ...and by the returned id when that one has a price of its own.
    settings.prices["backup-1-2025"] = Price(input=10.0, output=10.0)
    assert router.cost_of(completion) == pytest.approx(20000 / 1e6)


def test_cost_of_a_completion_from_no_named_model(router):
    assert router.cost_of(Completion(model="unknown", usage=Usage(10, 10))) == 0.0
    assert router.cost_of(Completion(model="main-1", usage=Usage(1_000_000, 0))) == pytest.approx(3.0)
