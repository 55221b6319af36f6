"""An incoming email as what the gateway needs: who, which conversation, the new text, the files.

- **Text**: the ``text/plain`` part, else the ``text/html`` part rendered to text (``html.parser``:
  block elements become lines, links keep their address, scripts and styles go, and so do quoted
  replies: ``<blockquote>`` and Gmail's ``gmail_quote``). Then the quoted reply is trimmed: lines
  starting with ``>``, and everything from an attribution line ("On Mon, ... wrote:", "Am ...
  schrieb ...:"), an Outlook header block ("-----Original Message-----", "From: ... Sent: ...")
  or a signature delimiter ("-- ") on.
- **Conversation**: the root Message-ID: the first of ``References``, else ``In-Reply-To``
  (looked up in what we already know: ``root_of``), else the message's own Message-ID.
- **Authentication**: ``Authentication-Results`` headers (RFC 8601) added by the receiving
  server; a message whose SPF, DKIM or DMARC result is ``fail`` for its From domain, with no
  ``pass`` of the same method for it, is refused. A sender can add such headers too, but only
  to their own harm: a forged ``fail`` refuses their own message; a forged ``pass`` changes
  nothing, since only failures are acted on.
- **Automatic mail** (bounces, vacation replies, lists: ``Auto-Submitted``, ``Precedence``, an
  empty ``Return-Path``) is recognized, so Ember never answers a robot and no mail loop starts.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

MAX_FILE = 25 * 1024 * 1024  # an attachment larger than this is named but not kept


@dataclass
class Attachment:
    name: str
    mime: str
    data: bytes = field(repr=False)


@dataclass
class Mail:
    message_id: str  # with its angle brackets, as in the headers
    sender: str  # the From address, lowercased
    sender_name: str
    subject: str
    text: str  # the new text: quotes trimmed
    in_reply_to: str | None
    references: list[str]
    attachments: list[Attachment]
    automatic: str | None  # why this is a robot's mail (a bounce, an auto-reply), or None
    auth_failure: str | None  # why the sender's domain failed SPF/DKIM/DMARC, or None


# --- reading -------------------------------------------------------------------------------------

_MSGID = re.compile(r"<[^<>\s]+>")


def message_ids(value: str | None) -> list[str]:
    return _MSGID.findall(str(value or ""))


def parse(raw: bytes) -> Mail:
    from email import policy
    from email.parser import BytesParser

    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    name, address = email.utils.parseaddr(str(message.get("From", "")))
    own_id = next(iter(message_ids(message.get("Message-ID"))), "")
    if not own_id:  # a sender that sets none: one made from the content, the same on every fetch
        own_id = f"<{hashlib.sha256(raw).hexdigest()[:32]}@ember.invalid>"
    sender = address.strip().lower()
    return Mail(
        message_id=own_id, sender=sender, sender_name=name.strip(),
        subject=" ".join(str(message.get("Subject", "")).split()),
        text=trim_quoted(_body(message)),
        in_reply_to=next(iter(message_ids(message.get("In-Reply-To"))), None),
        references=message_ids(message.get("References")),
        attachments=_attachments(message),
        automatic=_automatic(message, sender),
        auth_failure=auth_failure(message.get_all("Authentication-Results") or [], sender),
    )


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError, AssertionError):  # an unknown charset: decode by hand
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    text = str(content)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n")


def _attachments(message: EmailMessage) -> list[Attachment]:
    found: list[Attachment] = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage) or part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or len(payload) > MAX_FILE:
            continue
        name = part.get_filename() or f"attachment{len(found) + 1}"
        found.append(Attachment(name=name, mime=part.get_content_type(), data=payload))
    return found


def _automatic(message: EmailMessage, sender: str) -> str | None:
    submitted = str(message.get("Auto-Submitted", "no")).strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if message.get("Return-Path") is not None and str(message.get("Return-Path")).strip() == "<>":
        return "a bounce (empty Return-Path)"
    local = sender.partition("@")[0]
    if local in ("mailer-daemon", "postmaster") or message.get("X-Autoreply") or message.get("X-Autorespond"):
        return f"an automatic sender ({sender})"
    if message.get("List-Id") or message.get("List-Unsubscribe"):
        return "a mailing list"
    return None


# --- authentication ------------------------------------------------------------------------------

_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)((?:\s+(?:\([^)]*\)|[a-z.\-]+=[^\s;]+))*)", re.I)
_PROPERTY = re.compile(r"([a-z]+\.[a-z\-]+)=([^\s;]+)", re.I)


def _domain_of(value: str) -> str:
    value = value.strip().strip("<>").strip('"').lower()
    return value.rpartition("@")[2] if "@" in value else value


def _aligned(domain: str, from_domain: str) -> bool:
    return bool(domain) and (domain == from_domain or from_domain.endswith("." + domain)
                             or domain.endswith("." + from_domain))


def auth_failure(headers: list[Any], sender: str) -> str | None:
    """Why ``sender``'s domain failed authentication according to ``headers``, or None."""
    from_domain = _domain_of(sender)
    verdicts: dict[str, set[str]] = {}  # method -> results for the From domain
    for header in headers:
        text = " ".join(str(header).split())
        _, _, results = text.partition(";")
        for method, result, props in _RESULT.findall(results):
            method, result = method.lower(), result.lower()
            properties = {k.lower(): v for k, v in _PROPERTY.findall(props)}
            keys = {"spf": ("smtp.mailfrom", "smtp.helo"), "dkim": ("header.d", "header.i"),
                    "dmarc": ("header.from",)}[method]
            domains = [_domain_of(properties[k]) for k in keys if k in properties]
            if domains and not any(_aligned(d, from_domain) for d in domains):
                continue  # about another domain (a forwarder's, a list's)
            verdicts.setdefault(method, set()).add(result)
    failed = [m for m in ("dmarc", "dkim", "spf") if "fail" in verdicts.get(m, set())
              and "pass" not in verdicts.get(m, set())]
    if not failed:
        return None
    return f"{'/'.join(m.upper() for m in failed)} failed for {from_domain} (Authentication-Results)"


