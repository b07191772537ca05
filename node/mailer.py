"""Sending mail over SMTP (the server's settings: mail.* in node/config.py, the password from
KITH_MAIL_SMTP_PASSWORD). The standard library's smtplib runs in a worker thread: nothing blocks the event
loop. A password is only ever sent over TLS (STARTTLS, or port 465), except to a server on this machine."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from node.capture.links import is_loopback
from node.config import MailConfig
from node.errors import Conflict

__all__ = ["MailError", "check_mail_config", "send_mail"]

_TIMEOUT = 30.0


class MailError(Conflict):
    """The SMTP server could not be reached or refused the message; the message says what to do."""


def check_mail_config(config: MailConfig, password: str | None) -> None:
    """Raise Conflict when digests cannot be mailed with these settings, saying which setting to set: the server's
    configuration is the state a request meets, not something the request got wrong (409, not 400)."""
    if not config.smtp_host:
        raise Conflict("set mail.smtp_host (KITH_MAIL_SMTP_HOST) to mail digests", field="mail.smtp_host")
    if not config.from_address or "@" not in config.from_address:
        raise Conflict("set mail.from (KITH_MAIL_FROM) to the address digests come from", field="mail.from")
    secure = config.starttls or config.smtp_port == 465
    if config.smtp_user and not password:
        raise Conflict(
            "mail.smtp_user is set: give its password in KITH_MAIL_SMTP_PASSWORD", field="mail.smtp_user"
        )
    if config.smtp_user and not secure and not is_loopback(config.smtp_host):
        raise Conflict(
            "refusing to send the SMTP password unencrypted: set mail.starttls (or use port 465)",
            field="mail.starttls",
        )


def _send(config: MailConfig, password: str | None, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    try:
        if config.smtp_port == 465:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                config.smtp_host, config.smtp_port, timeout=_TIMEOUT, context=context
            )
        else:
            client = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=_TIMEOUT)
        with client:
            client.ehlo()
            if config.starttls and config.smtp_port != 465:
                client.starttls(context=context)
                client.ehlo()
            if config.smtp_user:
                client.login(config.smtp_user, password or "")
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"the SMTP server refused the login of {config.smtp_user} ({exc.smtp_code}); check "
            "KITH_MAIL_SMTP_PASSWORD"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(
            f"{config.smtp_host} does not offer STARTTLS; turn mail.starttls off only for a server on this machine"
        ) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(
            f"could not send through {config.smtp_host}:{config.smtp_port} ({type(exc).__name__}: {exc}); "
            "check the mail.* settings"
        ) from None


async def send_mail(
    config: MailConfig, password: str | None, *, to: str, subject: str, text: str, html: str | None = None
) -> str:
    """Send one message; returns its Message-ID."""
    check_mail_config(config, password)
    message = EmailMessage()
    message["From"] = config.from_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=config.from_address.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a digest
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    await asyncio.to_thread(_send, config, password, message)
    return str(message["Message-ID"])
