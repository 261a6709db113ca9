"""Small helpers for `yici` commands: validated arguments and one-line errors."""

from django.core.management.base import CommandError


def validate_port(value: str | int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise CommandError(f"port {value!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise CommandError(f"port {port} is outside 1–65535")
    return port
