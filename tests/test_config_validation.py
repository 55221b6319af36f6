"""Every value ember.config reads is type- and range-checked, and a misspelt key is an error, not ignored."""

import re
from pathlib import Path

import pytest

from ember import config
from ember.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def load(home, text: str, **env: str):
    (home / "config.toml").write_text(text)
    return load_settings(home, env={"EMBER_HOME": str(home), **env})


def error(home, text: str, **env: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(home, text, **env)
    return str(info.value)


# --- types and ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        # top level
        ("workspace = 5\n", "config.toml: workspace must be a string, got 5"),
        ('retries = "2"\n', "config.toml: retries must be an integer, got '2'"),
        ("retries = true\n", "config.toml: retries must be an integer, got True"),
        ("retries = -1\n", "config.toml: retries must be an integer from 0 to 100, got -1"),
        ('model = "gpt-4o"\n', "config.toml: [model] must be a table, got 'gpt-4o'"),
        ("agent = 1\n", "config.toml: [agent] must be a table, got 1"),
        ('tools = ["*"]\n', "config.toml: [tools] must be a table, got ['*']"),
        ('routes = "cheap"\n', "config.toml: [routes] must be a table, got 'cheap'"),
        ("models = 1\n", "config.toml: [models] must be a table, got 1"),
        ("prices = 1\n", "config.toml: [prices] must be a table, got 1"),
        # [model]
        ("[model]\nprovider = 1\n", "config.toml: [model].provider must be a string, got 1"),
        ('[model]\nprovider = "gemini"\n', "config.toml: [model].provider names an unknown provider 'gemini'"),
        ("[model]\nmodel = 4\n", "config.toml: [model].model must be a string, got 4"),
        ("[model]\nbase_url = 11434\n", "config.toml: [model].base_url must be a string, got 11434"),
        ('[model]\nbase_url = "localhost:11434/v1"\n',
         "config.toml: [model].base_url must be an http:// or https:// URL, got 'localhost:11434/v1'"),
        ("[model]\napi_key = 123\n", "config.toml: [model].api_key must be a string, got 123"),
        ("[model]\napi_key_env = 1\n", "config.toml: [model].api_key_env must be a string, got 1"),
        ('[model]\ncontext_window = "big"\n', "config.toml: [model].context_window must be an integer, got 'big'"),
        ("[model]\ncontext_window = 0\n", "config.toml: [model].context_window must be an integer of at least 1"),
        ("[model]\ncontext_window = 8192.0\n", "config.toml: [model].context_window must be an integer, got 8192.0"),
        ("[model]\nmax_output_tokens = 0\n", "config.toml: [model].max_output_tokens must be an integer of at least 1"),
        ('[model]\ntimeout = "fast"\n', "config.toml: [model].timeout must be a number, got 'fast'"),
        ("[model]\ntimeout = 0\n", "config.toml: [model].timeout must be a number above 0, got 0"),
        ('[model]\nheaders = "X-A: 1"\n', "config.toml: [model].headers must be a table, got 'X-A: 1'"),
        ("[model.headers]\nX-Version = 2\n", "config.toml: [model].headers.X-Version must be a string, got 2"),
        ('[model]\nprovider = "hermes"\nendpoint = 1\n', "config.toml: [model].endpoint must be a string, got 1"),
        ('[model]\nprovider = "hermes"\nendpoint = "raw"\n',
         'config.toml: [model].endpoint must be "chat" or "completion", got \'raw\''),
        # [models.NAME]
        ("[models]\ncheap = 5\n", "config.toml: [models.cheap] must be a table, got 5"),
        ("[models.cheap]\ntimeout = -3\n", "config.toml: [models.cheap].timeout must be a number above 0, got -3"),
        ('[models.cheap]\nprovider = ["openai"]\n', "config.toml: [models.cheap].provider must be a string"),
        # [routes]
        ("[routes]\nchat = 1\n", "config.toml: [routes].chat must be a string, got 1"),
        ("[routes]\nfallback = 1\n", "config.toml: [routes].fallback must be a list, got 1"),
        ("[routes]\nfallback = [1]\n", "config.toml: [routes].fallback must be a list of strings, got 1 in it"),
        # [prices.MODEL]
        ('[prices.m]\ninput = "cheap"\n', "config.toml: [prices.m].input must be a number, got 'cheap'"),
        ('[prices."openai/gpt-4o"]\noutput = -1\n',
         'config.toml: [prices."openai/gpt-4o"].output must be a number of at least 0, got -1'),
        ("[prices]\nm = 2.0\n", "config.toml: [prices.m] must be a table, got 2.0"),
        # [agent]
        ('[agent]\nmax_steps = "many"\n', "config.toml: [agent].max_steps must be an integer, got 'many'"),
        ("[agent]\nmax_steps = 2.5\n", "config.toml: [agent].max_steps must be an integer, got 2.5"),
        ("[agent]\nmax_steps = 0\n", "config.toml: [agent].max_steps must be an integer from 1 to 1000, got 0"),
        ("[agent]\nmax_steps = 1001\n", "config.toml: [agent].max_steps must be an integer from 1 to 1000, got 1001"),
        ('[agent]\ncompact_at = "75%"\n', "config.toml: [agent].compact_at must be a number, got '75%'"),
        ("[agent]\ncompact_at = 0\n", "config.toml: [agent].compact_at must be a number above 0 and at most 1, got 0"),
        ("[agent]\ncompact_at = 1.5\n", "config.toml: [agent].compact_at must be a number above 0 and at most 1"),
        ("[agent]\ncompact_at = -0.2\n", "config.toml: [agent].compact_at must be a number above 0 and at most 1"),
        ("[agent]\nkeep_recent_turns = -1\n", "config.toml: [agent].keep_recent_turns must be an integer of at least 0"),
        ('[agent]\nstream = "no"\n', "config.toml: [agent].stream must be true or false, got 'no'"),
        ("[agent]\nstream = 0\n", "config.toml: [agent].stream must be true or false, got 0"),
        ("[agent]\nidentity = 5\n", "config.toml: [agent].identity must be a string, got 5"),
        # [tools]
        ("[tools]\nenabled = [1]\n", "config.toml: [tools].enabled must be a list of strings, got 1 in it"),
        ('[tools]\nenabled = "*"\n', "config.toml: [tools].enabled must be a list, got '*'"),
        ('[tools]\nshell_timeout = "2m"\n', "config.toml: [tools].shell_timeout must be a number, got '2m'"),
        ("[tools]\nshell_timeout = 0\n", "config.toml: [tools].shell_timeout must be a number above 0, got 0"),
        ("[tools]\nmax_output_chars = 0\n", "config.toml: [tools].max_output_chars must be an integer of at least 1"),
        ("[tools]\nmax_output_chars = 2e4\n", "config.toml: [tools].max_output_chars must be an integer, got 20000.0"),
        ('[tools]\nallow_commands = "git push *"\n', "config.toml: [tools].allow_commands must be a list, got"),
        ("[tools]\nallow_commands = [[1]]\n", "config.toml: [tools].allow_commands must be a list of strings"),
    ],
)
def test_a_wrong_value_is_a_clear_error(ember_home, text, message):
    assert error(ember_home, text).startswith(message)


