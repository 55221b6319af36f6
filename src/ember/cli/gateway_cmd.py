"""``ember gateway run|status|pair|link`` and ``ember send PLATFORM:CHAT "text"``.

See docs/gateway.md. The gateway works in ``EMBER_HOME/workspace`` (or the configured
workspace), never in the directory it was started from: it is a long-running door.
"""

from __future__ import annotations

import json
import sys
import time

import click

from ember.cli.errors import CliError
from ember.cli.group import DefaultGroup

NO_CHANNEL = (
    "no channel is configured",
    "set one chat app's settings, with who may talk to Ember, in EMBER_HOME/.env (or its [gateway.*] "
    "table in config.toml):\n"
    "      Telegram  TELEGRAM_BOT_TOKEN, EMBER_TELEGRAM_ALLOW\n"
    "      Slack     SLACK_BOT_TOKEN, SLACK_APP_TOKEN, EMBER_SLACK_ALLOW\n"
    "      Discord   DISCORD_BOT_TOKEN, EMBER_DISCORD_ALLOW\n"
    "      WhatsApp  WHATSAPP_TOKEN, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, "
    "EMBER_WHATSAPP_ALLOW\n"
    "      Signal    EMBER_SIGNAL_RPC, EMBER_SIGNAL_ACCOUNT, EMBER_SIGNAL_ALLOW\n"
    "      Email     EMBER_IMAP_URL, EMBER_SMTP_URL, EMBER_EMAIL_ADDRESS, EMBER_EMAIL_PASSWORD, EMBER_EMAIL_ALLOW\n"
    "      Webhooks  EMBER_WEBHOOK_SECRET\n"
    "    each app's page under docs/ (gateway-telegram.md, ...) walks through it; see docs/gateway.md",
)


def _settings_and_config():
    from ember.config import ConfigError, load_settings
    from ember.gateway.channels import gateway_config

    settings = load_settings()  # the configured workspace, else EMBER_HOME/workspace
    try:
        config = gateway_config(settings)
    except ConfigError as exc:
        raise CliError(str(exc), "fix it, then run `ember gateway run` again (docs/gateway.md)") from None
    return settings, config


def _ledger(settings):
    from ember.gateway.ledger import Ledger
    from ember.runtime import open_store

    return Ledger(open_store(settings))


@click.group(cls=DefaultGroup, default_command="status")
def gateway() -> None:
    """Run Ember in chat apps and signed webhooks; status, pairing, linking people."""


@gateway.command("run")
def run() -> None:
    """Connect the configured channels and answer messages until stopped (Ctrl-C, SIGTERM)."""
    import signal
    import threading

    from ember.cli.first_run import model_problem, ways_to_configure
    from ember.gateway.channels import build_channels
    from ember.gateway.service import Gateway
    from ember.runtime import build_runtime

    settings, config = _settings_and_config()  # the channels' tokens join settings.secrets: redacted
    if not config.channels:
        raise CliError(*NO_CHANNEL)
    problem = model_problem(settings)
    if problem:
        raise CliError(problem, ways_to_configure(settings))
    runtime = build_runtime(settings, interactive=False)
    channels = build_channels(config, runtime.store, runtime.settings.workspace_dir / "incoming")
    service = Gateway(runtime, config, channels)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        service.start()
        names = ", ".join(channels)
        click.echo(f"Ember gateway: {names}; workspace {settings.workspace_dir}. Ctrl-C to stop.", err=True)
        while not stop.wait(1.0):
            pass
    finally:
        click.echo("stopping...", err=True)
        service.stop()
        runtime.close()


@gateway.command("status")
@click.option("--json", "as_json", is_flag=True, help="As one JSON object.")
def status(as_json: bool) -> None:
    """Workers and their channels, queues per chat, undelivered messages, last errors."""
    from ember.gateway.status import gateway_status

    settings, config = _settings_and_config()
    ledger = _ledger(settings)
    try:
        data = gateway_status(ledger, config.channels, configs=config.configs)
    finally:
        ledger.store.close()
    if as_json:
        click.echo(json.dumps(data))
        return
    if not config.channels:
        click.echo(f"{NO_CHANNEL[0]}: {NO_CHANNEL[1]}")
        return
    running = [w for w in data["workers"] if w["live"]]
    if len(running) > 1:
        click.echo(f"gateway: running, {len(running)} workers")
    else:
        click.echo(f"gateway: {'running, pid ' + str(data['pid']) if data['running'] else 'not running'}")
    for row in data["channels"]:
        state = "connected" if row["connected"] else "not connected"
        if row.get("mode"):
            state += f" ({' '.join(filter(None, (row['mode'], row.get('webhook_url'))))})"
        line = f"  {row['name']}: {state}, {row['undelivered']} undelivered, {row['failed']} failed"
        click.echo(line + (f"; last error: {row['last_error']}" if row["last_error"] else ""))
    for chat, depth in sorted(data["queues"].items()):
        click.echo(f"  queue {chat}: {depth}")
    if data["workers"]:
        click.echo("workers:")
    now = time.time()
    for worker in data["workers"]:
        click.echo(f"  {worker['id']}: {_worker_line(worker, now)}")


