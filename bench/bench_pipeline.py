"""End-to-end benchmark of 'enter once': import legacy exports, then reconcile into golden records.

    .venv/bin/python bench/legacy_gen.py --out /tmp/legacy_1m --rows 1000000
    .venv/bin/python bench/bench_pipeline.py --data /tmp/legacy_1m [--new-rows 10000] [--database-url URL]
    # again, the incremental batch alone: the first run keeps the reconciled database, later runs start from it
    .venv/bin/python bench/bench_pipeline.py --data /tmp/legacy_1m --reconciled-snapshot /tmp/reconciled-1m

Uses a fresh embedded database (SQLite under a temporary folder) unless ``--database-url`` names
another. Times, in this one process: importing each generated file (read, map, normalise, store
source records), one full ``reconcile`` (link every record into golden records), and then an
incremental batch: ``--new-rows`` more rows (a sample of the generated files, re-sent with new
row numbers as another system's export) imported and reconciled against everything already there.
Prints seconds, rows per second and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def cpu() -> float:
    """CPU seconds of this process so far, every thread (DuckDB's too): on a shared machine the
    wall-clock figures depend on what else runs, these much less."""
    return time.process_time()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeMemory:
    """The peak of this process's and its worker processes' memory together, sampled twice a
    second: the sum of their proportional set sizes (PSS: a page shared by a parent and the
    workers it forked counts once in all). ``peak_mb`` alone sees this process only."""

    def __init__(self):
        import threading

        self.peak_kib = self.phase_peak_kib = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    @staticmethod
    def _tree(pid: int) -> list[int]:
        pids, todo = [], [pid]
        while todo:
            current = todo.pop()
            pids.append(current)
            try:
                for task in os.listdir(f"/proc/{current}/task"):
                    with open(f"/proc/{current}/task/{task}/children") as fh:
                        todo.extend(int(child) for child in fh.read().split())
            except OSError:
                continue
        return pids

    @staticmethod
    def _pss_kib(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _sample(self) -> None:
        while not self.stopped.wait(0.5):
            total = sum(self._pss_kib(pid) for pid in self._tree(os.getpid()))
            self.peak_kib = max(self.peak_kib, total)
            self.phase_peak_kib = max(self.phase_peak_kib, total)

    def peak_mb(self) -> float:
        return self.peak_kib / 1024

    def phase(self) -> str:
        """The peak since the last call, for the line of the phase that just ended."""
        peak, self.phase_peak_kib = self.phase_peak_kib, 0
        return f", with worker processes {peak / 1024:,.0f} MB"


def close_database() -> None:
    """Leave the database file consistent, nothing pending in its log (to copy or remove it)."""
    from django.db import connection

    from yici.common.db import wait_for_checkpoints

    wait_for_checkpoints()  # then this connection is the last: closing it empties the log
    connection.close()


def sample_rows(path: Path, n: int) -> bytes:
    """Every k-th data row of a generated file, as a new CSV export (same header)."""
    encoding = "gbk" if "卫健" in path.name else "utf-8"
    with path.open(encoding=encoding, newline="") as fh:
        rows = list(csv.reader(fh))
    header, data = rows[0], rows[1:]
    step = max(1, len(data) // n)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(data[::step][:n])
    return out.getvalue().encode("utf-8")


def start_profile(wanted: bool):
    if not wanted:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def stop_profile(profiler) -> None:
    if profiler is None:
        return
    import pstats

    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def _steps(result) -> str:
    """Seconds per step of a reconcile run (read, key_table, match, links, golden, reviews; per entity)."""
    parts = [f"{entity} " + " ".join(f"{k} {v:.1f}" for k, v in sub.get("seconds", {}).items())
             for entity, sub in result.by_entity.items() if sub.get("seconds")]
    parts.append(f"owners+households {getattr(result, 'owners_households_seconds', 0.0):.1f}")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder written by bench/legacy_gen.py")
    parser.add_argument("--new-rows", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--snapshot", type=Path, default=None,
                        help="SQLite only: after importing, keep a copy of the database here; when the copy "
                             "exists, start from it and skip the import (to measure reconcile again)")
    parser.add_argument("--reconciled-snapshot", type=Path, default=None,
                        help="SQLite only: after the full reconcile, keep a copy of the database and its key "
                             "table in this folder; when the folder exists, start from it and run only the "
                             "incremental batch (to measure it again)")
    parser.add_argument("--profile", choices=["full", "incremental"], default=None,
                        help="print where that run spends its time (cProfile, top 40)")
    args = parser.parse_args()

    tree = TreeMemory() if Path("/proc/self/smaps_rollup").exists() else None
    var = Path(tempfile.mkdtemp(prefix="yici-bench-"))
    os.environ["YICI_VAR_DIR"] = str(var)
    restored = False
    reconciled = bool(args.reconciled_snapshot and args.reconciled_snapshot.exists() and not args.database_url)
    if reconciled:
        shutil.copyfile(args.reconciled_snapshot / "yici.sqlite3", var / "yici.sqlite3")
        restored = True
    elif args.snapshot and args.snapshot.exists() and not args.database_url:
        shutil.copyfile(args.snapshot, var / "yici.sqlite3")
        restored = True
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yici.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from yici.catalog.services import BUILTIN_CATALOG, catalog_load
    from yici.exchange.imports import import_prepare, import_run
    from yici.registry import keycache
    from yici.registry.reconcile import reconcile

    call_command("migrate", verbosity=0)
    if reconciled:  # the key table's name follows the database's path
        keycache.path().parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.reconciled_snapshot / "person-keys.duckdb", keycache.path())
    if args.database_url:  # a server database may hold an earlier run
        call_command("flush", "--noinput", verbosity=0)
    if not restored:
        catalog_load(data=BUILTIN_CATALOG.read_bytes())
    files = sorted(p for p in args.data.glob("*.csv") if p.name not in ("truth.csv",))

    started, started_cpu = time.perf_counter(), cpu()
    total_rows = 0
    for path in [] if restored else files:
        t = time.perf_counter()
        summary = import_run(import_prepare(data=path.read_bytes(), filename=path.name,
                                            system_code="bench_" + path.name.split("_", 1)[0]))
        total_rows += summary.rows_total
        seconds = time.perf_counter() - t
        print(f"import {path.name}: {summary.rows_total} rows in {seconds:.1f} s "
              f"({summary.rows_total / seconds:,.0f} rows/s), peak {peak_mb():,.0f} MB", flush=True)
    import_seconds = time.perf_counter() - started
    if restored:
        print(f"import skipped: database restored from {args.reconciled_snapshot if reconciled else args.snapshot}",
              flush=True)
    else:
        print(f"import total: {total_rows} rows in {import_seconds:.1f} s (CPU {cpu() - started_cpu:.1f} s)"
              f"{tree.phase() if tree else ''}", flush=True)
        if args.snapshot and not args.database_url:
            close_database()
            shutil.copyfile(var / "yici.sqlite3", args.snapshot)

    if reconciled:
        print(f"full reconcile skipped: database and key table restored from {args.reconciled_snapshot}", flush=True)
    else:
        profiler = start_profile(args.profile == "full")
        t, t_cpu = time.perf_counter(), cpu()
        result = reconcile()
        reconcile_seconds = time.perf_counter() - t
        stop_profile(profiler)
        print(f"reconcile (full): {result.records} records → {result.clusters} clusters, "
              f"{result.review_pairs} review pairs in {reconcile_seconds:.1f} s (CPU {cpu() - t_cpu:.1f} s), "
              f"peak {peak_mb():,.0f} MB{tree.phase() if tree else ''}", flush=True)
        print(f"  steps: {_steps(result)}", flush=True)
        print(f"import + reconcile: {import_seconds + reconcile_seconds:.1f} s", flush=True)
        if args.reconciled_snapshot and not args.database_url:
            close_database()
            args.reconciled_snapshot.mkdir(parents=True)
            shutil.copyfile(var / "yici.sqlite3", args.reconciled_snapshot / "yici.sqlite3")
            shutil.copyfile(keycache.path(), args.reconciled_snapshot / "person-keys.duckdb")

    if args.new_rows:
        source = max(files, key=lambda p: p.stat().st_size)
        data = sample_rows(source, args.new_rows)
        profiler = start_profile(args.profile == "incremental")
        t, t_cpu = time.perf_counter(), cpu()
        summary = import_run(import_prepare(data=data, filename="incremental.csv", system_code="bench_incremental"))
        result = reconcile()
        seconds = time.perf_counter() - t
        seconds_cpu = cpu() - t_cpu
        stop_profile(profiler)
        print(f"incremental batch: {summary.rows_total} rows imported and reconciled in {seconds:.1f} s "
              f"(CPU {seconds_cpu:.1f} s; {result.new_records} new records, {result.records} read; "
              f"reconcile {result.seconds:.1f} s), "
              f"peak {peak_mb():,.0f} MB", flush=True)
        print(f"  steps: {_steps(result)}", flush=True)
    print(f"peak memory: {peak_mb():,.0f} MB (this process's largest resident set)")
    if tree is not None:
        print(f"peak memory with its worker processes: {tree.peak_mb():,.0f} MB (sum of their PSS, "
              "sampled every 0.5 s)")
    close_database()
    shutil.rmtree(var, ignore_errors=True)  # a county's database: gigabytes


if __name__ == "__main__":
    main()
