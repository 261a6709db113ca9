import datetime
from collections import namedtuple

from yici.registry.golden import (
    Candidate,
    apply_values,
    choose,
    element_values,
    name_initials,
    newest_first,
    provenance_of,
    single_source_provenance,
    survive,
)
from yici.registry.models import Person

# A golden record's member record as provenance reads it (``reconcile.Member`` in the app).
Source = namedtuple("Source", "id values system observed_at")


def cand(value, record, system="gongan_huji", dept="gongan", at="2025-01-01T00:00:00"):
    return Candidate(value=value, record_id=record, system=system, department=dept, observed_at=at)


def test_the_authoritative_source_wins_even_when_older():
    candidates = [cand("张三", 1, at="2024-01-01"), cand("张叁", 2, "minzheng_jiuzhu", "minzheng", at="2025-06-01")]
    choice = choose(candidates, "gongan")
    assert (choice.value, choice.rule, choice.winner.record_id) == ("张三", "authoritative", 1)


def test_a_correction_by_hand_after_the_authoritative_source_wins_until_the_source_speaks_again():
    structure = [cand("砖木", 1, "zhujian_zijianfang", "zhujian", at="2025-01-01"),
                 cand("砖混", 2, "user", "", at="2026-11-26T10:00:00")]
    choice = choose(structure, "zhujian")
    assert (choice.value, choice.rule) == ("砖混", "corrected")
    # A report value typed by a cadre is not a correction of the record: the authority still wins.
    reported = [structure[0], cand("砖混", 3, "report", "", at="2026-11-26T10:00:00")]
    assert choose(reported, "zhujian").rule == "authoritative"
    # The department confirms or changes it later: its newer statement wins again.
    later = [*structure, cand("钢混", 4, "zhujian_zijianfang", "zhujian", at="2026-12-01")]
    assert (choose(later, "zhujian").value, choose(later, "zhujian").rule) == ("钢混", "authoritative")


def test_without_authority_the_most_recent_wins():
    candidates = [cand("13800000001", 1, at="2024-01-01"), cand("13900000002", 2, "weijian", "weijian", at="2025-06-01")]
    assert choose(candidates).value == "13900000002"
    assert choose(candidates).rule == "most_recent"


def test_at_the_same_moment_the_most_frequent_wins():
    candidates = [cand("砖混", 1), cand("砖木", 2), cand("砖混", 3)]
    choice = choose(candidates)
    assert (choice.value, choice.rule) == ("砖混", "most_frequent")


def test_survive_keeps_every_candidate_and_skips_empty_values():
    at = "2025-01-01T00:00:00"
    members = [Source(1, {"person.name": "张三", "person.phone": ""}, "gongan_huji", at),
               Source(2, {"person.name": "张叁"}, "minzheng_jiuzhu", at)]
    values, provenance = survive(
        {"person.name": [cand("张三", 1), cand("张叁", 2, "minzheng_jiuzhu", "minzheng")],
         "person.phone": [cand("", 1)]},
        {"person.name": "gongan"},
    )
    assert values == {"person.name": "张三"}
    assert provenance == {"v": 3, "elements": {"person.name": [1, "authoritative"]}}
    person = Person(provenance=provenance)
    apply_values("person", person, values)
    expanded = provenance_of("person", person, members)
    assert set(expanded) == {"person.name"}
    assert expanded["person.name"]["rule"] == "authoritative"
    assert expanded["person.name"]["value"] == "张三" and expanded["person.name"]["record"] == 1
    assert expanded["person.name"]["system"] == "gongan_huji" and expanded["person.name"]["observed_at"] == at
    assert [(c["value"], c["record"], c["system"]) for c in expanded["person.name"]["candidates"]] == [
        ("张叁", 2, "minzheng_jiuzhu"), ("张三", 1, "gongan_huji")]


def test_provenance_of_a_single_source_names_it_for_every_value_but_derived_ones():
    person = Person(provenance=single_source_provenance())
    apply_values("person", person, {"person.name": "王五", "person.birth_date": "1950-02-03", "person.age": "76"})
    member = Source(7, {"person.name": "王五", "person.birth_date": "1950-02-03"}, "weijian_laonian",
                    "2026-03-01T00:00:00+00:00")
    expanded = provenance_of("person", person, [member])
    assert set(expanded) == {"person.name", "person.birth_date"}
    assert expanded["person.birth_date"] == {"value": "1950-02-03", "record": 7, "system": "weijian_laonian",
                                             "observed_at": "2026-03-01T00:00:00+00:00", "rule": "only"}
    # A value that no member states (they were unlinked since) is left without a source.
    assert "person.birth_date" not in provenance_of("person", person, [member._replace(values={"person.name": "王五"})])


def test_provenance_stored_in_format_2_still_reads():
    person = Person(name="王五", phone="13800000001", provenance={
        "v": 2, "sources": {"3": ["gongan_huji", "2025-01-01"], "4": ["weijian_laonian", "2026-01-01"]},
        "elements": {"person.name": [3, "only"],
                     "person.phone": [4, "most_recent", [["13800000001", 4], ["13900000002", 3]]]}})
    expanded = provenance_of("person", person)
    assert expanded["person.name"] == {"value": "王五", "record": 3, "system": "gongan_huji",
                                       "observed_at": "2025-01-01", "rule": "only"}
    assert [(c["value"], c["record"], c["system"]) for c in expanded["person.phone"]["candidates"]] == [
        ("13800000001", 4, "weijian_laonian"), ("13900000002", 3, "gongan_huji")]
    single = Person(name="王五", provenance={"v": 2, "sources": {"3": ["gongan_huji", "2025-01-01"]}})
    assert provenance_of("person", single)["person.name"]["record"] == 3


