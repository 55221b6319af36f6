import threading

import pytest

from ember.config import Price, Settings
from ember.models.base import (
    AuthError,
    Cancelled,
    Message,
    ServerError,
    StreamDone,
    TextDelta,
)
from ember.models.router import Router
from tests.fakes.openai_server import Reply

HI = [Message("user", "hi")]


@pytest.fixture
def settings(tmp_path, fake_openai, make_spec):
    """Three named models on one fake, told apart by their model id."""
    models = {
        "default": make_spec(fake_openai, name="default", model="strong-1"),
        "cheap": make_spec(fake_openai, name="cheap", model="cheap-1"),
        "backup": make_spec(fake_openai, name="backup", model="backup-1"),
    }
    return Settings(home=tmp_path, models=models, routes={"learning": "cheap"}, fallback=["backup"], retries=2,
                    prices={"strong-1": Price(input=3.0, output=15.0), "backup-1": Price(input=1.0, output=2.0)})


def models_asked(fake):
    return [r["model"] for r in fake.requests]


def test_routes_by_kind(router, fake_openai):
    fake_openai.add("strong answer").add("cheap answer")
    assert router.complete("chat", HI).text == "strong answer"
    assert router.complete("learning", HI).text == "cheap answer"
    assert models_asked(fake_openai) == ["strong-1", "cheap-1"]
    assert router.last.spec_name == "cheap"


def test_retries_with_exponential_backoff(router, fake_openai, sleeps):
    fake_openai.add(Reply.fail(500)).add(Reply.fail(503)).add("finally")
    assert router.complete("chat", HI).text == "finally"
    assert sleeps == [1.0, 2.0]
    assert models_asked(fake_openai) == ["strong-1"] * 3


def test_backoff_is_capped(settings, fake_openai):
    settings.retries = 4
    delays = []
    router = Router(settings, sleep=delays.append, base_delay=2.0, max_delay=5.0)
    for _ in range(4):
        fake_openai.add(Reply.fail(502))
    fake_openai.add("ok")
    router.complete("chat", HI)
    assert delays == [2.0, 4.0, 5.0, 5.0]


def test_honours_retry_after(router, fake_openai, sleeps):
    fake_openai.add(Reply.fail(429, retry_after=3)).add("ok")
    router.complete("chat", HI)
    assert sleeps == [3.0]


def test_long_retry_after_goes_straight_to_the_fallback(router, fake_openai, sleeps):
    fake_openai.add(Reply.fail(429, retry_after=3600)).add("from backup")
    result = router.complete("chat", HI)
    assert result.text == "from backup"
    assert sleeps == []
    assert models_asked(fake_openai) == ["strong-1", "backup-1"]
    assert (router.last.spec_name, router.last.model) == ("backup", "backup-1")


def test_non_retryable_error_falls_back_without_retrying(router, fake_openai, sleeps):
    fake_openai.add(Reply.fail(401, "bad key")).add("from backup")
    assert router.complete("chat", HI).text == "from backup"
    assert sleeps == []


def test_everything_fails(router, fake_openai, sleeps):
    fake_openai.add(Reply.fail(401, "bad key")).add(Reply.fail(401, "also bad"))
    with pytest.raises(AuthError) as info:
        router.complete("chat", HI)
    assert "bad key" in str(info.value) and "backup" in str(info.value) and "also bad" in str(info.value)
    assert list(router.records) == []


def test_cost_and_usage_are_recorded(settings, fake_openai):
    calls = []
    router = Router(settings, sleep=lambda s: None, on_usage=lambda *args: calls.append(args))
    fake_openai.add(text="a", usage=(1000, 500)).add(text="b", usage=(10, 10))
    router.complete("chat", HI)
    router.complete("learning", HI)  # cheap-1 has no price: free
    first, second = router.records
    assert first.cost == pytest.approx((1000 * 3.0 + 500 * 15.0) / 1e6)
    assert (second.spec_name, second.cost) == ("cheap", 0.0)
    assert router.total_cost == pytest.approx(0.0105)
    assert router.total_usage.as_dict() == {"input_tokens": 1010, "output_tokens": 510}
    assert [c[:2] for c in calls] == [("default", "strong-1"), ("cheap", "cheap-1")]
    assert calls[0][3] == pytest.approx(0.0105)


def test_stream_falls_back_before_anything_was_yielded(router, fake_openai, sleeps):
    for _ in range(3):
        fake_openai.add(Reply.fail(500))
    fake_openai.add(text="backup streaming", usage=(4, 2))
    events = list(router.stream("chat", HI))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "backup streaming"
    assert isinstance(events[-1], StreamDone)
    assert sleeps == [1.0, 2.0]
    assert router.last.spec_name == "backup"
    assert router.last.cost == pytest.approx((4 * 1.0 + 2 * 2.0) / 1e6)


def test_stream_does_not_fall_back_after_yielding(router, fake_openai):
    fake_openai.add(text="half an answer", stream_error="boom").add("must not be used")
    seen = []
    with pytest.raises(ServerError, match="boom"):
        for event in router.stream("chat", HI):
            seen.append(event)
    assert seen and fake_openai.pending == 1
    assert list(router.records) == []


def test_cancel_during_backoff(settings, fake_openai):
    cancel = threading.Event()
    router = Router(settings, sleep=lambda s: cancel.set())
    fake_openai.add(Reply.fail(500)).add("never")
    with pytest.raises(Cancelled):
        router.complete("chat", HI, cancel=cancel)
    assert fake_openai.pending == 1


def test_provider_for(router):
    assert router.provider_for("cheap") is router.provider_for("cheap")
    assert router.provider_for("cheap").model == "cheap-1"
    with pytest.raises(KeyError, match="defined models"):
        router.provider_for("nope")
    assert [s.name for s in router.chain("tools")] == ["default", "backup"]