def test_no_message_says_a_int():
    source = "".join(path.read_text() for path in (ROOT / "src" / "ember" / "config").glob("*.py"))
    assert "must be a {" not in source and "a int" not in source


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "EMBER_MAX_STEPS must be an integer from 1 to 1000, got 0"),
        ("1001", "EMBER_MAX_STEPS must be an integer from 1 to 1000, got 1001"),
        ("-5", "EMBER_MAX_STEPS must be an integer from 1 to 1000, got -5"),
        ("many", "EMBER_MAX_STEPS must be a whole number, got 'many'"),
        ("2.5", "EMBER_MAX_STEPS must be a whole number, got '2.5'"),
    ],
)
def test_ember_max_steps_is_checked(ember_home, value, message):
    assert error(ember_home, "", EMBER_MAX_STEPS=value) == message


def test_environment_overrides_are_named_in_their_errors(ember_home):
    assert error(ember_home, "", EMBER_BASE_URL="127.0.0.1:11434").startswith(
        "EMBER_BASE_URL must be an http:// or https:// URL")
    assert error(ember_home, "", EMBER_PROVIDER="gemini").startswith(
        "EMBER_PROVIDER names an unknown provider 'gemini'")


def test_good_values_at_the_edges_load(ember_home, tmp_path):
    settings = load(ember_home, f"""
retries = 0
workspace = "{tmp_path}"
[model]
base_url = "http://127.0.0.1:11434/v1/"
timeout = 1
context_window = 1
headers = {{ X-Version = "2" }}
[agent]
max_steps = 1000
compact_at = 1
keep_recent_turns = 0
stream = false
[tools]
enabled = []
shell_timeout = 0.5
max_output_chars = 1
[prices.m]
input = 0
output = 1
""", EMBER_MAX_STEPS=" 7 ")
    assert settings.retries == 0 and settings.workspace == tmp_path
    assert settings.default_model.base_url == "http://127.0.0.1:11434/v1"
    assert settings.default_model.timeout == 1.0 and isinstance(settings.default_model.timeout, float)
    assert settings.default_model.extra_headers == {"X-Version": "2"}
    assert settings.agent.max_steps == 7 and settings.agent.compact_at == 1.0 and settings.agent.stream is False
    assert settings.tools.enabled == [] and settings.tools.shell_timeout == 0.5
    assert settings.prices["m"].output == 1.0
    assert load(ember_home, '[routes]\nfallback = "default"\n').fallback == ["default"]


