"""``ember setup``: first run. Finds local model servers, asks a few questions, writes config.

config.toml and .env are written with mode 0600; an existing config.toml is kept as
config.toml.bak. Every question has a flag, so scripts can run it with ``--yes``; a question
that would need a terminal without one is a usage error (exit code 2), never a hang or "cancelled".
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import click

KNOWN_SERVERS = [
    (11434, "Ollama"),
    (8080, "llama.cpp server"),
    (1234, "LM Studio"),
    (8000, "vLLM"),
]

HOSTED = {
    "openai": ("openai", "https://api.openai.com/v1", "gpt-4o-mini"),
    "openrouter": ("openai", "https://openrouter.ai/api/v1", "openai/gpt-4o-mini"),
    "anthropic": ("anthropic", "https://api.anthropic.com", "claude-sonnet-4-5"),
}


@dataclass
class FoundServer:
    label: str
    base_url: str
    models: list[str] = field(default_factory=list)


def probe(port: int, label: str, host: str = "127.0.0.1", timeout: float = 0.4) -> FoundServer | None:
    """Ask ``/v1/models`` on a local port; ``None`` when nothing OpenAI-compatible answers."""
    return probe_url(f"http://{host}:{port}/v1", label, timeout)


def probe_url(base: str, label: str, timeout: float = 2.0) -> FoundServer | None:
    """Ask ``{base}/models``; ``None`` when nothing OpenAI-compatible answers there."""
    from ember.models.transport import load_httpx

    httpx = load_httpx()
    try:
        response = httpx.get(f"{base}/models", timeout=timeout)
        data = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if response.status_code != 200 or not isinstance(data, dict):
        return None
    models = [m.get("id", "") for m in data.get("data", []) if isinstance(m, dict)]
    return FoundServer(label, base, [m for m in models if m])


def scan(extra_ports: tuple[int, ...] = ()) -> list[FoundServer]:
    servers = [*KNOWN_SERVERS, *((p, f"server on port {p}") for p in extra_ports)]
    found = []
    for port, label in servers:
        server = probe(port, label)
        if server:
            found.append(server)
    return found


def as_url(text: str) -> str | None:
    """``text`` as a server's URL (``http://`` added to a bare ``host:port``), or None."""
    import re

    text = text.strip().rstrip("/")
    if "://" not in text:
        if not re.fullmatch(r"[A-Za-z0-9.-]*[A-Za-z.-][A-Za-z0-9.-]*(:\d{1,5})?(/\S*)?|[\d.]+:\d{1,5}(/\S*)?", text):
            return None  # neither host[:port][/path] nor a number
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", text):
        return None
    if port is None and parts.netloc.endswith(":"):
        return None
    return text


def locate(url: str) -> FoundServer:
    """The server at ``url``: its API root (``/v1`` added when that is where it answers) and models."""
    roots = [url] if url.endswith("/v1") else [url, url + "/v1"]
    for root in roots:
        found = probe_url(root, f"the server at {root}")
        if found:
            return found
    click.echo(f"warning: nothing answered at {url}/models; writing it anyway (`ember doctor` tests it)", err=True)
    return FoundServer(f"the server at {url}", url)


def _choice_or_url(count: int):
    """click's ``value_proc`` for the server question: a number from the list, or a URL."""

    def convert(text: str | int) -> int | str:
        text = str(text).strip()  # the default arrives as the int 1
        if text.isdigit() and 1 <= int(text) <= count:
            return int(text)
        url = as_url(text)
        if url is None:
            raise click.BadParameter(f"type a number from 1 to {count}, or a URL such as http://127.0.0.1:11434/v1")
        return url

    return convert


def _url_only(text: str) -> str:
    url = as_url(text)
    if url is None:
        raise click.BadParameter("type a URL such as http://127.0.0.1:11434/v1 or http://192.168.1.20:8080/v1")
    return url


def _ask(question: str, needs: str, **options):
    """``click.prompt`` on stderr; without a terminal, a usage error saying which flag to give."""
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"setup would ask {needs}, and stdin is not a terminal; in a script give {_FLAGS_HINT}"
        )
    return click.prompt(question, err=True, **options)


_FLAGS_HINT = (
    "--yes (the first server found and the defaults), or --provider, --base-url, --model and --api-key, e.g. "
    "ember setup --provider openai --base-url http://127.0.0.1:11434/v1 --model qwen2.5:7b --yes"
)


def toml_value(value: object) -> str:
    return json.dumps(value)  # a JSON string or number is a valid TOML basic value


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def write_config(home: Path, provider: str, base_url: str, model: str, api_key: str | None) -> list[Path]:
    config_path = home / "config.toml"
    if config_path.exists():
        backup = home / "config.toml.bak"
        backup.write_bytes(config_path.read_bytes())
        os.chmod(backup, 0o600)
    lines = [
        "# Written by `ember setup`. Docs: docs/configuration.md",
        "[model]",
        f"provider = {toml_value(provider)}",
        f"base_url = {toml_value(base_url)}",
        f"model = {toml_value(model)}",
        "",
    ]
    write_private(config_path, "\n".join(lines))
    written = [config_path]
    if api_key:
        env_path = home / ".env"
        from ember.config import read_dotenv

        values = read_dotenv(env_path) if env_path.exists() else {}
        values["EMBER_API_KEY"] = api_key
        write_private(env_path, "".join(f"{k}={json.dumps(v)}\n" for k, v in values.items()))
        written.append(env_path)
    return written


def needs_api_key(provider: str, base_url: str) -> bool:
    """Whether the endpoint is a hosted API that wants a key (judged by its host, not the protocol)."""
    from urllib.parse import urlsplit

    from ember.config import HOSTED_KEY_HOSTS

    if provider == "anthropic":
        return True
    host = (urlsplit(base_url).hostname or "").lower()
    return any(host == known or host.endswith("." + known) for known in HOSTED_KEY_HOSTS)


