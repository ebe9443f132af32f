"""E-mail for billing notices: an SMTP sender and the delivery of notices not yet e-mailed.

Delivery is at least once: a notice is marked ``emailed`` after the SMTP server accepted it, so
a crash between the two sends it again on the next run (never zero times).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from ilvb.billing.store import BillingStore
from ilvb.config import SmtpSettings

log = logging.getLogger(__name__)


class Mailer(Protocol):
    """Sends one plain-text e-mail."""

    async def send(self, to: str, subject: str, body: str) -> None:
        """Hand the message to the mail system; raise on failure."""
        ...


class SmtpMailer:
    """:class:`Mailer` over SMTP (stdlib ``smtplib`` in a thread): STARTTLS, TLS or plain."""

    def __init__(self, settings: SmtpSettings) -> None:
        if settings.host is None:
            raise ValueError("SmtpMailer needs billing.smtp.host")
        self.settings = settings

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.host is not None
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=context)
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(message)


async def deliver_notices(store: BillingStore, mailer: Mailer) -> int:
    """E-mail every notice not yet e-mailed to its account's address; returns how many went.
    A failure is logged and retried on the next call."""
    sent = 0
    for notice in await store.notices():
        if notice.emailed:
            continue
        account = await store.get_account(notice.account_id)
        if account is None:
            continue
        try:
            await mailer.send(account.email, notice.subject, notice.body)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning(
                "billing: e-mail of %s to account %s failed: %s", notice.key, notice.account_id, exc
            )
            continue
        await store.mark_emailed(notice.account_id, notice.key)
        sent += 1
    return sent