# --- unknown keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ('[model]\nprovder = "openai"\n', 'config.toml: [model] has no key "provder" (did you mean "provider"?)'),
        ('[models.cheap]\napi_key_evn = "K"\n',
         'config.toml: [models.cheap] has no key "api_key_evn" (did you mean "api_key_env"?)'),
        ("[agent]\nmax_step = 10\n", 'config.toml: [agent] has no key "max_step" (did you mean "max_steps"?)'),
        ("retry = 3\n", 'config.toml: there is no top-level key "retry" (did you mean "retries"?)'),
        ('[routes]\nchats = "default"\n', 'config.toml: [routes] has no key "chats" (did you mean "chat"?)'),
        ('[routes]\nfallbacks = ["default"]\n',
         'config.toml: [routes] has no key "fallbacks" (did you mean "fallback"?)'),
        ('[tools]\nenable = ["*"]\n', 'config.toml: [tools] has no key "enable" (did you mean "enabled"?)'),
        ("[tools]\nshell_timout = 5\n", 'config.toml: [tools] has no key "shell_timout" (did you mean "shell_timeout"?)'),
        ("[tools]\nfrobnicate = 1\n",
         'config.toml: [tools] has no key "frobnicate"; the keys are enabled, shell_timeout, max_output_chars, '
         "allow_commands, network"),
        ("[prices.m]\ninptu = 1.0\n", 'config.toml: [prices.m] has no key "inptu" (did you mean "input"?)'),
        # the classic TOML slip: a top-level key after a table header lands in that table
        ('[tools]\nenabled = ["*"]\nretries = 0\n',
         'config.toml: [tools] has no key "retries"; retries is a top-level key: put it before the first [table] header'),
        ("[agnet]\nmax_steps = 5\n", "config.toml: there is no table [agnet] (did you mean [agent]?)"),
        ('[tool]\nenabled = ["*"]\n', "config.toml: there is no table [tool] (did you mean [tools]?)"),
        ("[route]\nchat = 'default'\n", "config.toml: there is no table [route] (did you mean [routes]?)"),
        ("colour = 'red'\n", 'config.toml: there is no top-level key "colour"; the top-level keys are retries, workspace'),
    ],
)
def test_a_misspelt_key_is_an_error_that_suggests_the_right_one(ember_home, text, message):
    assert error(ember_home, text) == message


