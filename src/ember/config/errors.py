"""The errors of the configuration: what is wrong and what to do, never a traceback."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and what to do."""


class HomeError(ConfigError):
    """EMBER_HOME cannot be used (a file, unreadable, read-only); the message says what to do."""
