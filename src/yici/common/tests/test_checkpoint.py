"""checkpoint_after_commit, against a file database in WAL mode (the test database is in memory):
run in a process of its own with a data folder of its own."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, os, sqlite3, sys
    import django
    django.setup()
    from django.db import connection, transaction
    from yici.common import db as common_db

    path = connection.settings_dict["NAME"]
    sizes = {}
    original = common_db._checkpoint

    def checkpoint(p):
        sizes["file_when_checkpoint_starts"] = os.path.getsize(p)
        original(p)

    common_db._checkpoint = checkpoint

    def setting():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE t (x TEXT)")
    sizes["file_before"] = os.path.getsize(path)
    out = {}
    with transaction.atomic():
        with common_db.checkpoint_after_commit():
            out["inside"] = setting()
            with connection.cursor() as cursor:  # some 2,500 pages: past the 1,000 that checkpoint at commit
                cursor.executemany("INSERT INTO t VALUES (%s)", [("x" * 1000,) for _ in range(10_000)])
        out["thread_before_commit"] = bool(common_db._checkpoints)
    out["after_commit"] = setting()
    started = list(common_db._checkpoints)
    out["threads_after_commit"] = len(started)
    common_db.wait_for_checkpoints()
    out["thread_alive_after_wait"] = started[0].is_alive()
    sizes["file_after"] = os.path.getsize(path)

    try:
        with transaction.atomic(), common_db.checkpoint_after_commit():
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO t VALUES ('y')")
            raise ValueError
    except ValueError:
        pass
    out["after_rollback"] = setting()
    out["thread_after_rollback"] = bool(common_db._checkpoints)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t")
        out["rows"] = cursor.fetchone()[0]
    out.update(sizes)
    print(json.dumps(out))
""")


def run(tmp_path, script: str = SCRIPT) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # SQLite, whatever this run uses
    env.update(YICI_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="yici.settings")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}


def test_a_bulk_transaction_is_checkpointed_after_its_commit_by_a_thread(tmp_path):
    out = run(tmp_path)
    assert out["inside"] == 0 and out["after_commit"] == 1000
    assert out["thread_before_commit"] is False and out["threads_after_commit"] == 1
    # The commit left the rows in the log; the thread then copied them into the database file.
    assert out["file_when_checkpoint_starts"] == out["file_before"]
    assert out["thread_alive_after_wait"] is False and out["file_after"] > out["file_before"] + 5_000_000
    # A block that raises starts nothing and checkpoints as before; its rows are gone.
    assert out["after_rollback"] == 1000 and out["thread_after_rollback"] is False
    assert out["rows"] == 10_000


EXITS_RIGHT_AFTER_COMMIT = textwrap.dedent("""
    import os, pathlib, time
    import django
    django.setup()
    from django.db import connection, transaction
    from yici.common import db as common_db

    original = common_db._checkpoint

    def slow_checkpoint(path):
        time.sleep(1)
        original(path)
        pathlib.Path(os.environ["YICI_VAR_DIR"], "checkpointed").touch()

    common_db._checkpoint = slow_checkpoint
    with transaction.atomic(), common_db.checkpoint_after_commit():
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE t (x TEXT)")
            cursor.executemany("INSERT INTO t VALUES (%s)", [("x" * 1000,) for _ in range(5_000)])
""")


def test_a_process_that_exits_right_after_its_commit_finishes_the_checkpoint_first(tmp_path):
    run(tmp_path, EXITS_RIGHT_AFTER_COMMIT)
    assert (tmp_path / "checkpointed").exists()