def test_sections_of_other_modules_and_plugins_are_left_to_them(ember_home):
    settings = load(ember_home, """
[ssh.hosts.box]
host = "box.example"
[sandbox]
mode = "none"
[web]
backend = "duckduckgo"
[http]
timeout = 5
[browser]
headless = true
[vision]
model = "default"
[speech]
backend = "espeak"
[images]
size = "512x512"
[delegate]
max_depth = 1
[mcp.servers.notes]
command = "notes-mcp"
[memory]
learning = false
search_weight = 0.5   # [memory] is shared with memory search: config.py does not judge its keys
[weather]             # a plugin's own table
units = "metric"
[[reminders]]         # a plugin's array of tables
at = "09:00"
""")
    assert settings.raw["reminders"] == [{"at": "09:00"}]
    assert settings.raw["weather"] == {"units": "metric"}
    assert settings.raw["memory"]["search_weight"] == 0.5


def _tables_read_elsewhere() -> set[str]:
    """Top-level tables that modules other than ember.config read from ``settings.raw``."""
    names: set[str] = set()
    for path in (ROOT / "src" / "ember").rglob("*.py"):
        if path.parent == ROOT / "src" / "ember" / "config":
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            names.update(re.findall(r"""\braw\b[^"'\n]*?\.get\(\s*["'](\w+)["']""", line))
            names.update(re.findall(r"""\bsection\(\s*[\w.]+\s*,\s*["'](\w+)["']""", line))
    from ember.tools.media import SECTION_KEYS

    return names | set(SECTION_KEYS)


def test_every_table_other_modules_read_is_known():
    read = _tables_read_elsewhere()
    assert {"ssh", "sandbox", "web", "http", "browser", "mcp", "memory", "delegate", "vision"} <= read
    assert read <= set(config.OTHER_TABLES) | set(config.OWN_TABLES)


def test_every_key_config_reads_is_in_its_known_set():
    """The known-key lists match the settings objects they fill, so a new setting cannot be rejected."""
    assert set(config.AGENT_KEYS) == set(vars(config.AgentSettings()))
    assert set(config.TOOLS_KEYS) == set(vars(config.ToolSettings()))
    assert set(config.ROUTE_KEYS) == {*config.TASK_KINDS, "fallback"}
    source = (ROOT / "src" / "ember" / "config" / "load.py").read_text()
    # every key read from a model table (table.get("KEY") in _model_spec / _reasoning) is known
    body = source[source.index("def _model_spec"):source.index("def _routes")]
    assert set(re.findall(r"""table\.get\("(\w+)\"""", body)) <= set(config.MODEL_KEYS)


def test_every_toml_example_in_the_docs_loads(tmp_path):
    blocks = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if doc.exists():
            blocks += [(doc.name, b) for b in re.findall(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)]
    blocks = [(name, b) for name, b in blocks if "[project" not in b]  # pyproject.toml of a plugin
    assert len(blocks) >= 20
    for number, (name, block) in enumerate(blocks):
        home = tmp_path / str(number)
        home.mkdir()
        (home / "config.toml").write_text(block, encoding="utf-8")
        try:
            load_settings(home, env={"EMBER_HOME": str(home)})
        except ConfigError as exc:
            raise AssertionError(f"{name}: {exc}\n{block}") from exc


def test_allow_patterns_that_allow_everything_are_refused_at_load(ember_home):
    for pattern in ("*", "rm *", "/*", "**"):
        (ember_home / "config.toml").write_text(f'[tools]\nallow_commands = ["git push --force origin *", "{pattern}"]\n')
        with pytest.raises(ConfigError, match=r"allow_commands: .* is refused"):
            load_settings()
    (ember_home / "config.toml").write_text('[tools]\nnetwork = false\nallow_commands = ["sudo apt install *"]\n')
    settings = load_settings()
    assert settings.tools.network is False and settings.tools.allow_commands == ["sudo apt install *"]
