"""Benchmark person linkage (``yici.registry.linkage``) on generated legacy exports; train its model.

    .venv/bin/python bench/legacy_gen.py --out /tmp/legacy_1m --rows 1000000
    .venv/bin/python bench/bench_linkage.py --data /tmp/legacy_1m [--mode both|full|incremental] [--new 10000]
    .venv/bin/python bench/bench_linkage.py --kit /work/shared/datasets/dev            # F1 on the data kit

    # The shipped model: the data kit plus 20,000 generated rows (seed 2), with their labels.
    .venv/bin/python bench/legacy_gen.py --out /tmp/legacy_20k --rows 20000 --seed 2
    .venv/bin/python bench/bench_linkage.py --train src/yici/registry/linkage_model.json \
        --kit /work/shared/datasets/dev --data /tmp/legacy_20k

Reads the files of ``legacy_gen.py``, normalises every row with ``normalize_row`` as an import
would (once; the records are cached in ``DATA/records.pickle``), then times
``predict_person_pairs`` on all rows (full) and on ``--new`` rows against all the others
(incremental), each in a fresh process, printing seconds, pairs, peak RSS and pairwise F1 against
``truth.csv`` (full: union-find at 0.95 over all rows; incremental: recall of the true pairs that
involve a new row, and precision of the pairs found at 0.95). ``indexed`` is the incremental run
a registry would do with an index of ``features.blocking_keys``: it reads only the new records and
their candidates.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yici.settings_test")

AUTO = 0.95


def _setup() -> None:
    import django

    django.setup()


def load_records(data: Path) -> tuple[list[dict], list[str]]:
    """Records (normalised like an import) and the true person id of each, in file order."""
    cache = data / "records.pickle"
    if cache.exists() and cache.stat().st_mtime >= (data / "truth.csv").stat().st_mtime:
        with open(cache, "rb") as f:
            return pickle.load(f)
    from yici.registry.linkage.evaluation import catalog_specs, linkage_record, person_row

    started = time.perf_counter()
    specs = catalog_specs()
    with open(data / "columns.json", encoding="utf-8") as f:
        files = json.load(f)
    truth: dict[tuple[str, int], str] = {}
    with open(data / "truth.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            truth[(row["file"], int(row["row_number"]))] = row["person_id"]
    records, labels = [], []
    for file, spec in files.items():
        codes = spec["columns"]
        with open(data / file, encoding=spec["encoding"], newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            mapping = [(i, codes.get(h)) for i, h in enumerate(header) if codes.get(h)]
            for n, row in enumerate(reader, start=1):
                raw = person_row({code: row[i] for i, code in mapping})
                records.append(linkage_record(len(records) + 1, specs, raw, system=spec["system"]))
                labels.append(truth[(file, n)])
    print(f"normalised {len(records)} rows in {time.perf_counter() - started:.1f} s", flush=True)
    with open(cache, "wb") as f:
        pickle.dump((records, labels), f, protocol=pickle.HIGHEST_PROTOCOL)
    return records, labels


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(data: Path, mode: str, new: int, seed: int, min_probability: float) -> None:
    _setup()
    from yici.registry.linkage import predict_person_pairs
    from yici.registry.linkage.evaluation import clusters, pairwise_scores

    records, labels = load_records(data)
    label_of = {r["id"]: labels[i] for i, r in enumerate(records)}
    before = _rss_mb()
    if mode == "full":
        started = time.perf_counter()
        pairs = predict_person_pairs(records, new_ids=None, min_probability=min_probability)
        elapsed = time.perf_counter() - started
        cluster_of = clusters(label_of, pairs, AUTO)
        scores = pairwise_scores(label_of, cluster_of)
        auto = sum(p >= AUTO for _a, _b, p in pairs)
        print(f"full: {len(records)} rows in {elapsed:.1f} s, {len(pairs)} pairs >= {min_probability} "
              f"({auto} >= {AUTO}), peak RSS {_rss_mb():.0f} MB (records loaded: {before:.0f} MB); "
              f"P={scores['precision']:.4f} R={scores['recall']:.4f} F1={scores['f1']:.4f}", flush=True)
        return
    rng = random.Random(seed)
    new_ids = set(rng.sample([r["id"] for r in records], min(new, len(records))))
    if mode == "indexed":
        run_indexed(records, label_of, new_ids, min_probability, before)
        return
    # Twice: the first call in a process also pays one-off imports (Splink's SQL dialects), which
    # a long-running worker pays once.
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        pairs = predict_person_pairs(records, new_ids=new_ids, min_probability=min_probability)
        timings.append(time.perf_counter() - started)
    elapsed = timings[0]
    true_pairs = _true_pairs_touching(label_of, new_ids)
    found = {(a, b) for a, b, p in pairs if p >= AUTO}
    tp = len(found & true_pairs)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(true_pairs) if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"incremental: {len(new_ids)} new vs {len(records) - len(new_ids)} in {elapsed:.1f} s "
          f"(again in the same process: {timings[1]:.1f} s), "
          f"{len(pairs)} pairs >= {min_probability}, peak RSS {_rss_mb():.0f} MB (records loaded: {before:.0f} MB); "
          f"pairs touching new rows at {AUTO}: P={precision:.4f} R={recall:.4f} F1={f1:.4f}", flush=True)


def kit_records_and_labels(kit: Path) -> tuple[list[dict], dict[int, str], dict]:
    from yici.registry.linkage.evaluation import kit_records, kit_truth

    records, keys = kit_records(kit)
    truth = kit_truth(kit)
    return records, {rid: "kit:" + truth[(file, row)] for rid, (_s, file, row) in keys.items()}, keys


def kit_f1(kit: Path) -> None:
    """Cluster the kit's legacy rows at 0.95 and score them with the kit's own scorer."""
    from yici.registry.linkage import predict_person_pairs
    from yici.registry.linkage.evaluation import clusters, write_clusters_csv

    records, _labels, keys = kit_records_and_labels(kit)
    started = time.perf_counter()
    pairs = predict_person_pairs(records, min_probability=0.5)
    elapsed = time.perf_counter() - started
    out = Path(os.environ.get("TMPDIR", "/tmp")) / "yici_kit_clusters.csv"
    write_clusters_csv(out, keys, clusters(keys, pairs, AUTO))
    print(f"kit: {len(records)} rows, {len(pairs)} pairs in {elapsed:.2f} s; clusters in {out}", flush=True)
    subprocess.run([sys.executable, str(kit / "scorers" / "score_dedupe.py"), "--kit", str(kit), "--clusters", str(out)],
                   check=True)


def train(out: Path, kit: Path | None, data: list[Path]) -> None:
    from yici.registry.linkage import save_model, train_person_model

    records: list[dict] = []
    labels: dict[int, str] = {}
    if kit:
        records, labels, _keys = kit_records_and_labels(kit)
    for directory in data:
        generated, truth = load_records(directory)
        offset = max((r["id"] for r in records), default=0)
        for record, person in zip(generated, truth, strict=True):
            record = dict(record, id=record["id"] + offset)
            records.append(record)
            labels[record["id"]] = f"{directory.name}:{person}"
    started = time.perf_counter()
    settings = train_person_model(records, labels=labels)
    save_model(settings, out)
    print(f"trained on {len(records)} rows in {time.perf_counter() - started:.1f} s → {out}")


def run_indexed(records: list[dict], label_of: dict, new_ids: set[int], min_probability: float,
                before: float) -> None:
    """Incremental run as a registry with an index of blocking keys would do it: only the new
    records and their candidates are read (see ``features.blocking_keys``)."""
    from yici.registry.linkage import predict_person_pairs
    from yici.registry.linkage.features import blocking_keys

    started = time.perf_counter()
    index: dict[str, list[int]] = defaultdict(list)
    keys_of: dict[int, list[str]] = defaultdict(list)
    for rid, key in blocking_keys(records):  # done at import time; stands for a database index
        index[key].append(rid)
        keys_of[rid].append(key)
    print(f"indexed: blocking keys of {len(records)} rows in {time.perf_counter() - started:.1f} s "
          "(once, at import)", flush=True)
    by_id = {r["id"]: r for r in records}
    new_records = [by_id[i] for i in sorted(new_ids)]
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        step1: set[int] = set(new_ids)
        for _rid, key in blocking_keys(new_records):
            step1.update(index[key])
        wanted = set(step1)
        for rid in step1:
            for key in keys_of[rid]:
                if key[0] == "i":
                    wanted.update(index[key])
        subset = [by_id[i] for i in sorted(wanted)]
        pairs = predict_person_pairs(subset, new_ids=new_ids, min_probability=min_probability)
        timings.append(time.perf_counter() - started)
    found = {(a, b) for a, b, p in pairs if p >= AUTO}
    true_pairs = _true_pairs_touching(label_of, new_ids)
    tp = len(found & true_pairs)
    print(f"indexed incremental: {len(new_ids)} new, {len(subset)} rows read, in {timings[0]:.1f} s "
          f"(again: {timings[1]:.1f} s), {len(pairs)} pairs >= {min_probability}, peak RSS {_rss_mb():.0f} MB; "
          f"P={tp / max(len(found), 1):.4f} R={tp / max(len(true_pairs), 1):.4f}", flush=True)


def _true_pairs_touching(label_of: dict, new_ids: set[int]) -> set[tuple[int, int]]:
    by_person: dict[str, list[int]] = defaultdict(list)
    for rid, label in label_of.items():
        by_person[label].append(rid)
    out = set()
    for ids in by_person.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                if a in new_ids or b in new_ids:
                    out.add((min(a, b), max(a, b)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", help="output directory of legacy_gen.py")
    parser.add_argument("--kit", type=Path, help="the benchmark data kit")
    parser.add_argument("--train", type=Path, metavar="MODEL_JSON", help="train on --kit and --data, save here")
    parser.add_argument("--mode", choices=("both", "full", "incremental", "indexed"), default="both",
                        help="both: full, then incremental, then indexed incremental")
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-probability", type=float, default=0.5)
    args = parser.parse_args()
    if args.train:
        _setup()
        train(args.train, args.kit, args.data or [])
        return
    if args.kit and not args.data:
        _setup()
        kit_f1(args.kit)
        return
    if not args.data:
        parser.error("--data is required")
    data = args.data[0]
    if args.mode != "both":
        run(data, args.mode, args.new, args.seed, args.min_probability)
        return
    _setup()
    load_records(data)  # normalise once, outside the timed runs
    for mode in ("full", "incremental", "indexed"):
        # A fresh process each, so that peak RSS is the mode's own.
        subprocess.run([sys.executable, __file__, "--data", str(data), "--mode", mode, "--new", str(args.new),
                        "--seed", str(args.seed), "--min-probability", str(args.min_probability)], check=True)


if __name__ == "__main__":
    main()
