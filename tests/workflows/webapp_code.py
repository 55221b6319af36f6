"""The code the fake model writes for "build a todo web app with login, with tests": a WSGI app on
the standard library and its unittest tests, for any resource (``todos``, ``notes``). The first
version forgets to check the login on the resource's route; the tests catch it."""

from __future__ import annotations

APP = '''"""A __THING__ web app with login (WSGI, standard library only): python3 -m wsgiref.simple_server is enough to serve it."""
import hashlib
import hmac
import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

USERS = {}  # name -> (salt, password hash)
SESSIONS = {}  # session token -> name
ITEMS = {}  # name -> that user's __RESOURCE__


def add_user(name, password):
    salt = secrets.token_bytes(16)
    USERS[name] = (salt, hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 50_000))


def password_ok(name, password):
    if name not in USERS:
        return False
    salt, stored = USERS[name]
    return hmac.compare_digest(stored, hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 50_000))


def respond(start_response, status, payload, headers=()):
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers])
    return [body]


def app(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
    form = {key: values[0] for key, values in parse_qs(raw).items()}
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    user = SESSIONS.get(cookie["session"].value) if "session" in cookie else None
    if path == "/login" and method == "POST":
        if not password_ok(form.get("username", ""), form.get("password", "")):
            return respond(start_response, "401 Unauthorized", {"error": "wrong username or password"})
        token = secrets.token_urlsafe(16)
        SESSIONS[token] = form["username"]
        return respond(start_response, "200 OK", {"ok": True}, [("Set-Cookie", f"session={token}; HttpOnly; Path=/")])
    if path == "/__RESOURCE__":
__LOGIN_CHECK__        if method == "POST":
            ITEMS.setdefault(user, []).append(form.get("text", ""))
            return respond(start_response, "201 Created", {"ok": True})
        return respond(start_response, "200 OK", ITEMS.get(user, []))
    return respond(start_response, "404 Not Found", {"error": "not found"})
'''

LOGIN_CHECK = '''        if user is None:
            return respond(start_response, "401 Unauthorized", {"error": "log in first"})
'''

TESTS = '''import io
import json
import unittest

import app as web


def call(method, path, form="", cookie=""):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(form)),
               "wsgi.input": io.BytesIO(form.encode()), "HTTP_COOKIE": cookie}
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(web.app(environ, start_response))
    return seen["status"], seen["headers"], json.loads(body)


class __CLASS__AppTest(unittest.TestCase):
    def setUp(self):
        for table in (web.USERS, web.SESSIONS, web.ITEMS):
            table.clear()
        web.add_user("ana", "s3cret!")
        web.add_user("ben", "hunter22")

    def login(self, name="ana", password="s3cret!"):
        status, headers, _ = call("POST", "/login", f"username={name}&password={password}")
        return status, headers.get("Set-Cookie", "").split(";")[0]

    def test_login_with_the_right_password(self):
        status, cookie = self.login()
        self.assertEqual(status, "200 OK")
        self.assertTrue(cookie.startswith("session="))

    def test_a_wrong_password_is_refused(self):
        self.assertEqual(self.login(password="guess")[0], "401 Unauthorized")

    def test___RESOURCE___need_a_login(self):
        self.assertEqual(call("GET", "/__RESOURCE__")[0], "401 Unauthorized")
        self.assertEqual(call("POST", "/__RESOURCE__", "text=sneaky")[0], "401 Unauthorized")

    def test_add_and_list___RESOURCE__(self):
        _, cookie = self.login()
        self.assertEqual(call("POST", "/__RESOURCE__", "text=buy+milk", cookie)[0], "201 Created")
        self.assertEqual(call("GET", "/__RESOURCE__", cookie=cookie)[2], ["buy milk"])

    def test_each_user_sees_only_their_own(self):
        _, ana = self.login()
        _, ben = self.login("ben", "hunter22")
        call("POST", "/__RESOURCE__", "text=ana+only", ana)
        self.assertEqual(call("GET", "/__RESOURCE__", cookie=ben)[2], [])


if __name__ == "__main__":
    unittest.main()
'''


def app_code(thing: str, resource: str, checks_login: bool) -> str:
    return (APP.replace("__THING__", thing).replace("__RESOURCE__", resource)
            .replace("__LOGIN_CHECK__", LOGIN_CHECK if checks_login else ""))


def unit_tests_for(resource: str) -> str:
    return TESTS.replace("__RESOURCE__", resource).replace("__CLASS__", resource.title())
