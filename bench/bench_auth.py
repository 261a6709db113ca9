"""Benchmark one account: password logins per second and token refreshes per second, gunicorn + PostgreSQL.

    .venv/bin/python bench/bench_auth.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/bench_auth.py --database-url ... --seconds 20 --clients 16 --workers 2
    .venv/bin/python bench/bench_auth.py --refreshes-only --seconds 12      # the refresh loop alone

Goal (issue #6 "One account"): at least Keycloak's sizing figure of about 15 password logins per
second per vCPU, and at least 300 token refreshes per second, on this 2-core machine.

It creates a throw-away PostgreSQL database ``yici_bench_auth`` (dropped first), migrates it, makes
400 cadres (Argon2id passwords with Yici's production parameters) and one line system registered as
an OIDC client, then starts gunicorn with production settings (``DEBUG`` off, the second factor
off since cadres do not need it) and, by default, as ``yici serve`` runs it: 2 sync workers. Two
closed loops run for ``--seconds`` each, ``--clients`` threads back to back:

* password login: a fresh client GETs the login page (CSRF cookie and token) and POSTs user name
  and password; a 302 counts as one login (Argon2id check, session row, audit row, burden counter);
* token refresh: each client first signs a cadre in through the authorization-code flow with PKCE,
  then exchanges its refresh token again and again (``grant_type=refresh_token``, client_secret_basic,
  rotation with reuse protection: each answer's refresh token is the next request's; an answer
  carries new access and refresh tokens, no new ID token, and writes an audit row).

Printed: logins/s and refreshes/s overall and per core, latency percentiles, the goals, the load
average before and after, the CPU time a refresh cost over HTTP in gunicorn's workers, in
PostgreSQL's server processes and in this client (read from /proc, so it holds however loaded the
machine is), and the CPU time a login and a refresh cost inside Django (test client, this process
only) with the SQL statements of one refresh. The client threads run on the same 2 cores as
gunicorn and PostgreSQL (and other people's work): the rates include that contention.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_inbox import login_attempt, recreate_database, server_env, start_server  # noqa: E402

DB_NAME = "yici_bench_auth"
PASSWORD = "bench-password-2026"
USERS = 400
CLIENT_ID = "bench-rp"
CLIENT_SECRET = "bench-rp-secret-0123456789abcdefghijklmnopqrstuvwxyz"
REDIRECT = "http://rp.invalid/callback"
KEYCLOAK_LOGINS_PER_VCPU = 15
REFRESH_GOAL = 300


def seed() -> list[str]:
    from django.contrib.auth.hashers import make_password

    from yici.accounts.models import Area, AreaLevel, User
    from yici.accounts.services_sso import client_register
    from yici.exchange.models import LineSystem

    county = Area.objects.create(code="330726000000", name="浦江县", level=AreaLevel.COUNTY)
    township = Area.objects.create(code="330726101000", name="岩头镇", level=AreaLevel.TOWNSHIP, parent=county)
    village = Area.objects.create(code="330726101201", name="樟树村", level=AreaLevel.VILLAGE, parent=township)
    hashed = make_password(PASSWORD)  # the production hasher (Argon2id); one hash, shared, for speed of seeding
    names = [f"cadre{i:04d}" for i in range(USERS)]
    User.objects.bulk_create([User(username=n, display_name=n, role="village_cadre", area=village, password=hashed)
                              for n in names])
    system = LineSystem.objects.create(code="bench-housing", name="住建（压测）")
    client_register(system=system, redirect_uris=REDIRECT, first_party=True, actor=None,
                    client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return names


def login(base: str, username: str):
    session, status = login_attempt(base, username, PASSWORD)
    return session, status == 302


def first_tokens(base: str, username: str) -> str:
    """Sign ``username`` in through the authorization-code flow with PKCE; return the refresh token."""
    import requests

    session, ok = login(base, username)
    if not ok:
        raise SystemExit(f"login of {username} failed")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "scope": "openid profile",
                       "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
    answer = session.get(f"{base}/o/authorize/?{query}", allow_redirects=False, timeout=30)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(f"{base}/o/token/", auth=(CLIENT_ID, CLIENT_SECRET), timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
    }).json()
    return tokens["refresh_token"]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return pids


def _backends(database_url: str) -> list[int]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [DB_NAME])]


class CpuMeter:
    """CPU seconds spent by gunicorn's workers, the database's server processes and this process.

    Read from /proc, so it holds however loaded the machine is: the capacity of two quiet cores is
    2 / (their sum per request).
    """

    def __init__(self, server_pid: int, database_url: str):
        self.server_pid, self.database_url = server_pid, database_url

    def _sample(self) -> dict:
        return {"server": {pid: _cpu_seconds(pid) for pid in _children(self.server_pid)},
                "database": {pid: _cpu_seconds(pid) for pid in _backends(self.database_url)},
                "client": time.process_time()}

    def __enter__(self):
        self.before = self._sample()
        return self

    def __exit__(self, *exc):
        after = self._sample()
        self.seconds = {part: sum(after[part][pid] - self.before[part].get(pid, 0.0) for pid in after[part])
                        for part in ("server", "database")}
        self.seconds["client"] = after["client"] - self.before["client"]


def closed_loop(clients: int, seconds: float, step) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(index: int):
        state = {}
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                ok = step(index, state)
            except Exception:  # noqa: BLE001 - any failure counts as an error
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1

    began = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    latencies.sort()

    def pct(p):
        return 1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    return {"done": len(latencies), "errors": errors[0], "rate": len(latencies) / wall, "p50": pct(50),
            "p95": pct(95), "max": 1000 * latencies[-1] if latencies else float("nan"),
            "mean": 1000 * statistics.fmean(latencies) if latencies else float("nan")}


def cpu_cost(names: list[str], n: int = 40) -> tuple[float, float, list[str]]:
    """CPU milliseconds one request costs inside Django (test client, no HTTP), for logins and refreshes.

    CPU time of this process only, so it holds even when other work shares the cores: 1000 / cost is
    what one core could serve at most.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    started = time.process_time()
    for i in range(n):
        response = Client().post("/accounts/login/", {"username": names[-1 - i], "password": PASSWORD})
        assert response.status_code == 302
    login_ms = (time.process_time() - started) / n * 1000
    browser = Client()
    browser.post("/accounts/login/", {"username": names[-1 - n], "password": PASSWORD})
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    answer = browser.get("/o/authorize/", {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT,
                                           "scope": "openid profile", "state": "s", "code_challenge": challenge,
                                           "code_challenge_method": "S256"})
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    tokens = Client().post("/o/token/", {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                         "code_verifier": verifier}, HTTP_AUTHORIZATION=basic).json()
    refresh = tokens["refresh_token"]
    # One test client, posting a form-encoded body as the HTTP client does (the test client's default,
    # multipart, costs more to parse). It keeps no cookies: the token endpoint sets none.
    client = Client()

    def refresh_once():
        nonlocal refresh
        answer = client.post("/o/token/", urlencode({"grant_type": "refresh_token", "refresh_token": refresh}),
                             content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=basic)
        refresh = answer.json()["refresh_token"]

    refresh_once()
    with CaptureQueriesContext(connection) as queries:
        refresh_once()
    statements = [q["sql"] for q in queries.captured_queries]
    started = time.process_time()
    for _ in range(n * 5):
        refresh_once()
    refresh_ms = (time.process_time() - started) / (n * 5) * 1000
    return login_ms, refresh_ms, statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2,
                        help="gunicorn worker processes (default 2, as `yici serve` runs in production)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker (default 1: sync workers, as in production)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--refreshes-only", action="store_true", help="skip the password-login loop")
    args = parser.parse_args()

    # Options after "?" (e.g. ?server_side_binding=true) go to the server's database settings only.
    server_url, _, db_options = args.database_url.partition("?")
    database_url = recreate_database(server_url, DB_NAME)
    env = server_env(database_url + (f"?{db_options}" if db_options else ""), YICI_REQUIRE_2FA="0",
                     AXES_FAILURE_LIMIT="1000")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    names = seed()
    from django.db import connections

    connections.close_all()
    proc, base = start_server(env, args.workers, args.threads)
    try:
        counter = iter(range(10**9))
        counter_lock = threading.Lock()

        def login_step(index, state):
            with counter_lock:
                n = next(counter)
            _session, ok = login(base, names[n % len(names)])
            return ok

        print(f"gunicorn {args.workers} workers × {args.threads} threads, {args.clients} clients, {args.seconds:.0f} s each, "
              f"{args.cores} cores shared with the clients and PostgreSQL; load average before: "
              f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min)")
        per_core = None
        if not args.refreshes_only:
            logins = closed_loop(args.clients, args.seconds, login_step)
            per_core = logins["rate"] / args.cores
            print(f"password logins: {logins['rate']:.1f}/s ({per_core:.1f}/s per core; Keycloak sizing ≈ "
                  f"{KEYCLOAK_LOGINS_PER_VCPU}/s per vCPU) — {logins['done']} ok, {logins['errors']} errors, "
                  f"p50 {logins['p50']:.0f} ms, p95 {logins['p95']:.0f} ms")

        refresh_tokens = [first_tokens(base, names[i]) for i in range(args.clients)]

        # The refreshing clients use http.client, not requests: the load generator shares the two cores
        # with the server, and requests costs about three times the CPU per call. Each client keeps its
        # connection while the server does (sync workers close it after every answer: it reconnects).
        host, port = urlsplit(base).hostname, urlsplit(base).port
        headers = {"Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
                   "Content-Type": "application/x-www-form-urlencoded"}

        def refresh_step(index, state):
            connection = state.get("connection")
            if connection is None:
                connection = state["connection"] = http.client.HTTPConnection(host, port, timeout=30)
            try:
                connection.request("POST", "/o/token/", urlencode(
                    {"grant_type": "refresh_token", "refresh_token": refresh_tokens[index]}), headers)
                answer = connection.getresponse()
                body = answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                raise
            if answer.status != 200:
                return False
            refresh_tokens[index] = json.loads(body)["refresh_token"]
            return True

        with CpuMeter(proc.pid, server_url) as meter:
            refreshes = closed_loop(args.clients, args.seconds, refresh_step)
        print(f"token refreshes: {refreshes['rate']:.1f}/s (goal ≥ {REFRESH_GOAL}/s) — {refreshes['done']} ok, "
              f"{refreshes['errors']} errors, p50 {refreshes['p50']:.0f} ms, p95 {refreshes['p95']:.0f} ms")
        per = {part: 1000 * value / max(1, refreshes["done"]) for part, value in meter.seconds.items()}
        total = sum(per.values())
        print(f"CPU per refresh over HTTP: gunicorn {per['server']:.2f} ms + PostgreSQL {per['database']:.2f} ms + "
              f"bench client {per['client']:.2f} ms = {total:.2f} ms → ≤ {args.cores * 1000 / total:.0f}/s on "
              f"{args.cores} otherwise idle cores")
        login_ms, refresh_ms, statements = cpu_cost(names)
        print(f"CPU cost inside Django (this process only, immune to other load): login {login_ms:.1f} ms "
              f"→ ≤ {1000 / login_ms:.0f}/s per core; refresh {refresh_ms:.1f} ms → ≤ {1000 / refresh_ms:.0f}/s per core")
        data = [sql for sql in statements if not sql.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
        print(f"one refresh: {len(data)} SQL statements ({len(statements) - len(data)} transaction statements besides)")
        logins_goal = "not measured" if per_core is None else ("met" if per_core >= KEYCLOAK_LOGINS_PER_VCPU else "NOT met")
        print(f"goals: logins/core ≥ {KEYCLOAK_LOGINS_PER_VCPU}: {logins_goal}; "
              f"refreshes ≥ {REFRESH_GOAL}/s: {'met' if refreshes['rate'] >= REFRESH_GOAL else 'NOT met'}")
        print(f"load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        import psycopg

        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
