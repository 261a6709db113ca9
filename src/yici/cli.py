"""The ``yici`` console script: Django's management commands under one name.

``yici import-areas FILE`` and ``yici import_areas FILE`` are the same command; hyphens read better
on a command line, underscores are what Python modules need.
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yici.settings")
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    argv[0] = "yici"
    try:
        from django.core.exceptions import ImproperlyConfigured
        from django.core.management import execute_from_command_line
        from django.db import DatabaseError
    except ImportError as exc:  # pragma: no cover - only without an environment
        sys.exit(f"yici: Django is not installed in this environment ({exc}); run `make demo` or `uv sync`.")
    try:
        import django
        from django.utils import translation

        django.setup()
        # The shell's locale decides the language of command output (the web UI has its own switch).
        translation.activate(_cli_language())
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"yici: configuration error: {exc}")
    except DatabaseError as exc:  # not reachable, no such database …: one line, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.exit(f"yici: database error: {first}")


def _cli_language() -> str:
    for name in ("YICI_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "zh-hans" if value.lower().replace("_", "-").startswith("zh") else "en"
    return "en"


if __name__ == "__main__":
    main()