def _worker_line(worker: dict, now: float) -> str:
    """One worker of ``gateway status``: since when it runs and its channels, or when it was last seen."""
    if not worker["live"]:
        return f"not seen since {_when(worker['last_heartbeat'], now)}"
    channels = ", ".join(f"{c['name']} {'connected' if c['connected'] else 'not connected'}"
                         + (f" ({c['last_error']})" if c["last_error"] else "") for c in worker["channels"])
    return (f"running since {_when(worker['started'], now)}, last heartbeat {_ago(now - worker['last_heartbeat'])}"
            + (f"; {channels}" if channels else ""))


def _when(at: float, now: float) -> str:
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))} ({_ago(now - at)})"


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


@gateway.command("pair")
@click.option("--minutes", type=click.IntRange(1, 1440), default=10, show_default=True,
              help="How long the code stays valid.")
def pair(minutes: int) -> None:
    """Print a one-time code; a new sender who sends it is allowed from then on."""
    settings, _ = _settings_and_config()
    ledger = _ledger(settings)
    try:
        code = ledger.new_pairing_code(ttl=minutes * 60)
    finally:
        ledger.store.close()
    click.echo(code)
    click.echo(f"Send this code to Ember from the account to allow, within {minutes} minutes.", err=True)


@gateway.command("link")
@click.argument("senders", nargs=-1, required=True)
@click.option("--person", default=None, help="The person's name (default: the first sender; 'owner' is you).")
def link(senders: tuple[str, ...], person: str | None) -> None:
    """Make SENDERS (PLATFORM:USER_ID: telegram:123456789, slack:U0123, email:ana@example.org) one person."""
    from ember.gateway.channels import available

    platforms = sorted(name for name in available() if name != "webhook")
    parsed = []
    for sender in senders:
        platform, _, user = sender.partition(":")
        if platform not in platforms or not user.strip():
            raise click.UsageError(f"{sender!r}: write PLATFORM:USER_ID with PLATFORM one of {', '.join(platforms)} "
                                   "(e.g. telegram:123456789, slack:U0123ABC, email:ana@example.org)")
        parsed.append((platform, user.strip()))
    name = person or f"{parsed[0][0]}:{parsed[0][1]}"
    settings, _ = _settings_and_config()
    ledger = _ledger(settings)
    try:
        for platform, user in parsed:
            ledger.allow_sender(platform, user, name, "linked")
    finally:
        ledger.store.close()
    click.echo(f"Linked {', '.join(senders)} as {name}.")


@click.command()
@click.argument("target")
@click.argument("text", nargs=-1, required=True)
@click.option("--wait", type=float, default=10.0, show_default=True,
              help="When no gateway is running, seconds to spend delivering it now (0: only queue it).")
@click.option("--json", "as_json", is_flag=True, help="Print {queued, delivered, outbox_ids}.")
def send(target: str, text: tuple[str, ...], wait: float, as_json: bool) -> None:
    """Send TEXT to TARGET (telegram:123456789, slack:#team, slack:C0123) through the outbox."""
    from ember.gateway.channels import build_channels
    from ember.gateway.ledger import DELIVERED
    from ember.gateway.outbox import Outbox
    from ember.gateway.status import running_gateway

    message = " ".join(text).strip()
    if text == ("-",):
        message = sys.stdin.read().strip()
    platform, _, chat = target.partition(":")
    if not platform or not chat:
        raise click.UsageError(f"{target!r}: write PLATFORM:CHAT, e.g. telegram:123456789 or slack:#team")
    if not message:
        raise click.UsageError("the message is empty")
    settings, config = _settings_and_config()
    if platform not in config.channels or platform == "webhook":
        configured = ", ".join(c for c in config.channels if c != "webhook") or "none"
        raise CliError(f"no {platform} channel is configured (configured: {configured})", "see docs/gateway.md")
    ledger = _ledger(settings)
    try:
        channels = build_channels(config, ledger.store, settings.workspace_dir / "incoming")
        try:
            chat_id = channels[platform].resolve_chat(chat)
        except Exception as exc:
            raise CliError(f"cannot send to {target}: {exc}", "check the chat id or channel name") from None
        from ember.security.redact import Redactor

        outbox = Outbox(ledger, {platform: channels[platform]}, redact=Redactor(settings.secret_values()).redact)
        ids = outbox.queue(platform, chat_id, message, kind="send")
        delivered = False
        if wait > 0 and running_gateway(ledger) is None:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                outbox.deliver_due(platform)
                items = [ledger.outbox_item(i) for i in ids]
                if all(i is not None and i.status != "pending" for i in items):
                    break
                time.sleep(0.2)
        items = [ledger.outbox_item(i) for i in ids]
        delivered = all(i is not None and i.status == DELIVERED for i in items)
        failed = [i.last_error for i in items if i is not None and i.status == "failed"]
    finally:
        ledger.store.close()
    if as_json:
        click.echo(json.dumps({"queued": True, "delivered": delivered, "outbox_ids": ids}))
    elif delivered:
        click.echo(f"sent to {target}", err=True)
    else:
        click.echo(f"queued for {target}; the gateway delivers it" + (f" (failed: {failed[0]})" if failed else ""),
                   err=True)
    if failed:
        raise SystemExit(1)
