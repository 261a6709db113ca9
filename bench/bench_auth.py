"""Benchmark one account: password logins per second and token refreshes per second, gunicorn + PostgreSQL.

    .venv/bin/python bench/bench_auth.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/bench_auth.py --database-url ... --seconds 20 --clients 16 --workers 4

Goal (issue #6 "One account"): at least Keycloak's sizing figure of about 15 password logins per
second per vCPU, and at least 300 token refreshes per second, on this 2-core machine.

It creates a throw-away PostgreSQL database ``yici_bench_auth`` (dropped first), migrates it, makes
400 cadres (Argon2id passwords with Yici's production parameters) and one line system registered as
an OIDC client, then starts gunicorn with production settings (``DEBUG`` off, the second factor
off since cadres do not need it). Two closed loops run for ``--seconds`` each, ``--clients``
threads back to back:

* password login: a fresh client GETs the login page (CSRF cookie and token) and POSTs user name
  and password; a 302 counts as one login (Argon2id check, session row, audit row, burden counter);
* token refresh: each client first signs a cadre in through the authorization-code flow with PKCE,
  then exchanges its refresh token again and again (``grant_type=refresh_token``, client_secret_basic,
  rotation with reuse protection: each answer's refresh token is the next request's).

Printed: logins/s and refreshes/s overall and per core, latency percentiles, and the goals. The
client threads run on the same 2 cores as gunicorn and PostgreSQL (and other people's tests): the
figures include that contention.
"""

import argparse
import base64
import hashlib
import os
import re
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

from bench_inbox import recreate_database, server_env, start_server  # noqa: E402

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
    import requests

    session = requests.Session()
    page = session.get(base + "/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(base + "/accounts/login/", timeout=30, allow_redirects=False,
                            data={"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD},
                            headers={"Referer": base + "/accounts/login/"})
    return session, response.status_code == 302


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


def cpu_cost(names: list[str], n: int = 40) -> tuple[float, float]:
    """CPU milliseconds one request costs inside Django (test client, no HTTP), for logins and refreshes.

    CPU time of this process only, so it holds even when other work shares the cores: 1000 / cost is
    what one core could serve at most.
    """
    from django.test import Client

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
    started = time.process_time()
    for _ in range(n * 5):
        answer = Client().post("/o/token/", {"grant_type": "refresh_token", "refresh_token": refresh},
                               HTTP_AUTHORIZATION=basic)
        refresh = answer.json()["refresh_token"]
    refresh_ms = (time.process_time() - started) / (n * 5) * 1000
    return login_ms, refresh_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    database_url = recreate_database(args.database_url, DB_NAME)
    env = server_env(database_url, YICI_REQUIRE_2FA="0", AXES_FAILURE_LIMIT="1000")
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
        import requests

        counter = iter(range(10**9))
        counter_lock = threading.Lock()

        def login_step(index, state):
            with counter_lock:
                n = next(counter)
            _session, ok = login(base, names[n % len(names)])
            return ok

        print(f"gunicorn {args.workers} workers × {args.threads} threads, {args.clients} clients, {args.seconds:.0f} s each, "
              f"{args.cores} cores shared with the clients and PostgreSQL")
        logins = closed_loop(args.clients, args.seconds, login_step)
        per_core = logins["rate"] / args.cores
        print(f"password logins: {logins['rate']:.1f}/s ({per_core:.1f}/s per core; Keycloak sizing ≈ "
              f"{KEYCLOAK_LOGINS_PER_VCPU}/s per vCPU) — {logins['done']} ok, {logins['errors']} errors, "
              f"p50 {logins['p50']:.0f} ms, p95 {logins['p95']:.0f} ms")

        refresh_tokens = [first_tokens(base, names[i]) for i in range(args.clients)]

        def refresh_step(index, state):
            answer = requests.post(f"{base}/o/token/", auth=(CLIENT_ID, CLIENT_SECRET), timeout=30,
                                   data={"grant_type": "refresh_token", "refresh_token": refresh_tokens[index]})
            if answer.status_code != 200:
                return False
            refresh_tokens[index] = answer.json()["refresh_token"]
            return True

        refreshes = closed_loop(args.clients, args.seconds, refresh_step)
        print(f"token refreshes: {refreshes['rate']:.1f}/s (goal ≥ {REFRESH_GOAL}/s) — {refreshes['done']} ok, "
              f"{refreshes['errors']} errors, p50 {refreshes['p50']:.0f} ms, p95 {refreshes['p95']:.0f} ms")
        login_ms, refresh_ms = cpu_cost(names)
        print(f"CPU cost inside Django (this process only, immune to other load): login {login_ms:.1f} ms "
              f"→ ≤ {1000 / login_ms:.0f}/s per core; refresh {refresh_ms:.1f} ms → ≤ {1000 / refresh_ms:.0f}/s per core")
        print(f"goals: logins/core ≥ {KEYCLOAK_LOGINS_PER_VCPU}: {'met' if per_core >= KEYCLOAK_LOGINS_PER_VCPU else 'NOT met'}; "
              f"refreshes ≥ {REFRESH_GOAL}/s: {'met' if refreshes['rate'] >= REFRESH_GOAL else 'NOT met'}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        import psycopg

        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
