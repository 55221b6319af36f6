"""A timeout that ``ember doctor``'s cap caused is reported as the cap's, not as the table's."""

from __future__ import annotations

import sys

from ember.config import load_settings
from ember.mcp.config import ServerConfig
from ember.mcp.probe import probe

# Completes the handshake (the SDK's discovery is refused, so it falls back to ``initialize``),
# then never answers anything: tools/list times out.
MUTE_SERVER = r"""
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    method, reply = message.get("method"), None
    if method == "initialize":
        result = {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "mute", "version": "1"}}
        reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
    elif method == "server/discover":
        reply = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "Method not found"}}
    if reply is not None:
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
"""


def hung(**fields) -> ServerConfig:
    return ServerConfig(name="hung", command="sleep", args=("120",), **fields)


def test_a_start_cut_short_by_the_cap_names_the_cap_and_the_full_connect_timeout():
    report = probe(load_settings(), hung(connect_timeout=60), limit=0.5)
    assert report["status"] == "error"
    assert "within 0.5 s (ember doctor's limit; `ember mcp test hung` waits the full connect_timeout of 60 s)" \
        in report["error"]
    assert "in its [mcp.servers] table" not in report["error"]


def test_a_connect_timeout_below_the_cap_is_still_the_tables():
    report = probe(load_settings(), hung(connect_timeout=0.5), limit=10)
    assert "within 0.5 s (connect_timeout in its [mcp.servers] table)" in report["error"]
    assert "doctor" not in report["error"]


def test_without_a_cap_the_message_is_unchanged():
    report = probe(load_settings(), hung(connect_timeout=0.5))
    assert "within 0.5 s (connect_timeout in its [mcp.servers] table)" in report["error"]


def test_a_request_cut_short_by_the_cap_names_the_full_timeout():
    config = ServerConfig(name="mute", command=sys.executable, args=("-c", MUTE_SERVER), timeout=45)
    report = probe(load_settings(), config, limit=1)
    assert report["status"] == "error"
    assert "within 1 s (ember doctor's limit; `ember mcp test mute` waits the full timeout of 45 s)" \
        in report["error"], report["error"]
