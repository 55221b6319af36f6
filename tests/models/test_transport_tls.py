"""A client made for plain http skips the CA bundle; an https URL always gets certificate checks."""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading

import pytest

from ember.config import ModelSpec
from ember.models.errors import ProviderError
from ember.models.transport import HttpTransport


class _Json(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"data": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve(tls_dir=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    if tls_dir is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def self_signed(tmp_path):
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip("openssl is not installed")
    return tmp_path


def _transport(url: str) -> HttpTransport:
    return HttpTransport(ModelSpec(name="default", provider="openai", model="m", base_url=url), {}, "test")


def test_plain_http_works_and_https_verifies_certificates(self_signed):
    plain, tls = _serve(), _serve(self_signed)
    try:
        http_url = f"http://127.0.0.1:{plain.server_address[1]}/v1"
        https_url = f"https://127.0.0.1:{tls.server_address[1]}/v1"
        transport = _transport(http_url)
        assert transport.get_json(f"{http_url}/models") == {"data": []}
        # The same transport asked for an https URL does not reuse its plain-http client.
        with pytest.raises(ProviderError, match="(?i)certificate"):
            transport.get_json(f"{https_url}/models")
        with pytest.raises(ProviderError, match="(?i)certificate"):
            _transport(https_url).get_json(f"{https_url}/models")
        transport.close()
    finally:
        plain.shutdown()
        tls.shutdown()
