"""A stand-in line system: a real HTTP server that receives Yici's deliveries.

It checks the signature (``X-Yici-Timestamp``, ``X-Yici-Signature``), requires an
``Idempotency-Key`` and honours it (a repeated key gets the stored answer back and changes
nothing), keeps what it received in a SQLite file of its own, and can be made slow
(``latency_ms``) or unreliable (``fail_rate``: that share of first sightings get a 500 and are not
stored, so a retry may succeed). ``GET /`` answers with a summary.
"""

import json
import random
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from yici.exchange.connectors.http import verify

MAX_BODY = 10 * 1024 * 1024


class SimulatorStore:
    """What the simulated system received, one row per idempotency key."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS received (key TEXT PRIMARY KEY, received_at REAL, status INTEGER, "
            "response TEXT, payload TEXT)"
        )
        self.db.commit()

    def get(self, key: str) -> tuple[int, str] | None:
        with self.lock:
            row = self.db.execute("SELECT status, response FROM received WHERE key = ?", [key]).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, key: str, payload: str, status: int, response: str) -> tuple[int, str]:
        """Store once; if another thread stored the key meanwhile, return what it stored."""
        with self.lock:
            self.db.execute(
                "INSERT OR IGNORE INTO received (key, received_at, status, response, payload) VALUES (?, ?, ?, ?, ?)",
                [key, time.time(), status, response, payload],
            )
            self.db.commit()
            row = self.db.execute("SELECT status, response FROM received WHERE key = ?", [key]).fetchone()
        return row[0], row[1]

    def count(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM received").fetchone()[0]

    def payloads(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT payload FROM received ORDER BY received_at, rowid").fetchall()
        return [json.loads(row[0]) for row in rows]

    def close(self) -> None:
        with self.lock:
            self.db.close()


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, *, name: str, secret: str, store: SimulatorStore, fail_rate: float = 0.0,
                 latency_ms: int = 0, rng: random.Random | None = None, quiet: bool = True):
        self.name, self.secret, self.store = name, secret, store
        self.fail_rate, self.latency_ms = fail_rate, latency_ms
        self.rng = rng or random.Random()
        self.rng_lock = threading.Lock()
        self.quiet = quiet
        self.requests = 0
        super().__init__(address, SimulatorHandler)

    def handle_error(self, request, client_address):
        """A client that gave up (timed out, hung up) is part of the simulation, not a crash to print."""
        if not self.quiet:
            super().handle_error(request, client_address)

    def should_fail(self) -> bool:
        with self.rng_lock:
            self.requests += 1
            return self.fail_rate > 0 and self.rng.random() < self.fail_rate


class SimulatorHandler(BaseHTTPRequestHandler):
    server: SimulatorServer
    server_version = "YiciLineSystemSimulator/1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if not self.server.quiet:
            super().log_message(format, *args)

    def _answer(self, status: int, body: dict | str, extra: dict | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._answer(200, {"system": self.server.name, "received": self.server.store.count()})

    def do_POST(self):  # noqa: N802
        server = self.server
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            return self._answer(400, {"error": "bad Content-Length"})
        body = self.rfile.read(length)
        if server.latency_ms:
            time.sleep(server.latency_ms / 1000)
        timestamp = self.headers.get("X-Yici-Timestamp", "")
        if not verify(server.secret, timestamp, body, self.headers.get("X-Yici-Signature", "")):
            return self._answer(401, {"error": "bad signature"})
        key = self.headers.get("Idempotency-Key", "")
        if not key:
            return self._answer(400, {"error": "Idempotency-Key required"})
        stored = server.store.get(key)
        if stored is not None:
            return self._answer(stored[0], stored[1], {"Idempotent-Replayed": "true"})
        if server.should_fail():
            return self._answer(500, {"error": "simulated failure"})
        try:
            payload = json.loads(body)
        except ValueError:
            return self._answer(400, {"error": "body is not JSON"})
        response = json.dumps({"ok": True, "system": server.name, "key": key}, ensure_ascii=False)
        status, response = server.store.put(key, json.dumps(payload, ensure_ascii=False), 200, response)
        return self._answer(status, response)


def make_server(*, name: str, port: int = 0, secret: str, store_path: str | Path, fail_rate: float = 0.0,
                latency_ms: int = 0, rng: random.Random | None = None, quiet: bool = True) -> SimulatorServer:
    """A simulator bound to 127.0.0.1 (``port=0``: the OS chooses); call ``serve_forever`` to run it."""
    store = SimulatorStore(store_path)
    try:
        return SimulatorServer(("127.0.0.1", port), name=name, secret=secret, store=store, fail_rate=fail_rate,
                               latency_ms=latency_ms, rng=rng, quiet=quiet)
    except OSError:
        store.close()
        raise
