"""Hostile corpus for benchmarks/secret_scan.py: real-format credentials, randomly made with a fixed seed.

Each key has its vendor's prefix, real length and alphabet, drawn at random like a real one, so it
is realistic but valid nowhere. Each item is (category, file name, text) with one key in a setting
where people leak them (.env files, code, curl commands, configs, notes).
"""

from __future__ import annotations

import base64
import json
import random
import string

SEED = 20250607
LOWER, UPPER, DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
ALNUM = LOWER + UPPER + DIGITS
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
HEX = DIGITS + "abcdef"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pem(rng: random.Random, label: str, prefix: bytes, size: int, width: int = 64) -> str:
    body = base64.b64encode(prefix + rng.randbytes(size)).decode()
    lines = [body[i:i + width] for i in range(0, len(body), width)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"


class _Keys:
    """Real-format keys drawn from one seeded generator."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)

    def s(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def digits(self, n: int) -> str:
        return str(self.rng.randint(1, 9)) + self.s(n - 1, DIGITS)

    def openai(self, i: int) -> str:
        kind = i % 3
        if kind == 0:
            return "sk-proj-" + self.s(74, URLSAFE) + "T3BlbkFJ" + self.s(74, URLSAFE)
        if kind == 1:
            return "sk-svcacct-" + self.s(74, URLSAFE) + "T3BlbkFJ" + self.s(74, URLSAFE)
        return "sk-" + self.s(20) + "T3BlbkFJ" + self.s(20)

    def anthropic(self, i: int) -> str:
        return "sk-ant-api03-" + self.s(93, URLSAFE) + "AA"

    def github(self, i: int) -> str:
        return ("ghp_", "gho_", "ghs_", "ghu_")[i % 4] + self.s(36)

    def github_pat(self, i: int) -> str:
        return "github_pat_11" + self.s(20, UPPER + DIGITS) + "_" + self.s(59)

    def aws_id(self, i: int) -> str:
        return ("AKIA", "ASIA")[i % 2] + self.s(16, UPPER + "234567")

    def aws_secret(self, i: int) -> str:
        return self.s(40, B64)

    def slack(self, i: int) -> str:
        if i % 2:
            return f"xoxp-{self.digits(12)}-{self.digits(12)}-{self.digits(13)}-{self.s(32, HEX)}"
        return f"xoxb-{self.digits(12)}-{self.digits(13)}-{self.s(24)}"

    def stripe(self, i: int) -> str:
        if i % 2:
            return "sk_live_51" + self.s(97)
        return "sk_live_" + self.s(24)

    def google(self, i: int) -> str:
        return "AIzaSy" + self.s(33, URLSAFE)

    def hf(self, i: int) -> str:
        return "hf_" + self.s(34, LOWER + UPPER)

    def jwt(self, i: int) -> str:
        alg = ("HS256", "RS256", "ES256")[i % 3]
        header = _b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
        claims = {"sub": self.s(24, HEX), "iat": 1_700_000_000 + self.rng.randint(0, 10**7),
                  "exp": 1_800_000_000, "scope": "read write", "role": ("admin", "user", "service")[i % 3]}
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64url(self.rng.randbytes({"HS256": 32, "RS256": 256, "ES256": 64}[alg]))
        return f"{header}.{payload}.{signature}"

    def pem(self, i: int) -> str:
        kind = i % 4
        if kind == 0:
            return _pem(self.rng, "RSA PRIVATE KEY", b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00", 1180)
        if kind == 1:
            return _pem(self.rng, "OPENSSH PRIVATE KEY", b"openssh-key-v1\x00", 380, width=70)
        if kind == 2:
            return _pem(self.rng, "EC PRIVATE KEY", b"\x30\x77\x02\x01\x01\x04\x20", 112)
        return _pem(self.rng, "PRIVATE KEY", b"\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 32)

    def password(self, i: int) -> str:
        return self.s(self.rng.randint(16, 32), ALNUM + "!#%*+-=?^_~")

    def generic(self, i: int) -> tuple[str, str]:
        kind = i % 6
        if kind == 0:
            return "SECRET_KEY", "django-insecure-" + self.s(50, LOWER + DIGITS + "!@#$%^&*(-_=+)")
        if kind == 1:
            return "client_secret", self.s(40, URLSAFE)
        if kind == 2:
            return "API_KEY", self.s(32, HEX)
        if kind == 3:
            return "DB_PASSWORD", self.password(i)
        if kind == 4:
            return "webhook_secret", "whsec_" + self.s(32)
        return "TWILIO_AUTH_TOKEN", self.s(32, HEX)


_SETTINGS = [  # where a leaked key sits: a file name and a template
    (".env", "{name}={key}\n"),
    ("scripts/run.py", 'import requests\n\n{name_lower} = "{key}"\nrequests.get(URL, headers={{"x": {name_lower}}})\n'),
    ("references/setup.md", "## Setup\n\nMy working config:\n\n```\nexport {name}={key}\n```\n"),
    ("config.json", '{{\n  "service": "prod",\n  "{name_lower}": "{key}"\n}}\n'),
    ("notes.txt", "keys for the demo\n{name}: {key}\n"),
    ("config.yaml", "service:\n  {name_lower}: '{key}'\n  region: eu-west-1\n"),
    ("scripts/deploy.sh", "#!/bin/sh\n{name}='{key}' ./deploy --prod\n"),
    ("README.md", "Use this key (do not share): `{key}`\n"),
]

_VENDORS = [  # category, variable name, generator
    ("openai", "OPENAI_API_KEY", _Keys.openai),
    ("anthropic", "ANTHROPIC_API_KEY", _Keys.anthropic),
    ("github", "GITHUB_TOKEN", _Keys.github),
    ("github_pat", "GH_PAT", _Keys.github_pat),
    ("aws_access_key", "AWS_ACCESS_KEY_ID", _Keys.aws_id),
    ("slack", "SLACK_BOT_TOKEN", _Keys.slack),
    ("stripe", "STRIPE_KEY", _Keys.stripe),
    ("google", "GOOGLE_MAPS_KEY", _Keys.google),
    ("huggingface", "HF_TOKEN", _Keys.hf),
]


def hostile_items(seed: int = SEED) -> list[tuple[str, str, str]]:
    """The hostile corpus: (category, file name, text), over 100 items, the same for the same seed."""
    keys = _Keys(seed)
    items: list[tuple[str, str, str]] = []
    for category, name, make in _VENDORS:
        for i, (file, template) in enumerate(_SETTINGS):
            items.append((category, file, template.format(name=name, name_lower=name.lower(), key=make(keys, i))))
    for i in range(8):
        secret = keys.aws_secret(i)
        items.append(("aws_secret", ("references/aws.md", ".env", "scripts/s3.py", "config.ini")[i % 4], (
            f"[default]\naws_access_key_id = {keys.aws_id(i)}\naws_secret_access_key = {secret}\n",
            f"AWS_SECRET_ACCESS_KEY={secret}\n",
            f's3 = boto3.client("s3", aws_secret_access_key="{secret}")\n',
            f"secret_access_key: {secret}\n",
        )[i % 4]))
    for i in range(8):
        token = keys.jwt(i)
        items.append(("jwt", ("references/api.md", "scripts/call.sh", "notes.txt", "config.json")[i % 4], (
            f"Session token for the staging API:\n\n    {token}\n",
            f'curl -H "Authorization: Bearer {token}" https://api.internal/v1/users\n',
            f"jwt={token}\n",
            f'{{"id_token": "{token}"}}\n',
        )[i % 4]))
    for i in range(8):
        items.append(("private_key", ("keys/deploy_key", "references/server.md")[i % 2],
                      ("" if i % 2 == 0 else "The server's key:\n\n```\n") + keys.pem(i) + ("\n" if i % 2 == 0 else "\n```\n")))
    for i in range(8):
        password = keys.password(i)
        user = ("app", "admin", "deploy", "svc_reports")[i % 4]
        url = (f"postgres://{user}:{password}@db.prod.internal:5432/app",
               f"mongodb+srv://{user}:{password}@cluster0.a1b2c.mongodb.net/prod",
               f"redis://{user}:{password}@cache.internal:6379/0",
               f"https://{user}:{password}@git.internal.example/org/repo.git")[i % 4]
        items.append(("url_password", (".env", "scripts/db.py")[i % 2],
                      f"DATABASE_URL={url}\n" if i % 2 == 0 else f'engine = create_engine("{url}")\n'))
    for i in range(12):
        name, value = keys.generic(i)
        items.append(("generic", ("settings.py", ".env", "config.yaml")[i % 3], (
            f"{name} = '{value}'\n", f"{name}={value}\n", f"{name.lower()}: \"{value}\"\n")[i % 3]))
    for _ in range(6):
        token = keys.s(40, URLSAFE)
        items.append(("bearer", "references/api.md",
                      f'```\ncurl -H "Authorization: Bearer {token}" https://api.internal/v2/orders\n```\n'))
    return items
