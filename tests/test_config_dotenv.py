""".env parsing follows python-dotenv: quotes, comments after values, export, escapes, multi-line values."""

import json

import pytest

from ember.config import ConfigError, load_settings, parse_dotenv


@pytest.mark.parametrize(
    "line, value",
    [
        ('EMBER_API_KEY="sk-x" # mine', "sk-x"),
        ("EMBER_API_KEY='sk-x' # mine", "sk-x"),
        ('EMBER_API_KEY="sk-x"# mine', "sk-x"),
        ('EMBER_API_KEY="sk-x"   ', "sk-x"),
        ("export EMBER_API_KEY=sk-x", "sk-x"),
        ('export EMBER_API_KEY="sk-x" # mine', "sk-x"),
        ("export\tEMBER_API_KEY='sk-x'", "sk-x"),
        ("EMBER_API_KEY=sk-x # mine", "sk-x"),
        ("EMBER_API_KEY=sk-x\t# mine", "sk-x"),
        ("EMBER_API_KEY=sk#x", "sk#x"),  # no space before '#': part of the value
        ('EMBER_API_KEY="sk # x" # mine', "sk # x"),  # a '#' inside quotes is kept
        ("EMBER_API_KEY='sk # x'", "sk # x"),
        ('EMBER_API_KEY="sk-\'x\'"', "sk-'x'"),
        ("EMBER_API_KEY='say \"hi\"'", 'say "hi"'),
        ("  EMBER_API_KEY = sk-x  ", "sk-x"),
        ('EMBER_API_KEY = "sk-x"', "sk-x"),
        ("EMBER_API_KEY=", ""),
        ('EMBER_API_KEY=""', ""),
        ("EMBER_API_KEY= # nothing", ""),
        ("EMBER_API_KEY=two words here", "two words here"),
        ('EMBER_API_KEY="a\\nb\\t\\"c\\"\\\\"', 'a\nb\t"c"\\'),  # double quotes decode escapes
        ("EMBER_API_KEY='a\\nb\\'c'", "a\\nb'c"),  # single quotes: only \\ and \'
        ("EMBER_API_KEY=a\\nb", "a\\nb"),  # unquoted: as written
        ('EMBER_API_KEY="sk-x', None),  # unterminated
        ('EMBER_API_KEY="sk-x" junk', None),  # text after the closing quote that is not a comment
    ],
)
def test_values_like_python_dotenv(line, value):
    if value is None:
        with pytest.raises(ConfigError, match="line 2"):
            parse_dotenv(f"# keys\n{line}\nOTHER=1\n")
        return
    assert parse_dotenv(f"# keys\n{line}\nOTHER=1\n") == {"EMBER_API_KEY": value, "OTHER": "1"}


def test_a_quoted_value_may_span_lines():
    text = 'PEM="-----BEGIN KEY-----\nabc\n-----END KEY-----" # a key\nAFTER=yes\n'
    assert parse_dotenv(text) == {"PEM": "-----BEGIN KEY-----\nabc\n-----END KEY-----", "AFTER": "yes"}


def test_windows_line_endings_and_no_final_newline():
    assert parse_dotenv('A="1" # x\r\nexport B=2 # y\r\n\r\nC=3') == {"A": "1", "B": "2", "C": "3"}


def test_errors_name_the_line():
    with pytest.raises(ConfigError, match=r"line 3: expected NAME=value"):
        parse_dotenv("A=1\n\nnot a pair\n")
    with pytest.raises(ConfigError, match=r"line 2: the value of B has no closing '"):
        parse_dotenv("A=1\nB='open\n")


def test_what_setup_writes_reads_back():
    values = {"EMBER_API_KEY": 'sk-"odd"\\key', "OTHER": "plain"}
    text = "".join(f"{k}={json.dumps(v)}\n" for k, v in values.items())  # as `ember setup` writes .env
    assert parse_dotenv(text) == values


def test_the_key_in_dotenv_reaches_the_model_without_its_quotes(ember_home):
    (ember_home / ".env").write_text('export EMBER_API_KEY="sk-from-dotenv-123" # my key\n')
    settings = load_settings()
    assert settings.default_model.api_key == "sk-from-dotenv-123"
    assert settings.secrets["EMBER_API_KEY"] == "sk-from-dotenv-123"
