from __future__ import annotations

import logging

import pytest

from ember.security.redact import RedactingFilter, Redactor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key is my-own-secret-value!", "key is [REDACTED]!"),
        ("OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234", "OPENAI_API_KEY=[REDACTED]"),
        ("using sk-ant-api03-abcdefghijklmnopqrstuv now", "using [REDACTED] now"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", "Authorization: Bearer [REDACTED]"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "aws [REDACTED] here"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED]"),
        ('{"api_key": "abc123def456"}', '{"api_key": "[REDACTED]"}'),
        ("password=hunter22x", "password=[REDACTED]"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key = [REDACTED]"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\nafter",
            "[REDACTED PRIVATE KEY]\nafter",
        ),
    ],
)
def test_redacts_known_values_and_key_shapes(text, expected):
    assert Redactor(["my-own-secret-value"]).redact(text) == expected


@pytest.mark.parametrize(
    "text",
    ["max_tokens=4096", "input_tokens: 1200", "the task-list is ready", "skip-this-step", "Bearer", "a = b"],
)
def test_leaves_ordinary_text_alone(text):
    assert Redactor(["abc"]).redact(text) == text  # "abc" is too short to be treated as a secret


def test_longest_secret_first_and_logging_filter(caplog):
    redactor = Redactor(["secret1", "secret1-extended"])
    assert redactor("x secret1-extended y") == "x [REDACTED] y"
    logger = logging.getLogger("ember.test.redact")
    logger.addFilter(RedactingFilter(redactor))
    with caplog.at_level(logging.INFO, logger="ember.test.redact"):
        logger.info("calling with %s", "secret1")
    assert caplog.records[-1].getMessage() == "calling with [REDACTED]"


def test_placeholders_stay_visible_for_what_is_stored():
    stored = Redactor(["my-own-secret-value"], placeholders=False)
    text = ("set OPENAI_API_KEY=${OPENAI_API_KEY} or sk-... or <your-token>; "
            "mine is my-own-secret-value and sk_live_8dKLzdocJ2isAjIhKtJ0RlgL")
    assert stored.redact(text) == ("set OPENAI_API_KEY=${OPENAI_API_KEY} or sk-... or <your-token>; "
                                   "mine is [REDACTED] and [REDACTED]")
    assert stored.redact("password=hunter22x") == "password=[REDACTED]"  # weak, but a person's password
    assert Redactor().redact("use <your-token> and sk-proj-xxxxxxxxxxxxxxxxxxxx") != \
        "use <your-token> and sk-proj-xxxxxxxxxxxxxxxxxxxx"  # logs and tool output mask placeholders too


def test_a_known_value_is_caught_reversed_and_base64_encoded():
    import base64

    key = "sk-live-abcdefghijklmnopqrstuvwxyz0123"
    redactor = Redactor([key])
    for before in ("", "A", "AB", "EMBER_API_KEY=", "X="):
        env = f"{before}{key}\nOTHER=1\n"
        for shown in (base64.b64encode(env.encode()).decode(), base64.urlsafe_b64encode(env.encode()).decode(),
                      env[::-1]):
            masked = redactor.redact(shown)
            assert "[REDACTED]" in masked, shown
            assert key not in masked and key[::-1] not in masked
    assert redactor.redact("nothing to see: c2stbGl2 ZS1h") == "nothing to see: c2stbGl2 ZS1h"


def test_redaction_is_idempotent():
    redactor = Redactor(["my-own-secret-value"], placeholders=False)
    for text in ("password is hunter2hunter2", "token=ghp_16C7e42F292c6912E7710c838347Ae178B4a x",
                 "key my-own-secret-value, api_key: 'abc123def456'", "https://u:Xk9fPq2LmZr7Tw@h/x"):
        once = redactor.redact(text)
        assert redactor.redact(once) == once
