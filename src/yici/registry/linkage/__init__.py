"""Probabilistic person linkage (Splink on DuckDB) across legacy department exports.

Public API:

- :func:`predict_person_pairs` scores candidate pairs of person source records with the trained
  model shipped in ``yici/registry/linkage_model.json``. It never trains.
- :func:`train_person_model` re-estimates the model's parameters from records (optionally with
  known clusters) and returns the Splink settings dictionary to save with :func:`save_model`.

Records are dicts ``{"id": int, "values": {element_code: registry value}, ...}`` (other keys are
ignored). The elements used are ``person.name``, ``person.id_number``, ``person.birth_date``,
``person.gender``, ``person.phone``, ``person.current_address`` (else
``person.registered_address``), ``person.village`` and ``person.household_no``; see
:mod:`.features` for how they become comparison columns and :mod:`.model` for the comparisons.

Scale: the shipped model was trained on township-sized data (the data kit and generated files of
20,000 rows). Its prior and its u probabilities for identifiers and places are those of a township;
in a bigger population both would be smaller by about the same factor, so agreement on an ID, a
phone or an address keeps its strength, and a match on a name alone is held back by the village
comparison. Retrain with :func:`train_person_model` on the deployment's own records to calibrate
the probabilities to it.

After scoring, :func:`_resolve_conflicts` caps the automatic pairs that would put two people with
different valid IDs in one cluster, so union-find at ``AUTO_THRESHOLD`` (what ``reconcile`` does)
never merges them; a person reviews those pairs instead.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import duckdb
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from splink import DuckDBAPI, Linker

from yici.common.collector import collector_paused
from yici.registry.linkage import features, model

__all__ = [
    "MODEL_PATH",
    "load_model",
    "predict_person_pairs",
    "save_model",
    "train_person_model",
]

# Pairs at or above the auto threshold are merged by the caller (reconcile, setting
# YICI_MATCH_AUTO_THRESHOLD); a pair capped by _resolve_conflicts gets CONFLICT_PROBABILITY, which
# must stay in the review band below it.
AUTO_THRESHOLD = 0.95
CONFLICT_PROBABILITY = 0.9
# Bits of match weight by which one candidate person must beat another to take an ambiguous record.
AMBIGUITY_MARGIN = 4.0

MODEL_PATH = Path(__file__).resolve().parent.parent / "linkage_model.json"
YICI_KEY = "yici"  # our own entries in the model file; removed before Splink sees it

logger = logging.getLogger(__name__)


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    threads = max(1, min(os.cpu_count() or 1, 8))
    con.execute(f"set threads = {threads}")
    limit = getattr(settings, "YICI_LINKAGE_MEMORY_LIMIT", "3GB")
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", limit):
        raise ImproperlyConfigured(f"YICI_LINKAGE_MEMORY_LIMIT must be a size such as 3GB, not {limit!r}")
    con.execute(f"set memory_limit = '{limit}'")
    con.execute("set preserve_insertion_order = false")
    return con


@functools.cache
def _load_model_cached(path: str, mtime: float) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_model(path: str | os.PathLike | None = None) -> dict:
    """The saved model (Splink settings plus our ``yici`` entry), as a fresh copy."""
    path = Path(path or MODEL_PATH)
    return copy.deepcopy(_load_model_cached(str(path), path.stat().st_mtime))


def save_model(settings: dict, path: str | os.PathLike | None = None) -> Path:
    path = Path(path or MODEL_PATH)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(settings, f, ensure_ascii=False, indent=1, sort_keys=False)
        f.write("\n")
    return path


def _splink_settings(saved: dict) -> dict:
    settings = {k: v for k, v in saved.items() if k != YICI_KEY}
    # A fresh uid per call: Splink names its intermediate tables after it.
    settings["linker_uid"] = None
    return settings


def _linker(con: duckdb.DuckDBPyConnection, table: str, settings: dict):
    db_api = DuckDBAPI(con)
    sdf = db_api.register(table)
    return db_api, Linker(sdf, settings, log_level=None, validate_settings=False)


def _auto_threshold() -> float:
    try:
        from django.conf import settings

        return float(getattr(settings, "YICI_MATCH_AUTO_THRESHOLD", AUTO_THRESHOLD))
    except Exception:  # Django absent or not configured (scripts, benchmarks)
        return AUTO_THRESHOLD


def predict_person_pairs(
    records: list[dict],
    *,
    new_ids: set[int] | None = None,
    min_probability: float = 0.5,
    model_settings: dict | None = None,
    auto_threshold: float | None = None,
    name_counts: dict[str, int] | None = None,
) -> list[tuple[int, int, float]]:
    """Candidate pairs ``(id_a, id_b, match_probability)`` with ``id_a < id_b`` and probability at
    least ``min_probability``, sorted by ids. The same input gives the same output.

    ``new_ids=None`` scores every candidate pair. With a set, only pairs involving at least one of
    those records are scored (new against new and new against the rest); the other records are
    still read, as candidates and because whether an ID can be trusted depends on who else carries
    it. ``model_settings`` replaces the shipped model (:func:`load_model`); ``auto_threshold``
    (default: setting ``YICI_MATCH_AUTO_THRESHOLD``, else 0.95) is where the caller merges.

    Records are ``{"id": int, "values": {element code: registry value}, ...}``. Where ``values``
    has no ``person.id_number``, the original text of a rejected ID is read from
    ``record["rejected"]["person.id_number"]`` or ``record["raw"]["person.id_number"]`` (the
    source record's cell): a transposed digit always fails the check character, so only these show
    the "one transposition or one digit" comparison. ``person.age`` is read from ``raw`` too when
    normalisation did not keep it; ``observed_at`` dates it.

    Pairs at or above ``AUTO_THRESHOLD`` never join two people with different valid IDs; the pairs
    that would are capped at ``CONFLICT_PROBABILITY`` (see :func:`_resolve_conflicts`).

    ``name_counts`` (with ``new_ids``): the namesake counts from :func:`features.candidates_from_keys`,
    when ``records`` holds only the new records and their candidates found in a key table.
    """
    if len(records) < 2 or (new_ids is not None and not new_ids):
        return []
    with collector_paused():  # a million records in memory: each full collection would rescan them
        return _predict(records, new_ids, min_probability, model_settings,
                        _auto_threshold() if auto_threshold is None else auto_threshold, name_counts)


def _predict(records, new_ids, min_probability, model_settings, auto_threshold,
             name_counts=None) -> list[tuple[int, int, float]]:
    model.quiet()
    settings = _splink_settings(model_settings if model_settings is not None else load_model())
    con = _connect()
    try:
        features.prepare(con, records, new_ids, name_counts)
        if new_ids is None:
            _db_api, linker = _linker(con, "persons", settings)
            predictions = linker.inference.predict(threshold_match_probability=min_probability)
        else:
            con.execute("create temp table persons_new as select * from persons where is_new")
            con.execute("create temp table persons_old as select * from persons where not is_new")
            predictions = _predict_incremental(con, settings, min_probability)
        rel = predictions if isinstance(predictions, duckdb.DuckDBPyRelation) else predictions.as_duckdbpyrelation()
        con.register("__pairs_rel", rel)
        con.execute(
            "create temp table __pairs as select least(unique_id_l, unique_id_r) a, "
            "greatest(unique_id_l, unique_id_r) b, max(match_probability) p, max(match_weight) w "
            "from __pairs_rel group by all"
        )
        rows = con.execute("select a, b, p, w from __pairs order by w desc, a, b").fetchall()
        identity = dict(con.execute(
            "select unique_id, id_valid from persons where id_valid is not null and unique_id in "
            "(select a from __pairs where p >= $1 union select b from __pairs where p >= $1)",
            [auto_threshold],
        ).fetchall())
    finally:
        con.close()
    pairs = _resolve_conflicts(rows, identity, auto_threshold)
    pairs.sort()
    return pairs


def _resolve_conflicts(
    rows: list[tuple], identity: dict[int, str], auto_threshold: float = AUTO_THRESHOLD
) -> list[tuple[int, int, float]]:
    """Cap automatic pairs that would put two different people (two different valid, trusted IDs)
    in one cluster. ``rows`` are ``(a, b, probability, match weight)``, strongest first;
    ``identity`` maps a record to its valid, trusted ID.

    1. Pairs are taken in order, as union-find at ``auto_threshold`` would take them; a pair that
       would join a cluster holding ID X to one holding ID Y gets ``CONFLICT_PROBABILITY``.
    2. A record without an ID of its own whose automatic pairs reach the clusters of two different
       IDs with about the same strength (a 文旅 sign-in "王炳林, 男, 石门村" when two 王炳林 live
       there) is ambiguous: all its automatic pairs are capped. When one ID is reached much more
       strongly (a shared phone number, say), only the pairs to the other IDs are capped.

    Capped pairs stay above the review threshold, so a person decides them. Clusters of the
    remaining automatic pairs never hold two IDs.
    """
    parent: dict[int, int] = {}
    cluster_id: dict[int, str | None] = {}  # root → the one trusted ID in its cluster, if any

    def find(x: int) -> int:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def ident(root: int) -> str | None:
        return cluster_id[root] if root in cluster_id else identity.get(root)

    pairs = [(int(a), int(b), float(p), float(w)) for a, b, p, w in rows]
    auto = [n for n, (_a, _b, p, _w) in enumerate(pairs) if p >= auto_threshold]
    capped: set[int] = set()  # indexes into pairs
    for n in auto:
        a, b, _p, _w = pairs[n]
        ra, rb = find(a), find(b)
        if ra != rb:
            ia, ib = ident(ra), ident(rb)
            if ia and ib and ia != ib:
                capped.add(n)
            else:
                parent[rb] = ra
                cluster_id[ra] = ia or ib
    # Step 2: for each record without an ID, the best weight with which it reaches each ID.
    reached: dict[int, dict[str, float]] = defaultdict(dict)
    partner_id: dict[tuple[int, int], str] = {}
    for n in auto:
        a, b, _p, w = pairs[n]
        for x, y in ((a, b), (b, a)):
            if x not in identity and (found := ident(find(y))):
                partner_id[(n, x)] = found
                best = reached[x]
                if w > best.get(found, float("-inf")):
                    best[found] = w
    keep: dict[int, str | None] = {}  # record → the only ID its automatic pairs may reach (None: none)
    for x, best in reached.items():
        if len(best) > 1:
            ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
            keep[x] = ranked[0][0] if ranked[0][1] - ranked[1][1] >= AMBIGUITY_MARGIN else None
    for n in auto:
        a, b, _p, _w = pairs[n]
        for x in (a, b):
            if x in keep and (n, x) in partner_id and partner_id[(n, x)] != keep[x]:
                capped.add(n)
    capped_to = min(CONFLICT_PROBABILITY, auto_threshold * 0.95)
    return [(a, b, min(p, capped_to) if n in capped else p) for n, (a, b, p, _w) in enumerate(pairs)]


def _predict_incremental(con: duckdb.DuckDBPyConnection, settings: dict, min_probability: float):
    db_api = DuckDBAPI(con)
    new = db_api.register("persons_new")
    old = db_api.register("persons_old")
    linker = Linker(new, settings, log_level=None, validate_settings=False)
    within = linker.inference.predict_within(new, threshold_match_probability=min_probability, warning_mode="never")
    between = linker.inference.predict_between(
        new, old, threshold_match_probability=min_probability, warning_mode="never"
    )
    a = within.as_duckdbpyrelation().select("unique_id_l, unique_id_r, match_probability, match_weight")
    b = between.as_duckdbpyrelation().select("unique_id_l, unique_id_r, match_probability, match_weight")
    return a.union(b)


def train_person_model(
    records: list[dict],
    *,
    labels: Mapping[int, str] | None = None,
    seed: int = 20250630,
    u_max_pairs: float = 5e6,
) -> dict:
    """Estimate the model's parameters from ``records`` and return the Splink settings dict
    (with our ``yici`` entry) ready for :func:`save_model`.

    u probabilities come from random record pairs (seeded, so the result is reproducible). With
    ``labels`` (record id → true cluster) the m probabilities and the prior come from the labelled
    matching pairs; without them m is estimated by expectation maximisation on pairs blocked by
    trusted ID and by phone, and the prior from deterministic rules. Levels seen in neither sample
    are smoothed to say nothing (:func:`.model.smooth`); the hand-set levels keep their values.
    """
    model.quiet()
    con = _connect()
    try:
        features.prepare(con, records)
        if labels is not None:
            import pyarrow as pa

            ids = sorted(labels)
            con.register("__labels_arrow", pa.table({"id": pa.array(ids, pa.int64()),
                                                     "cluster": [str(labels[i]) for i in ids]}))
            con.execute(
                "create or replace temp table persons as select p.*, l.cluster from persons p "
                "left join __labels_arrow l on l.id = p.unique_id order by p.unique_id"
            )
        db_api = DuckDBAPI(con)
        linker = Linker(db_api.register("persons"), model.settings_creator(), log_level=None)
        linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed, min_count_per_level=None)
        n = len(records)
        if labels is not None:
            linker.training.estimate_m_from_label_column("cluster")
            n_labelled, true_pairs = model.labelled_pair_stats(labels)
            per_record = 2 * true_pairs / max(n_labelled, 1)
        else:
            # A session cannot estimate the comparisons that use its blocking columns: the ID
            # comparison also reads the names, so the sessions block on ID and on phone.
            for rule in (model.block_on("id_number"), model.block_on("phone")):
                linker.training.estimate_parameters_using_expectation_maximisation(rule)
            linker.training.estimate_probability_two_random_records_match(model.DETERMINISTIC_RULES, recall=0.9)
            prior = linker._settings_obj._probability_two_random_records_match
            per_record = prior * (n - 1)
        settings = linker.misc.save_model_to_json()
    finally:
        con.close()
    model.smooth(settings, m_pairs=per_record * n / 2, u_pairs=min(u_max_pairs, n * (n - 1) / 2))
    settings["linker_uid"] = None
    settings["probability_two_random_records_match"] = min(0.5, per_record / max(n - 1, 1))
    settings[YICI_KEY] = {"matches_per_record": per_record, "trained_on_records": n}
    return settings
