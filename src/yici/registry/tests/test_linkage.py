"""Person linkage: features, the shipped model's behaviour on the hard cases, incremental runs,
determinism, and pairwise F1 on the benchmark data kit."""

import random
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from yici.registry.idnumbers import make_id_number
from yici.registry.linkage import (
    CONFLICT_PROBABILITY,
    _resolve_conflicts,
    load_model,
    predict_person_pairs,
    train_person_model,
)
from yici.registry.linkage.evaluation import catalog_specs, clusters, kit_records, kit_truth, linkage_record
from yici.registry.linkage.features import blocking_keys, candidates_from_keys, key_tables, name_pinyin

KIT = Path("/work/shared/datasets/dev")
BENCH = Path(__file__).resolve().parents[4] / "bench"

SHORT = {
    "name": "person.name",
    "id": "person.id_number",
    "birth": "person.birth_date",
    "gender": "person.gender",
    "phone": "person.phone",
    "address": "person.current_address",
    "village": "person.village",
    "household": "person.household_no",
    "age": "person.age",
}


def record(rid: int, rejected_id: str | None = None, **values) -> dict:
    out = {"id": rid, "values": {SHORT[k]: v for k, v in values.items()}, "area_code": "", "system__code": "t",
           "parent_id": None}
    if rejected_id:
        out["rejected"] = {"person.id_number": rejected_id}
    return out


def an_id(born: str, male: bool = True, sequence: int = 17, region: str = "330726") -> str:
    import datetime

    return make_id_number(region=region, birth_date=datetime.date.fromisoformat(born), sequence=sequence, male=male)


def probability(pairs, a: int, b: int) -> float:
    return {(x, y): p for x, y, p in pairs}.get((min(a, b), max(a, b)), 0.0)


def background(start: int = 100, n: int = 40) -> list[dict]:
    """Unrelated villagers, so the tests' records are not alone in the data."""
    rng = random.Random(5)
    surnames, given = "王李赵钱孙周吴郑冯陈", "明华强军丽芳静娟磊涛"
    rows = []
    for i in range(n):
        born = f"{rng.randrange(1940, 2005)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        male = rng.random() < 0.5
        rows.append(record(start + i, name=rng.choice(surnames) + rng.choice(given) + rng.choice(given),
                           id=an_id(born, male, sequence=i), birth=born, gender="男" if male else "女",
                           address=f"梅岭镇石门村{rng.randrange(1, 9)}组{rng.randrange(1, 99)}号"))
    return rows


def test_name_pinyin_makes_homophones_equal():
    assert name_pinyin("张伟")[0] == name_pinyin("章伟")[0] == "zhang wei"
    assert name_pinyin("张 伟")[1:] == ("zw", "zhang")


def test_it_matches_a_transposed_id_kept_as_rejected():
    own = an_id("1966-07-19")
    swapped = own[:15] + own[16] + own[15] + own[17:]
    assert swapped != own
    records = background() + [
        record(1, name="金晓东", id=own, birth="1966-07-19", gender="男", village="樟树村"),
        record(2, rejected_id=swapped, name="金晓东", gender="男", village="樟树村"),
        record(3, name="金晓东", gender="男", village="樟树村"),  # the same without an ID
    ]
    pairs = predict_person_pairs(records, min_probability=0.01)
    assert probability(pairs, 1, 2) >= 0.95
    assert probability(pairs, 1, 2) > probability(pairs, 1, 3)


def test_a_mistyped_id_is_compared_when_only_its_birth_date_and_surname_agree():
    # No birth date column, another village, a given name typed differently: the ID's birth date
    # (digits 7-14, kept although the ID failed its check) with the surname still brings the
    # record next to the right one for the model to weigh.
    own = an_id("1966-07-19", sequence=23)
    swapped = own[:14] + own[15] + own[14] + own[16:]
    assert swapped != own
    records = background() + [
        record(1, name="金晓东", id=own, birth="1966-07-19", gender="男", village="樟树村"),
        record(2, rejected_id=swapped, name="金晓乐", gender="男", village="石门村"),
    ]
    assert probability(predict_person_pairs(records, min_probability=0.0), 1, 2) > 0


def test_it_matches_a_homophone_name_with_the_same_id():
    own = an_id("1948-07-09")
    records = background() + [
        record(1, name="钱长春", id=own, birth="1948-07-09", gender="男", address="梅岭镇樟树村3组5号"),
        record(2, name="钱长纯", id=own, birth="1948-07-09", gender="男", phone="18721142969"),
    ]
    assert probability(predict_person_pairs(records), 1, 2) >= 0.95