def test_provenance_stored_per_element_before_the_compact_form_still_reads():
    stored = {"person.name": {"value": "王五", "record": 3, "system": "gongan_huji", "observed_at": "x", "rule": "only"}}
    person = Person(name="王五", provenance=stored)
    assert provenance_of("person", person) == stored


def test_apply_and_read_back_values():
    person = Person()
    apply_values("person", person, {
        "person.name": "张三丰", "person.birth_date": "1960-05-17", "person.gender": "男",
        "person.ethnicity": "汉族", "person.current_address": "樟树村3组5号",
    })
    assert person.birth_date == datetime.date(1960, 5, 17)
    assert person.attributes == {"person.ethnicity": "汉族", "person.current_address": "樟树村3组5号"}
    assert person.name_initials == "zsf" and person.address == "樟树村3组5号"
    assert element_values("person", person)["person.birth_date"] == "1960-05-17"


def test_name_initials():
    assert name_initials("欧阳娜娜") == "oynn"


def _choose_as_specified(candidates, authority=""):
    """The survivorship rule written out plainly (the oracle for ``choose``, which reads the
    candidates newest first in one pass)."""
    from collections import Counter

    def newest(cs):
        return max(cs, key=lambda c: (c.observed_at, c.record_id))

    if len(candidates) == 1:
        return candidates[0].value, candidates[0].record_id, "only"
    authoritative = [c for c in candidates if authority and c.department == authority]
    if authoritative:
        winner = newest(authoritative)
        corrections = [c for c in candidates if c.system == "user" and c.observed_at > winner.observed_at]
        if corrections:
            return newest(corrections).value, newest(corrections).record_id, "corrected"
        return winner.value, winner.record_id, "authoritative"
    latest = max(c.observed_at for c in candidates)
    recent = [c for c in candidates if c.observed_at == latest]
    if len({c.value for c in recent}) == 1:
        winner = newest(recent)
        return winner.value, winner.record_id, "most_recent" if len(recent) < len(candidates) else "agreed"
    counts = Counter(c.value for c in candidates)
    best = max(counts.values())
    tied = [c for c in recent if counts[c.value] == best] or [c for c in candidates if counts[c.value] == best]
    return newest(tied).value, newest(tied).record_id, "most_frequent"


def test_choose_follows_the_rule_in_any_order_of_candidates():
    import random

    rng = random.Random(11)
    sources = [("gongan_huji", "gongan"), ("minzheng_jiuzhu", "minzheng"), ("user", ""), ("report", "")]
    rules = set()
    for trial in range(2000):
        candidates = []
        for record in rng.sample(range(1, 40), rng.randint(1, 6)):
            system, dept = rng.choice(sources)
            candidates.append(cand(rng.choice("甲乙丙"), record, system, dept,
                                   at=rng.choice(["2025-01-01", "2025-06-01", "2026-01-01"])))
        authority = rng.choice(["", "gongan", "minzheng"])
        choice = choose(candidates, authority)
        assert (choice.value, choice.winner.record_id, choice.rule) == _choose_as_specified(candidates, authority), trial
        rules.add(choice.rule)
    assert rules == {"only", "authoritative", "corrected", "most_recent", "agreed", "most_frequent"}


def test_survive_stores_the_winner_of_each_contested_element_and_the_members_give_the_rest():
    import random

    rng = random.Random(5)
    sources = [("gongan_huji", "gongan"), ("minzheng_jiuzhu", "minzheng"), ("user", "")]
    codes = ("person.name", "person.phone", "person.education")
    for trial in range(300):
        members = []
        for record in rng.sample(range(1, 30), rng.randint(1, 4)):
            system, _dept = rng.choice(sources)
            stated = {code: rng.choice(["", "甲", "乙"]) for code in rng.sample(codes, rng.randint(1, len(codes)))}
            members.append(Source(record, stated, system, rng.choice(["2025-01-01", "2026-01-01"])))
        department = dict(sources)
        by_element = {code: [cand(m.values[code], m.id, m.system, department[m.system], m.observed_at)
                             for m in members if code in m.values] for code in codes}
        authority = {"person.name": "gongan"}
        values, provenance = survive(by_element, authority)
        person = Person(provenance=provenance)
        apply_values("person", person, values)
        expanded = provenance_of("person", person, members)
        assert set(expanded) == set(values), trial
        for code, cs in by_element.items():
            present = [c for c in cs if c.value]
            if not present:
                assert code not in values and code not in provenance.get("elements", {}), trial
            elif len(present) > 1:
                choice = choose(present, authority.get(code, ""))
                assert provenance["elements"][code] == [choice.winner.record_id, choice.rule], trial
                assert expanded[code]["record"] == choice.winner.record_id and expanded[code]["rule"] == choice.rule
                assert expanded[code]["system"] == choice.winner.system, trial
                assert [c["record"] for c in expanded[code]["candidates"]] == [
                    c.record_id for c in newest_first(present)], trial
            else:
                assert code not in provenance.get("elements", {}), trial
                assert (expanded[code]["record"], expanded[code]["rule"]) == (present[0].record_id, "only"), trial
                assert "candidates" not in expanded[code], trial
