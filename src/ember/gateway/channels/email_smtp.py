"""The sending side: a MIME message, handed to the SMTP server with the standard library's ``smtplib``.

``smtps://host:465`` connects with TLS, ``smtp://host:587`` upgrades with STARTTLS (and refuses to
go on without it), ``smtp+plain://`` stays unencrypted (for tests on 127.0.0.1). A message counts
as sent when the server accepted it (250 after the data); what the server refuses maps to a
``SendError``: a 5xx reply is permanent (no such mailbox, refused as spam, a wrong password), a
4xx reply, a dropped connection or a timeout is worth another try. One connection per message:
answers are few and far between, and a fresh connection never trips over one the server closed.
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from ember.gateway.channel import SendError
from ember.gateway.channels.email_imap import Address

SMTP_KINDS = {"smtps": ("ssl", 465), "smtp": ("starttls", 587), "smtp+plain": ("plain", 25)}
MAX_ATTACHMENT = 20 * 1024 * 1024  # most providers refuse messages over 25 MB, base64 included


def compose(sender: str, to: str, subject: str, text: str, message_id: str, *, in_reply_to: str | None = None,
            references: list[str] | None = None, file: str | None = None, automatic: str = "auto-replied"
            ) -> EmailMessage:
    """A plain-text message (and the file as an attachment) with the headers that keep threads."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    message["Auto-Submitted"] = automatic  # RFC 3834: vacation responders and the like leave it alone
    message.set_content(text or " ")
    if file:
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SendError(f"email: cannot attach {path.name}: {exc.strerror or exc}", permanent=True) from None
        if len(data) > MAX_ATTACHMENT:
            raise SendError(f"email: {path.name} is {len(data) / 1e6:.0f} MB; mail servers refuse attachments "
                            f"over {MAX_ATTACHMENT // 1_000_000} MB", permanent=True)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        main, _, sub = mime.partition("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=path.name)
    return message


def deliver(address: Address, user: str, password: str, message: EmailMessage, *, timeout: float = 30.0,
            ssl_context: ssl.SSLContext | None = None) -> None:
    """Hand ``message`` to the server; ``SendError`` when it was not accepted."""
    where = f"{address.host}:{address.port}"
    try:
        if address.scheme == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(address.host, address.port, timeout=timeout,
                                                    context=ssl_context or ssl.create_default_context())
        else:
            client = smtplib.SMTP(address.host, address.port, timeout=timeout)
        with client:
            client.ehlo_or_helo_if_needed()
            if address.scheme == "starttls":
                client.starttls(context=ssl_context or ssl.create_default_context())
                client.ehlo()
            if password and client.has_extn("auth"):
                client.login(address.user or user, password)
            refused = client.send_message(message)
            if refused:  # with one recipient a refusal raises; a partial one is still a refusal here
                raise smtplib.SMTPRecipientsRefused(refused)
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(f"SMTP: {where} refused the login for {address.user or user} ({_reply(exc)}); check "
                        "EMBER_EMAIL_PASSWORD (an app password, see docs/gateway-email.md)",
                        permanent=exc.smtp_code >= 500) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        reasons = "; ".join(f"{rcpt}: {code} {_decode(text)}" for rcpt, (code, text) in exc.recipients.items())
        raise SendError(f"SMTP: {where} refused the recipient ({reasons})",
                        permanent=bool(codes) and all(code >= 500 for code in codes)) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise SendError(f"SMTP: {where} does not offer {exc} (use smtps:// for port 465, smtp:// with STARTTLS "
                        "for 587)", permanent=True) from None
    except smtplib.SMTPResponseException as exc:  # a refused sender, refused data, a refused HELO...
        raise SendError(f"SMTP: {where} answered {_reply(exc)}", permanent=exc.smtp_code >= 500) from None
    except ssl.SSLCertVerificationError as exc:
        raise SendError(f"SMTP: the certificate of {where} is not valid ({exc.verify_message})",
                        permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, reset, timed out
        raise SendError(f"SMTP: cannot send through {where} ({type(exc).__name__}: {exc})") from None


def guess_subject(text: str) -> str:
    """A subject for a message that starts a conversation: its first line, shortened."""
    first = next((line.strip(" #*_>") for line in text.splitlines() if line.strip(" #*_>")), "")
    if len(first) > 70:
        first = first[:67].rsplit(" ", 1)[0] + "..."
    return first or "A message from Ember"


def _decode(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_decode(exc.smtp_error)}"