def test_it_matches_phones_written_differently_once_normalised():
    specs = catalog_specs()
    own = an_id("1971-03-29")
    rows = [
        {"person.name": "黄海锋", "person.id_number": own.lower(), "person.phone": "138-4115-5820",
         "person.village": "樟树村"},
        {"person.name": "黄海锋\u3000", "person.phone": "+86 13841155820", "person.gender": "1",
         "person.village": "樟树"},
    ]
    records = background() + [linkage_record(i + 1, specs, row) for i, row in enumerate(rows)]
    assert records[-1]["values"]["person.phone"] == records[-2]["values"]["person.phone"] == "13841155820"
    assert probability(predict_person_pairs(records), 1, 2) >= 0.95


def test_namesakes_with_different_birth_dates_stay_apart():
    records = background() + [
        record(1, name="王芳", id=an_id("1980-01-01", False), birth="1980-01-01", gender="女",
               address="梅岭镇樟树村2组8号"),
        record(2, name="王芳", id=an_id("1992-05-05", False), birth="1992-05-05", gender="女",
               address="梅岭镇樟树村5组19号"),
    ]
    assert probability(predict_person_pairs(records, min_probability=0.01), 1, 2) < 0.5


def test_namesakes_with_the_same_birth_date_but_different_ids_stay_apart():
    records = background() + [
        record(1, name="邵丽萍", id=an_id("1972-01-17", False, 1), birth="1972-01-17", gender="女",
               address="梅岭镇樟树村4组51号", household="1112010136"),
        record(2, name="邵丽萍", id=an_id("1972-01-17", False, 2), birth="1972-01-17", gender="女",
               address="梅岭镇石门村5组31号", household="1112020064"),
    ]
    assert probability(predict_person_pairs(records, min_probability=0.01), 1, 2) < 0.5


def test_a_household_members_id_under_another_name_stays_apart():
    father = an_id("1956-08-19")
    records = background() + [
        record(1, name="黄建国", id=father, birth="1956-08-19", gender="男", address="梅岭镇樟树村6组36号"),
        # His daughter-in-law's row carries his ID, once with her own birth date and once without.
        record(2, name="应梦瑶", id=father, birth="1989-06-19", gender="女", address="梅岭镇樟树村6组36号"),
        record(3, name="应梦瑶", id=father, gender="女", village="樟树村"),
    ]
    pairs = predict_person_pairs(records, min_probability=0.01)
    assert probability(pairs, 1, 2) < 0.5
    assert probability(pairs, 1, 3) < 0.5
    assert probability(pairs, 2, 3) >= 0.95  # she is still herself


def test_an_ambiguous_sign_in_is_not_merged_with_either_namesake():
    records = background() + [
        record(1, name="王炳林", id=an_id("1950-12-23", sequence=3), birth="1950-12-23", gender="男",
               address="梅岭镇石门村1组4号"),
        record(2, name="王炳林", id=an_id("1952-12-22", sequence=4), birth="1952-12-22", gender="男",
               address="梅岭镇石门村5组81号"),
        record(3, name="王炳林", gender="男", village="石门"),
    ]
    pairs = predict_person_pairs(records, min_probability=0.01)
    assert probability(pairs, 1, 3) < 0.95 and probability(pairs, 2, 3) < 0.95
    assert probability(pairs, 1, 2) < 0.5


def test_conflicting_automatic_pairs_are_capped_strongest_first():
    rows = [(1, 3, 0.999, 20.0), (2, 3, 0.99, 8.0), (1, 2, 0.1, -20.0)]
    out = {(a, b): p for a, b, p in _resolve_conflicts(rows, {1: "A", 2: "B"})}
    assert out[(1, 3)] == 0.999  # 12 bits stronger: record 3 is person A
    assert out[(2, 3)] == CONFLICT_PROBABILITY
    rows = [(1, 3, 0.99, 8.0), (2, 3, 0.99, 7.5)]
    out = {(a, b): p for a, b, p in _resolve_conflicts(rows, {1: "A", 2: "B"})}
    assert out == {(1, 3): CONFLICT_PROBABILITY, (2, 3): CONFLICT_PROBABILITY}


def _town() -> list[dict]:
    """Background villagers plus a few people seen twice, once with their ID and once without."""
    records = background(100, 60)
    for i, rec in enumerate(records[:20]):
        v = rec["values"]
        records.append(record(1000 + i, name=v["person.name"], birth=v["person.birth_date"],
                              gender=v["person.gender"], address=v["person.current_address"]))
    return records


def test_incremental_returns_only_pairs_touching_new_records_and_agrees_with_full():
    records = _town()
    new_ids = {1000, 1001, 1002, 105, 150}
    incremental = predict_person_pairs(records, new_ids=new_ids, min_probability=0.01)
    assert incremental
    assert all(a in new_ids or b in new_ids for a, b, _p in incremental)
    full = predict_person_pairs(records, min_probability=0.01)
    assert incremental == [(a, b, p) for a, b, p in full if a in new_ids or b in new_ids]
    assert probability(incremental, 100, 1000) >= 0.95


def test_no_new_records_means_no_pairs():
    assert predict_person_pairs(_town(), new_ids=set()) == []


