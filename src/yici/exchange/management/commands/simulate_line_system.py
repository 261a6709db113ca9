"""`yici simulate-line-system --name NAME --port PORT`: a stand-in line system receiving deliveries."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from yici.exchange.simulator import make_server


class Command(BaseCommand):
    help = (
        "Run a simulated line system on 127.0.0.1: it verifies Yici's signature, honours idempotency keys, "
        "stores what it receives in its own SQLite file and fails a given share of requests with 500."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the simulated system's name (also names its store)")
        parser.add_argument("--port", required=True, type=int, help="port on 127.0.0.1 (0: any free port)")
        parser.add_argument("--fail-rate", type=float, default=0.0, help="share of requests answered with 500 (0–1)")
        parser.add_argument("--latency-ms", type=int, default=0, help="delay before each answer")
        parser.add_argument("--secret", default="", help="shared signing secret (default: $YICI_SIMULATOR_SECRET)")
        parser.add_argument("--store", help="SQLite file for what is received (default: var/simulator-NAME.sqlite3)")

    def handle(self, *args, **options):
        name, port = options["name"], options["port"]
        if not 0 <= port <= 65535:
            raise CommandError(f"port must be between 0 and 65535, not {port}")
        if not 0.0 <= options["fail_rate"] <= 1.0:
            raise CommandError("--fail-rate must be between 0 and 1")
        if options["latency_ms"] < 0:
            raise CommandError("--latency-ms cannot be negative")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise CommandError("--name may hold letters, digits, '-' and '_' only")
        secret = options["secret"] or os.environ.get("YICI_SIMULATOR_SECRET", "")
        if not secret:
            raise CommandError("a signing secret is required (--secret or $YICI_SIMULATOR_SECRET)")
        store = options["store"] or settings.VAR_DIR / f"simulator-{name}.sqlite3"
        try:
            server = make_server(name=name, port=port, secret=secret, store_path=store, fail_rate=options["fail_rate"],
                                 latency_ms=options["latency_ms"], quiet=options["verbosity"] < 2)
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        host, bound = server.server_address[:2]
        self.stdout.write(f"{name} listening on http://{host}:{bound}/ (store {store}); Ctrl-C stops it")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            server.store.close()
