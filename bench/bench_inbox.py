"""Benchmark the cadre's inbox page and inbox API under 50 concurrent users against gunicorn + PostgreSQL.

    .venv/bin/python bench/bench_inbox.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/bench_inbox.py --database-url ... --users 50 --seconds 30 --think 1.0 --workers 4

Goal (issue #7 "One inbox"): with 10,000 open tasks and 2,000 cadres, 50 concurrent users, p95 ≤ 100 ms
for the inbox page (``/inbox/``) and the inbox API (``/api/inbox/mine``).

It creates a throw-away PostgreSQL database ``yici_bench_inbox`` (dropped first), migrates it, and
loads a county of 10 townships × 20 villages, 10 cadres per village (2,000 cadres), 9 departments,
500 tasks each sent to 20 villages (10,000 open village tasks, each assigned to one of the village's
cadres, deadlines over the next 30 days) and 3 unread reminders per cadre. Then it starts gunicorn
(production settings: ``DEBUG`` off, Argon2 logins, sessions in the database) on a free port, signs
50 different cadres in through the login form (session cookies), and runs, for each target, a
closed-loop load of 50 users, each requesting the target, then waiting ``--think`` seconds (uniform
between 0.5× and 1.5×; 0 = back to back) before the next request. It prints per target the requests,
errors, throughput and p50/p95/p99/max latency measured by the client (threads with ``requests``),
and the same figures for a saturation run with no think time.

The client runs on the same 2 cores as the server and PostgreSQL, and so do other people's tests:
the figures include that contention.
"""

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DB_NAME = "yici_bench_inbox"
PASSWORD = "bench-password-2026"
TOWNSHIPS = 10
VILLAGES_PER_TOWNSHIP = 20
CADRES_PER_VILLAGE = 10
TASKS = 500
VILLAGES_PER_TASK = 20
DEPARTMENTS = [("minzheng", "民政"), ("zhujian", "住建"), ("weijian", "卫健"), ("gongan", "公安"), ("wenlv", "文旅"),
               ("tuiyijunren", "退役军人事务"), ("canlian", "残联"), ("yibao", "医保"), ("yingji", "应急管理")]


def server_env(database_url: str, **extra: str) -> dict:
    """The environment of a production-settings gunicorn on ``database_url`` (``extra`` added)."""
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "yici.settings", "DEBUG": "0",
        "SECRET_KEY": env.get("SECRET_KEY", "bench-secret-key-not-for-production-0123456789abcdef"),
        "YICI_MANIFEST_STATIC": "0", "WHITENOISE_USE_FINDERS": "1", "LOG_LEVEL": "ERROR", **extra,
    })
    return env


def recreate_database(base_url: str, name: str = DB_NAME) -> str:
    """Drop and create the bench database ``name`` on the server of ``base_url``; returns its URL."""
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name


def seed() -> list[str]:
    """Load the county, cadres and tasks; return the usernames of the cadres."""
    import datetime

    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.utils import timezone

    from yici.accounts.models import Area, AreaLevel, Department, User
    from yici.accounts.roles import Role
    from yici.inbox.models import (
        ItemStatus,
        Notification,
        Task,
        TaskKind,
        TaskSource,
        TaskStatus,
        VillageTask,
    )

    call_command("migrate", verbosity=0)
    county = Area.objects.create(code="330726000000", name="浦江县", level=AreaLevel.COUNTY)
    villages = []
    for t in range(1, TOWNSHIPS + 1):
        township = Area.objects.create(code=f"330726{100 + t:03d}000", name=f"乡镇{t}", level=AreaLevel.TOWNSHIP,
                                       parent=county)
        for v in range(1, VILLAGES_PER_TOWNSHIP + 1):
            villages.append(Area(code=f"330726{100 + t:03d}{200 + v:03d}", name=f"村{t}-{v}",
                                 level=AreaLevel.VILLAGE, parent=township,
                                 prefix=f"330726{100 + t:03d}{200 + v:03d}"))
    Area.objects.bulk_create(villages)
    villages = list(Area.objects.filter(level=AreaLevel.VILLAGE).order_by("code"))
    departments = [Department.objects.create(code=c, name=n) for c, n in DEPARTMENTS]
    hashed = make_password(PASSWORD)
    cadres = [User(username=f"cadre{i:04d}", password=hashed, role=Role.VILLAGE_CADRE, area=village,
                   display_name=f"村干部{i:04d}")
              for i, village in enumerate(v for v in villages for _ in range(CADRES_PER_VILLAGE))]
    User.objects.bulk_create(cadres, batch_size=1000)
    team: dict[str, list[int]] = {}
    for pk, code in User.objects.filter(role=Role.VILLAGE_CADRE).values_list("pk", "area__code"):
        team.setdefault(code, []).append(pk)
    rng = random.Random(7)
    today = timezone.localdate()
    tasks = [Task(department=departments[i % len(departments)], title=f"第{i}号任务：走访核查与情况报送",
                  basis="《关于防止形式主义、官僚主义加重基层负担的若干规定》", responsible="科长",
                  effort_minutes=rng.choice([15, 30, 45, 60, 90, 120]),
                  due_date=today + datetime.timedelta(days=rng.randint(0, 30)), kind=TaskKind.ACTION,
                  source=TaskSource.PAGE, status=TaskStatus.ADMITTED, reason="admitted")
             for i in range(TASKS)]
    Task.objects.bulk_create(tasks, batch_size=500)
    items = []
    for task in tasks:
        for village in rng.sample(villages, VILLAGES_PER_TASK):
            items.append(VillageTask(task=task, area_code=village.code, assignee_id=rng.choice(team[village.code]),
                                     status=ItemStatus.OPEN, due_date=task.due_date,
                                     effort_minutes=task.effort_minutes))
    VillageTask.objects.bulk_create(items, batch_size=2000)
    item_ids = list(VillageTask.objects.values_list("pk", "assignee_id"))
    by_user: dict[int, list[int]] = {}
    for pk, user_id in item_ids:
        by_user.setdefault(user_id, []).append(pk)
    notes = [Notification(user_id=u, item_id=rng.choice(by_user.get(u) or [None]) if by_user.get(u) else None,
                          text="任务即将到期") for u in (pk for pks in team.values() for pk in pks) for _ in range(3)]
    Notification.objects.bulk_create(notes, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded: {len(villages)} villages, {len(cadres)} cadres, {len(tasks)} tasks, "
          f"{VillageTask.objects.filter(status=ItemStatus.OPEN).count()} open village tasks, {len(notes)} reminders")
    # Cadres with at least a few tasks, like the ones who would open the inbox.
    busy = [u for u, pks in by_user.items() if len(pks) >= 3]
    return list(User.objects.filter(pk__in=busy).order_by("?").values_list("username", flat=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [str(ROOT / ".venv/bin/gunicorn"), "yici.wsgi:application", "-b", f"127.0.0.1:{port}",
           "-w", str(workers), "--threads", str(threads), "--worker-class", "gthread" if threads > 1 else "sync",
           "--log-level", "warning", "--timeout", "60"]
    proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT))
    base = f"http://127.0.0.1:{port}"
    import requests

    for _ in range(100):
        try:
            requests.get(base + "/accounts/login/", timeout=2)
            return proc, base
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not start")


