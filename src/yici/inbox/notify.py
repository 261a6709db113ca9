"""Reminders: in-app notifications now, SMS through a connector later.

``notify`` stores a ``Notification`` (the inbox badge counts the unread ones) and, after the
transaction commits, hands the text to the configured ``SmsSender``. The SMS gateway is not
connected yet: the default ``LoggingSmsSender`` only logs what it would send. To connect one,
write a class with ``send(*, phone, text)`` (raise ``SmsError`` on failure) and name it in the
setting ``YICI_INBOX_SMS_SENDER`` (a dotted path).
"""

import logging
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from yici.inbox.models import Notification

logger = logging.getLogger("yici.inbox.sms")

DEFAULT_SENDER = "yici.inbox.notify.LoggingSmsSender"


class SmsError(Exception):
    """The gateway did not take the message."""


class SmsSender(Protocol):
    def send(self, *, phone: str, text: str) -> None: ...


class LoggingSmsSender:
    """The extension point's stand-in: logs the message instead of sending it (no gateway yet)."""

    def send(self, *, phone: str, text: str) -> None:
        logger.info("SMS not sent (no gateway configured) to %s: %s", phone[-4:].rjust(len(phone), "*"), text)


def sms_sender() -> SmsSender:
    return import_string(getattr(settings, "YICI_INBOX_SMS_SENDER", DEFAULT_SENDER))()


def _send_sms(phone: str, text: str) -> None:
    try:
        sms_sender().send(phone=phone, text=text)
    except SmsError as exc:  # an SMS is a courtesy; the in-app notice is already stored
        logger.warning("SMS to ...%s failed: %s", phone[-4:], exc)


def notify(*, user, text: str, item=None, key: str = "") -> Notification | None:
    """Store an in-app notice for ``user`` (once per ``key`` when given) and queue its SMS.

    Returns ``None`` when a notice with the same key was already sent.
    """
    try:
        with transaction.atomic():
            note = Notification.objects.create(user=user, item=item, text=text[:300], key=key)
    except IntegrityError:
        return None
    if user.phone:
        phone = user.phone
        transaction.on_commit(lambda: _send_sms(phone, text))
    return note