def test_output_is_deterministic_and_independent_of_record_order():
    records = _town()
    first = predict_person_pairs(records, min_probability=0.01)
    shuffled = list(records)
    random.Random(1).shuffle(shuffled)
    assert predict_person_pairs(records, min_probability=0.01) == first
    assert predict_person_pairs(shuffled, min_probability=0.01) == first
    assert all(a < b for a, b, _p in first) and first == sorted(first)


def test_the_shipped_model_is_a_trained_splink_model():
    model = load_model()
    assert model["link_type"] == "dedupe_only"
    assert 0 < model["probability_two_random_records_match"] < 0.01
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level"):
                assert 0 < level["m_probability"] <= 1 and 0 < level["u_probability"] <= 1


def test_train_person_model_learns_from_labelled_records():
    sys.path.insert(0, str(BENCH))
    try:
        import legacy_gen
    finally:
        sys.path.remove(str(BENCH))
    specs = catalog_specs()
    generated = legacy_gen.generate(1500, seed=3)
    records, labels = [], {}
    for system, (_file, _encoding, columns) in legacy_gen.SYSTEMS.items():
        for row, person in generated[system]:
            from yici.registry.linkage.evaluation import person_row

            raw = person_row({code: value for (_h, code), value in zip(columns, row, strict=True) if code})
            records.append(linkage_record(len(records) + 1, specs, raw, system=system))
            labels[len(records)] = person
    settings = train_person_model(records, labels=labels, u_max_pairs=2e5)
    names = {c["output_column_name"]: c for c in settings["comparisons"]}
    exact = names["name"]["comparison_levels"][1]
    assert exact["m_probability"] > exact["u_probability"]
    pairs = predict_person_pairs(records, model_settings=settings)
    cluster_of = clusters([r["id"] for r in records], pairs, 0.95)
    from yici.registry.linkage.evaluation import pairwise_scores

    assert pairwise_scores(labels, cluster_of)["f1"] > 0.95


@pytest.mark.skipif(not (KIT / "truth" / "legacy_truth.csv").exists(), reason="benchmark data kit not present")
def test_pairwise_f1_on_the_data_kit_is_at_least_099():
    sys.path.insert(0, str(KIT / "scorers"))
    try:
        from score_dedupe import evaluate
    finally:
        sys.path.remove(str(KIT / "scorers"))
    records, keys = kit_records(KIT)
    pairs = predict_person_pairs(records, min_probability=0.5)
    cluster_of = clusters(keys, pairs, 0.95)
    truth = kit_truth(KIT)
    pred = {(keys[rid][1], keys[rid][2]): ("c", cluster_of[rid]) for rid in keys}
    report = evaluate(truth, pred)
    assert report["f1"] >= 0.99, report
    assert report["precision"] >= 0.99, report


def test_blocking_keys_find_every_candidate_of_new_records():
    records = _town() + [record(2000, name="钱明强", phone="13812345678", village="樟树村")]
    records.append(record(2001, name="钱明強", phone="13812345678"))
    new_ids = {1003, 1010, 2001, 120}
    keys = blocking_keys(records)
    by_key: dict[str, set[int]] = {}
    for rid, key in keys:
        by_key.setdefault(key, set()).add(rid)
    step1 = set().union(*(by_key[key] for rid, key in keys if rid in new_ids))
    wanted = step1 | set().union(*(by_key[key] for rid, key in keys if rid in step1 and key[0] == "i"))
    subset = [r for r in records if r["id"] in wanted]
    assert len(subset) < len(records)
    full = predict_person_pairs(records, min_probability=0.01)
    assert predict_person_pairs(subset, new_ids=new_ids, min_probability=0.01) == [
        (a, b, p) for a, b, p in full if a in new_ids or b in new_ids
    ]


def test_new_records_with_the_candidates_found_in_a_key_table_pair_as_with_every_record():
    """The incremental path of a registry with a key table: the candidates and namesake counts
    come from the key table, and only those records reach the model."""
    records = _town() + [record(2000, name="钱明强", phone="13812345678", village="樟树村"),
                         record(2001, name="钱明強", phone="13812345678")]
    new_ids = {1003, 1010, 2001, 120}
    inputs, keys = key_tables(records)
    is_new = pc.is_in(keys["unique_id"], value_set=pa.array(sorted(new_ids), pa.int64()))
    con = duckdb.connect(":memory:")
    try:
        con.register("__existing_keys", keys.filter(pc.invert(is_new)))
        candidates, name_counts = candidates_from_keys(con, "__existing_keys", keys.filter(is_new))
    finally:
        con.close()
    assert 0 < len(candidates) < len(records) - len(new_ids)
    given = [r for r in records if r["id"] in new_ids or r["id"] in set(candidates)]
    full = predict_person_pairs(records, min_probability=0.01)
    expected = [(a, b, p) for a, b, p in full if a in new_ids or b in new_ids]
    assert expected
    assert predict_person_pairs(given, new_ids=new_ids, min_probability=0.01, name_counts=name_counts) == expected
