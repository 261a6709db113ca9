"""`yici simulate-line-system --name NAME --port PORT`: a stand-in line system receiving deliveries."""

import json
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from yici.exchange.simulator import make_server


class Command(BaseCommand):
    help = (
        "Run a simulated line system on 127.0.0.1: it verifies Yici's signature, honours idempotency keys, "
        "stores what it receives in its own SQLite file (each message once, each record's latest version), and "
        "can fail (500), time out or answer slowly for a given share of requests."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the simulated system's name (also names its store)")
        parser.add_argument("--port", required=True, type=int, help="port on 127.0.0.1 (0: any free port)")
        parser.add_argument("--fail-rate", type=float, default=0.0, help="share of requests answered with 500 (0–1)")
        parser.add_argument("--latency-ms", type=int, default=0, help="delay before each answer")
        parser.add_argument("--timeout-rate", type=float, default=0.0,
                            help="share of requests stored but answered only after --hang-seconds (0–1)")
        parser.add_argument("--hang-seconds", type=float, default=15.0, help="how long a timed-out answer waits")
        parser.add_argument("--schema", help="JSON file {entity: [field, ...]}: the fields this system keeps")
        parser.add_argument("--secret", default="", help="shared signing secret (default: $YICI_SIMULATOR_SECRET)")
        parser.add_argument("--store", help="SQLite file for what is received (default: var/simulator-NAME.sqlite3)")
        # One account: sign in with Yici (OIDC relying party) and receive accounts (SCIM server).
        parser.add_argument("--oidc-issuer", default="", help="Yici's issuer URL, e.g. http://127.0.0.1:8000/o")
        parser.add_argument("--client-id", default="", help="OIDC client ID (default: $YICI_SIMULATOR_CLIENT_ID)")
        parser.add_argument("--client-secret", default="",
                            help="OIDC client secret (default: $YICI_SIMULATOR_CLIENT_SECRET)")
        parser.add_argument("--scim", action="store_true", help="serve SCIM 2.0 at /scim/v2 (bearer: the signing secret)")

    def handle(self, *args, **options):
        name, port = options["name"], options["port"]
        if not 0 <= port <= 65535:
            raise CommandError(f"port must be between 0 and 65535, not {port}")
        if not 0.0 <= options["fail_rate"] <= 1.0:
            raise CommandError("--fail-rate must be between 0 and 1")
        if options["latency_ms"] < 0:
            raise CommandError("--latency-ms cannot be negative")
        if not 0.0 <= options["timeout_rate"] <= 1.0:
            raise CommandError("--timeout-rate must be between 0 and 1")
        if options["hang_seconds"] < 0:
            raise CommandError("--hang-seconds cannot be negative")
        schema = self._schema(options["schema"]) if options["schema"] else None
        if not name.replace("-", "").replace("_", "").isalnum():
            raise CommandError("--name may hold letters, digits, '-' and '_' only")
        secret = options["secret"] or os.environ.get("YICI_SIMULATOR_SECRET", "")
        if not secret:
            raise CommandError("a signing secret is required (--secret or $YICI_SIMULATOR_SECRET)")
        store = options["store"] or settings.VAR_DIR / f"simulator-{name}.sqlite3"
        try:
            server = make_server(name=name, port=port, secret=secret, store_path=store, fail_rate=options["fail_rate"],
                                 latency_ms=options["latency_ms"], timeout_rate=options["timeout_rate"],
                                 hang_seconds=options["hang_seconds"], schema=schema, quiet=options["verbosity"] < 2)
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        self._one_account(server, options)
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

    @staticmethod
    def _schema(path: str) -> dict[str, list[str]]:
        try:
            with open(path, encoding="utf-8") as handle:
                schema = json.load(handle)
        except OSError as exc:
            raise CommandError(f"cannot read --schema {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise CommandError(f"--schema {path} is not JSON: {exc}") from exc
        if not isinstance(schema, dict) or not all(
            isinstance(fields, list) and all(isinstance(f, str) for f in fields) for fields in schema.values()
        ):
            raise CommandError(f"--schema {path} must be an object of entity → list of field names")
        return schema

    def _one_account(self, server, options):
        from yici.exchange.simulator_sso import enable_scim, enable_sso

        if options["scim"]:
            enable_scim(server, token=server.secret)
        if options["oidc_issuer"]:
            client_id = options["client_id"] or os.environ.get("YICI_SIMULATOR_CLIENT_ID", "")
            client_secret = options["client_secret"] or os.environ.get("YICI_SIMULATOR_CLIENT_SECRET", "")
            if not client_id or not client_secret:
                server.server_close()
                server.store.close()
                raise CommandError("--oidc-issuer needs --client-id and --client-secret")
            # After each sign-in the simulator reports what waits for the user to Yici's portal.
            enable_sso(server, issuer=options["oidc_issuer"], client_id=client_id, client_secret=client_secret,
                       report_waiting=True)