def _key_vars(base_url: str) -> list[str]:
    """The variables whose key would go to ``base_url``: EMBER_API_KEY, and a provider's own
    (OPENAI_API_KEY, ANTHROPIC_API_KEY) only for that provider's host (see config)."""
    from ember.config import well_known_key_env

    return ["EMBER_API_KEY", *filter(None, [well_known_key_env(base_url)])]


def existing_key(home: Path, base_url: str) -> bool:
    """A key that would be sent to ``base_url`` is already set (environment or EMBER_HOME/.env)."""
    from ember.config import read_dotenv

    dotenv = read_dotenv(home / ".env")
    return any(os.environ.get(var) or dotenv.get(var) for var in _key_vars(base_url))


def missing_key_hint(home: Path, provider: str, base_url: str) -> str:
    variables = " or ".join(_key_vars(base_url))
    return (
        f"no API key: {provider} at {base_url} needs one. Set {variables} in {home / '.env'} "
        "or the environment (or run `ember setup` again with --api-key KEY)"
    )


@click.command()
@click.option("--provider", type=click.Choice(["openai", "anthropic", "hermes", "openrouter"]), help="Skip the choice.")
@click.option("--base-url", help="API root, e.g. http://127.0.0.1:11434/v1.")
@click.option("--model", "model_name", help="Model id.")
@click.option("--api-key", help="Stored in EMBER_HOME/.env (mode 0600), never in config.toml.")
@click.option("--port", "ports", type=int, multiple=True, help="Also look for a server on this local port.")
@click.option("--yes", "-y", is_flag=True, help="Take the first server found / the defaults without asking.")
def setup(provider: str | None, base_url: str | None, model_name: str | None, api_key: str | None,
          ports: tuple[int, ...], yes: bool) -> None:
    """First-run setup: find local model servers and write config.toml and .env.

    At the server question, a URL may be typed instead of a number.
    """
    from ember.config import HomeError, ember_home, home_problem

    home = ember_home()
    problem = home_problem(home, write=True)
    if problem:
        raise HomeError(problem)
    if not yes and provider is None and base_url is None and not sys.stdin.isatty():
        raise click.UsageError(f"setup asks which model server to use, and stdin is not a terminal; "
                               f"in a script give {_FLAGS_HINT}")
    click.echo(f"Setting up Ember in {home}", err=True)
    if provider is None and base_url is None:
        provider, base_url, offered = _choose_server(ports, yes)
        if not model_name and offered:
            model_name = offered[0] if yes else _ask(
                "Model", "which model to use", type=click.Choice(offered), default=offered[0], show_choices=True
            )
    default_model = "default"
    if provider in HOSTED:
        real_provider, default_url, hosted_model = HOSTED[provider]
        base_url = base_url or default_url
        if base_url.rstrip("/") == default_url:  # the hosted API itself, not a local server speaking its protocol
            default_model = hosted_model
        provider = real_provider
    provider = provider or "openai"
    if not base_url:
        base_url = "http://127.0.0.1:8080/v1"
    if not model_name:
        model_name = default_model if yes else _ask("Model", "for the model id (--model)", default=default_model)
    key_needed = needs_api_key(provider, base_url)
    if not api_key and key_needed and not yes and not existing_key(home, base_url):
        api_key = _ask(
            "API key (Enter to skip and set it later)", "for the API key (--api-key)",
            default="", show_default=False, hide_input=True,
        ).strip() or None
    written = write_config(home, provider, base_url.rstrip("/"), model_name, api_key)
    for path in written:
        click.echo(f"wrote {path} (mode 0600)", err=True)
    if key_needed and not api_key and not existing_key(home, base_url):
        click.echo(f"warning: {missing_key_hint(home, provider, base_url)}", err=True)
    click.echo("Next: `ember doctor` to test the endpoint, then `ember` to chat.", err=True)


OTHER_URL = "url"  # the last choice: a server at a URL the user types


def _choose_server(ports: tuple[int, ...], yes: bool) -> tuple[str, str, list[str]]:
    """Offer the local servers found, the hosted APIs and a server at a URL; (provider, base_url, models)."""
    found = scan(ports)
    choices: list[tuple[str, str, str, list[str]]] = [
        ("openai", s.base_url, f"{s.label} at {s.base_url} ({len(s.models)} models)", s.models) for s in found
    ]
    choices += [(key, HOSTED[key][1], f"{key} (hosted, needs an API key)", []) for key in HOSTED]
    choices.append((OTHER_URL, "", "a local server at a URL (you type it, e.g. http://127.0.0.1:11434/v1)", []))
    if found:
        click.echo("Found local model servers:", err=True)
    else:
        ports_tried = ", ".join(str(p) for p in [*(port for port, _ in KNOWN_SERVERS), *ports])
        click.echo(f"No local model server found on ports {ports_tried}.", err=True)
    for number, (_, _, label, _) in enumerate(choices, 1):
        click.echo(f"  {number}. {label}", err=True)
    if yes:
        pick: int | str = 1
    else:
        pick = _ask("Which one (a number, or a URL)", "which model server to use", default=1,
                    value_proc=_choice_or_url(len(choices)))
    if isinstance(pick, int) and choices[pick - 1][0] == OTHER_URL:
        pick = _ask("URL of the server", "for its URL (--base-url)", value_proc=_url_only)
    if isinstance(pick, str):
        server = locate(pick)
        return "openai", server.base_url, server.models
    key, base_url, _, offered = choices[pick - 1]
    return key, base_url, offered
