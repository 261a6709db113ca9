"""A stand-in line system: a real HTTP server that receives Yici's deliveries.

It checks the signature (``X-Yici-Timestamp``, ``X-Yici-Signature``), requires an
``Idempotency-Key`` and honours it (a repeated key gets the stored answer back and changes
nothing), and keeps what it received in a SQLite file of its own: every message once, and the
current state of each record (its own schema: only the fields it declares are accepted; a record
is replaced by a newer version only, and an older version arriving late is counted as an order
violation). It can be made slow (``latency_ms``), unreliable (``fail_rate``: that share of first
sightings get a 500 and are not stored) and unresponsive (``timeout_rate``: that share is stored,
then answered only after ``hang_seconds``, so the sender times out and must retry the same key).
``POST /batch`` takes an array (``{"items": [{"key", "payload"}]}``) and answers per item.
``GET /`` answers with a summary, ``GET /records`` with the current state.
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
    """What the simulated system received (one row per idempotency key) and its records' current state."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS received (key TEXT PRIMARY KEY, received_at REAL, status INTEGER, "
            "response TEXT, payload TEXT)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS records (entity TEXT, id INTEGER, version INTEGER, data TEXT, "
            "updated_at REAL, PRIMARY KEY (entity, id))"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS violations (entity TEXT, id INTEGER, version INTEGER, "
                        "had INTEGER, at REAL)")
        self.db.commit()

    def get(self, key: str) -> tuple[int, str] | None:
        with self.lock:
            row = self.db.execute("SELECT status, response FROM received WHERE key = ?", [key]).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, key: str, payload: str, status: int, response: str) -> tuple[int, str]:
        """Store once; if another thread stored the key meanwhile, return what it stored."""
        return self.put_many([(key, payload, status, response)])[0]

    def put_many(self, items: list[tuple[str, str, int, str]]) -> list[tuple[int, str]]:
        """Store each (key, payload, status, response) once and apply new payloads to the records, in one transaction."""
        with self.lock:
            now = time.time()
            keys = [item[0] for item in items]
            stored = self._stored(keys)
            fresh = []
            for key, payload, status, response in items:
                if key not in stored:
                    stored[key] = (status, response)
                    fresh.append((key, now, status, response, payload))
            self.db.executemany(
                "INSERT INTO received (key, received_at, status, response, payload) VALUES (?, ?, ?, ?, ?)", fresh
            )
            self._apply_many([json.loads(row[4]) for row in fresh if row[2] == 200], now)
            self.db.commit()
            return [stored[key] for key in keys]

    def _stored(self, keys: list[str]) -> dict[str, tuple[int, str]]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, status, response in self.db.execute(
                f"SELECT key, status, response FROM received WHERE key IN ({marks})", chunk
            ):
                found[key] = (status, response)
        return found

    def _apply_many(self, payloads: list[dict], now: float) -> None:
        for payload in payloads:
            self._apply(payload, now)

    def _apply(self, payload: dict, now: float) -> None:
        entity, record_id, version = payload.get("entity"), payload.get("id"), payload.get("version")
        if not entity or record_id is None or version is None:
            return
        row = self.db.execute("SELECT version, data FROM records WHERE entity = ? AND id = ?",
                              [entity, record_id]).fetchone()
        if row is not None and row[0] > version:
            self.db.execute("INSERT INTO violations VALUES (?, ?, ?, ?, ?)", [entity, record_id, version, row[0], now])
            return
        data = json.loads(row[1]) if row else {}
        data.update(payload.get("data") or {})
        if payload.get("merged_into"):
            data["_merged_into"] = payload["merged_into"]
        self.db.execute(
            "INSERT INTO records (entity, id, version, data, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, data = excluded.data, "
            "updated_at = excluded.updated_at",
            [entity, record_id, version, json.dumps(data, ensure_ascii=False), now],
        )

    def count(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM received").fetchone()[0]

    def payloads(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT payload FROM received ORDER BY received_at, rowid").fetchall()
        return [json.loads(row[0]) for row in rows]

    def records(self, entity: str | None = None) -> dict[tuple[str, int], dict]:
        """``{(entity, id): {"version": v, "data": {...}}}``"""
        with self.lock:
            query = "SELECT entity, id, version, data FROM records"
            rows = self.db.execute(query + (" WHERE entity = ?" if entity else ""), [entity] if entity else []).fetchall()
        return {(e, i): {"version": v, "data": json.loads(d)} for e, i, v, d in rows}

    def violations(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM violations").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.db.close()


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, *, name: str, secret: str, store: SimulatorStore, fail_rate: float = 0.0,
                 latency_ms: int = 0, timeout_rate: float = 0.0, hang_seconds: float = 15.0,
                 schema: dict[str, list[str]] | None = None, rng: random.Random | None = None, quiet: bool = True):
        self.name, self.secret, self.store = name, secret, store
        self.fail_rate, self.latency_ms = fail_rate, latency_ms
        self.timeout_rate, self.hang_seconds = timeout_rate, hang_seconds
        # entity → the field names this system has; None: it takes anything.
        self.schema = {entity: set(fields) for entity, fields in schema.items()} if schema else None
        self.rng = rng or random.Random()
        self.rng_lock = threading.Lock()
        self.quiet = quiet
        self.requests = 0
        # Extra behaviours (single sign-on relying party, SCIM server …) register here:
        # (method, path prefix, function(handler) -> None); the first match answers the request.
        self.routes: list[tuple[str, str, object]] = []
        super().__init__(address, SimulatorHandler)

    def route(self, method: str, path: str):
        for route_method, prefix, function in self.routes:
            if route_method == method and path.startswith(prefix):
                return function
        return None

    def handle_error(self, request, client_address):
        """A client that gave up (timed out, hung up) is part of the simulation, not a crash to print."""
        if not self.quiet:
            super().handle_error(request, client_address)

    def should_fail(self) -> bool:
        with self.rng_lock:
            self.requests += 1
            return self.fail_rate > 0 and self.rng.random() < self.fail_rate

    def should_hang(self) -> bool:
        with self.rng_lock:
            return self.timeout_rate > 0 and self.rng.random() < self.timeout_rate

    def schema_error(self, payload) -> str:
        """Why this payload does not fit the system's schema ('' when it does)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("data", {}), dict):
            return "payload must be an object with a 'data' object"
        if self.schema is None:
            return ""
        fields = self.schema.get(str(payload.get("entity")))
        if fields is None:
            return f"this system keeps no {payload.get('entity')!r} records"
        unknown = sorted(set(payload.get("data", {})) - fields)
        return f"unknown fields: {', '.join(unknown)}" if unknown else ""


class SimulatorHandler(BaseHTTPRequestHandler):
    server: SimulatorServer
    server_version = "YiciLineSystemSimulator/1"

    def do_PUT(self):  # noqa: N802
        return self._extra_or_405("PUT")

    def do_PATCH(self):  # noqa: N802
        return self._extra_or_405("PATCH")

    def do_DELETE(self):  # noqa: N802
        return self._extra_or_405("DELETE")

    def _extra_or_405(self, method: str):
        extra = self.server.route(method, self.path)
        if extra is not None:
            return extra(self)
        return self._answer(405, {"error": "method not allowed"})

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
        extra = self.server.route("GET", self.path)
        if extra is not None:
            return extra(self)
        if self.path.startswith("/records"):
            records = self.server.store.records()
            return self._answer(200, [{"entity": e, "id": i, **r} for (e, i), r in sorted(records.items())])
        self._answer(200, {"system": self.server.name, "received": self.server.store.count(),
                           "records": len(self.server.store.records()),
                           "order_violations": self.server.store.violations()})

    def _read_signed_body(self) -> bytes | None:
        server = self.server
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._answer(400, {"error": "bad Content-Length"})
            return None
        body = self.rfile.read(length)
        if server.latency_ms:
            time.sleep(server.latency_ms / 1000)
        timestamp = self.headers.get("X-Yici-Timestamp", "")
        if not verify(server.secret, timestamp, body, self.headers.get("X-Yici-Signature", "")):
            self._answer(401, {"error": "bad signature"})
            return None
        return body

    def do_POST(self):  # noqa: N802
        server = self.server
        extra = server.route("POST", self.path)
        if extra is not None:
            return extra(self)
        body = self._read_signed_body()
        if body is None:
            return None
        if self.path.rstrip("/").endswith("/batch"):
            return self._batch(body)
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
        problem = server.schema_error(payload)
        if problem:
            return self._answer(422, {"error": problem})
        response = json.dumps({"ok": True, "system": server.name, "key": key}, ensure_ascii=False)
        status, response = server.store.put(key, json.dumps(payload, ensure_ascii=False), 200, response)
        if server.should_hang():
            time.sleep(server.hang_seconds)  # stored, but the sender will have given up waiting
        return self._answer(status, response)

    def _batch(self, body: bytes):
        server = self.server
        try:
            items = json.loads(body)["items"]
            assert isinstance(items, list) and all(isinstance(i, dict) and i.get("key") for i in items)
        except (ValueError, KeyError, TypeError, AssertionError):
            return self._answer(400, {"error": "body must be {\"items\": [{\"key\": ..., \"payload\": {...}}]}"})
        if server.should_fail():
            return self._answer(500, {"error": "simulated failure"})
        results: list[dict | None] = [None] * len(items)
        new: list[tuple[int, tuple[str, str, int, str]]] = []
        for n, item in enumerate(items):
            stored = server.store.get(item["key"])
            if stored is not None:
                results[n] = {"key": item["key"], "status": stored[0], "replayed": True}
                continue
            problem = server.schema_error(item.get("payload"))
            status, response = (422, json.dumps({"error": problem})) if problem else (200, '{"ok": true}')
            if problem:
                results[n] = {"key": item["key"], "status": 422, "error": problem}
                continue
            new.append((n, (item["key"], json.dumps(item["payload"], ensure_ascii=False), status, response)))
        for (n, row), (status, _response) in zip(new, server.store.put_many([row for _n, row in new]), strict=True):
            results[n] = {"key": row[0], "status": status}
        if server.should_hang():
            time.sleep(server.hang_seconds)
        return self._answer(200, {"results": results})


def make_server(*, name: str, port: int = 0, secret: str, store_path: str | Path, fail_rate: float = 0.0,
                latency_ms: int = 0, timeout_rate: float = 0.0, hang_seconds: float = 15.0,
                schema: dict[str, list[str]] | None = None, rng: random.Random | None = None,
                quiet: bool = True) -> SimulatorServer:
    """A simulator bound to 127.0.0.1 (``port=0``: the OS chooses); call ``serve_forever`` to run it."""
    store = SimulatorStore(store_path)
    try:
        return SimulatorServer(("127.0.0.1", port), name=name, secret=secret, store=store, fail_rate=fail_rate,
                               latency_ms=latency_ms, timeout_rate=timeout_rate, hang_seconds=hang_seconds,
                               schema=schema, rng=rng, quiet=quiet)
    except OSError:
        store.close()
        raise