def login_attempt(base: str, username: str, password: str = PASSWORD):
    """A fresh session through the login form (GET for the CSRF token, POST); ``(session, status)``."""
    import requests

    session = requests.Session()
    page = session.get(base + "/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(base + "/accounts/login/", timeout=30, allow_redirects=False,
                            data={"csrfmiddlewaretoken": token, "username": username, "password": password},
                            headers={"Referer": base + "/accounts/login/"})
    return session, response.status_code


def login(base: str, username: str):
    session, status = login_attempt(base, username)
    if status != 302:
        raise SystemExit(f"login of {username} failed: {status}")
    return session


def run_load(sessions, base: str, path: str, seconds: float, think: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def user(session, seed: int):
        rng = random.Random(seed)
        time.sleep(rng.uniform(0, think or 0.05))  # stagger the start
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                r = session.get(base + path, timeout=30)
                ok = r.status_code == 200
            except Exception:  # noqa: BLE001 (any failure is counted)
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1
            if think:
                time.sleep(rng.uniform(0.5 * think, 1.5 * think))

    began = time.monotonic()
    threads = [threading.Thread(target=user, args=(s, i)) for i, s in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    latencies.sort()

    def pct(p):
        return 1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    return {"path": path, "requests": len(latencies), "errors": errors[0], "rps": len(latencies) / wall,
            "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": 1000 * latencies[-1] if latencies else float("nan"),
            "mean": 1000 * statistics.fmean(latencies) if latencies else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server (its database is only used to create the bench database)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds a user waits between requests")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-saturation", action="store_true")
    args = parser.parse_args()

    url = recreate_database(args.database_url)
    env = server_env(url)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY",
                                           "YICI_MANIFEST_STATIC", "LOG_LEVEL")})
    import django

    django.setup()
    t0 = time.monotonic()
    usernames = seed()
    print(f"seed took {time.monotonic() - t0:.1f} s")
    from django.db import connections

    connections.close_all()
    proc, base = start_server(env, args.workers, args.threads)
    try:
        t0 = time.monotonic()
        sessions = [login(base, name) for name in usernames[:args.users]]
        print(f"{len(sessions)} cadres signed in ({time.monotonic() - t0:.1f} s); gunicorn {args.workers} workers"
              f" × {args.threads} threads")
        for s in sessions[:3]:  # warm every worker's connection and caches
            for path in ("/inbox/", "/api/inbox/mine"):
                s.get(base + path, timeout=30)
        runs = [(path, args.think) for path in ("/inbox/", "/api/inbox/mine")]
        if not args.skip_saturation:
            runs += [(path, 0.0) for path in ("/inbox/", "/api/inbox/mine")]
        print(f"{'target':<18} {'think':>5} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
              f"{'p99 ms':>7} {'max ms':>7}")
        for path, think in runs:
            r = run_load(sessions, base, path, args.seconds, think)
            print(f"{path:<18} {think:>5.1f} {r['requests']:>8} {r['errors']:>6} {r['rps']:>7.1f} {r['p50']:>7.1f} "
                  f"{r['p95']:>7.1f} {r['p99']:>7.1f} {r['max']:>7.1f}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