# --- HTML to text --------------------------------------------------------------------------------

_BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "ul", "ol",
           "section", "article", "header", "footer", "hr", "dd", "dt"}
_SKIPPED = {"script", "style", "head", "title", "blockquote"}
_QUOTE_CLASSES = {"gmail_quote", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "wbr"}


class _TextMaker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []  # the tags we are inside of whose text is left out
        self.links: list[str | None] = []
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = set(str(values.get("class") or "").split())
        if self.skipping:
            if tag not in _VOID:
                self.skipping.append(tag)
            return
        if tag in _SKIPPED or classes & _QUOTE_CLASSES or values.get("id") in ("appendonsend", "divRplyFwdMsg"):
            if tag not in _VOID:
                self.skipping.append(tag)
            return
        if tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "pre":
            self.pre += 1
        elif tag == "a":
            self.links.append(values.get("href"))

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag in self.skipping:
                while self.skipping and self.skipping.pop() != tag:
                    pass
            return
        if tag in _BLOCKS and tag != "li":
            self.parts.append("\n")
        if tag == "pre":
            self.pre = max(self.pre - 1, 0)
        elif tag == "a" and self.links:
            href = self.links.pop()
            text = self.parts[-1].strip() if self.parts else ""
            if href and href.startswith(("http://", "https://")) and href != text:
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    maker = _TextMaker()
    maker.feed(html)
    maker.close()
    lines = [line.strip() for line in "".join(maker.parts).replace("\xa0", " ").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- quoted replies ------------------------------------------------------------------------------

_ATTRIBUTION = re.compile(
    r"^(On\b.{0,200}\bwrote:|Am\b.{0,200}\bschrieb\b.{0,100}:|Le\b.{0,200}\ba écrit\s?:|El\b.{0,200}\bescribió:"
    r"|Op\b.{0,200}\bschreef\b.{0,100}:|Il\b.{0,200}\bha scritto:|.{0,100}<[^>\s]+@[^>\s]+>\s+wrote:)\s*$",
    re.I | re.S)
_OUTLOOK = re.compile(r"^(-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine)\s*-{2,}|_{10,})\s*$",
                      re.I)
_HEADER_BLOCK = re.compile(r"^(From|Von|De):\s.+", re.I)


def trim_quoted(text: str) -> str:
    """The new part of a reply: quoted lines, the attribution and what follows them removed."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for number, line in enumerate(lines):
        stripped = line.strip()
        pair = f"{stripped} {lines[number + 1].strip()}" if number + 1 < len(lines) else stripped
        if _ATTRIBUTION.match(stripped) or (not stripped.endswith(":") and _ATTRIBUTION.match(pair)):
            break
        if _OUTLOOK.match(stripped) or line in ("-- ", "--"):
            break
        if _HEADER_BLOCK.match(stripped) and any(
                re.match(r"^(Sent|Gesendet|Envoyé|Date):\s", following.strip(), re.I)
                for following in lines[number + 1:number + 4]):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
