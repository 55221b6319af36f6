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
