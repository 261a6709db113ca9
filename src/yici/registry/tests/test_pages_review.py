"""The review queue: open pairs of the user's area, two records side by side, merge / keep apart / undo."""

from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone

from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.models import ImportBatch, ImportStatus, LineSystem
from yici.registry.models import Link, LinkMethod, Person, ReviewPair, ReviewStatus, SourceRecord
from yici.registry.reconcile import recompute_golden
from yici.testing.fixtures import OTHER_VILLAGE, VILLAGE

LEFT_ID = "330726196005170013"
RIGHT_ID = "330726196005710013"  # two digits swapped
LEFT_PHONE = "13812345678"


@pytest.fixture
def catalog(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())


def _record(system, filename, row, values, area=VILLAGE) -> SourceRecord:
    batch = ImportBatch.objects.create(system=system, filename=filename, sha256=filename.ljust(64, "0")[:64],
                                       entity="person", status=ImportStatus.DONE)
    return SourceRecord.objects.create(kind="import", system=system, batch=batch, row_number=row, entity="person",
                                       values=values, raw=dict(values), area_code=area, observed_at=timezone.now())


def _golden(record: SourceRecord) -> Person:
    person = Person.objects.create(name="?", area_code=record.area_code)
    Link.objects.create(record=record, person=person, method=LinkMethod.NEW)
    recompute_golden("person", {person.pk})
    person.refresh_from_db()
    return person


@dataclass
class Pair:
    pair: ReviewPair
    left: SourceRecord
    right: SourceRecord
    left_person: Person
    right_person: Person


def make_pair(area=VILLAGE, probability=0.7, name="张三丰") -> Pair:
    gongan, _ = LineSystem.objects.get_or_create(code="gongan_huji", defaults={"name": "公安户籍"})
    minzheng, _ = LineSystem.objects.get_or_create(code="minzheng_dibao", defaults={"name": "民政低保"})
    left = _record(gongan, f"户籍{area}{probability}.xlsx", 7, {
        "person.name": name, "person.id_number": LEFT_ID, "person.phone": LEFT_PHONE, "person.gender": "男",
    }, area)
    right = _record(minzheng, f"低保{area}{probability}.xlsx", 12, {
        "person.name": name, "person.id_number": RIGHT_ID, "person.low_income": "是",
    }, area)
    right.raw["person.phone"] = "12345"  # an invalid phone kept aside
    right.issues = {"person.phone": [{"level": "error", "code": "phone", "message": "not a phone"}]}
    right.save()
    pair = ReviewPair.objects.create(left=left, right=right, probability=probability, area_code=area)
    return Pair(pair, left, right, _golden(left), _golden(right))


@pytest.fixture
def pair(world, catalog) -> Pair:
    return make_pair()


REVIEWERS = ["cadre", "township_staff", "admin"]


@pytest.mark.parametrize("who", REVIEWERS)
def test_reviewers_of_the_area_see_the_pair(client, world, pair, who):
    client.force_login(getattr(world, who))
    response = client.get(reverse("registry:review_list"))
    assert response.status_code == 200
    assert [p.pk for p, _left, _right in response.context["rows"]] == [pair.pair.pk]
    assert client.get(reverse("registry:review_detail", args=[pair.pair.pk])).status_code == 200


@pytest.mark.parametrize("who", ["department_staff", "burden_office", "auditor"])
def test_other_roles_are_refused_the_review_queue(client, world, pair, who):
    client.force_login(getattr(world, who))
    assert client.get(reverse("registry:review_list")).status_code == 403
    assert client.get(reverse("registry:review_detail", args=[pair.pair.pk])).status_code == 403
    response = client.post(reverse("registry:review_decide", args=[pair.pair.pk]), {"decision": "same"})
    assert response.status_code == 403
    assert ReviewPair.objects.get(pk=pair.pair.pk).status == ReviewStatus.OPEN


def test_the_outsider_sees_no_pair_and_gets_404(client, world, pair):
    client.force_login(world.outsider)
    assert client.get(reverse("registry:review_list")).context["rows"] == []
    assert client.get(reverse("registry:review_detail", args=[pair.pair.pk])).status_code == 404
    for url, data in ((reverse("registry:review_decide", args=[pair.pair.pk]), {"decision": "same"}),
                      (reverse("registry:review_undo", args=[pair.pair.pk]), {})):
        assert client.post(url, data).status_code == 404
    assert ReviewPair.objects.get(pk=pair.pair.pk).status == ReviewStatus.OPEN


def test_anonymous_users_are_sent_to_sign_in(client, pair):
    response = client.get(reverse("registry:review_list"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_the_list_is_sorted_by_probability_and_scoped(client, world, pair):
    likelier = make_pair(probability=0.9, name="李四")
    make_pair(area=OTHER_VILLAGE, probability=0.8, name="王五")
    client.force_login(world.township_staff)
    rows = client.get(reverse("registry:review_list")).context["rows"]
    assert [p.pk for p, _l, _r in rows] == [likelier.pair.pk, pair.pair.pk]
    client.force_login(world.admin)
    assert len(client.get(reverse("registry:review_list")).context["rows"]) == 3


def test_the_list_masks_id_numbers(client, world, pair):
    client.force_login(world.cadre)
    body = client.get(reverse("registry:review_list")).content.decode()
    assert "张三丰" in body and LEFT_ID not in body and RIGHT_ID not in body and "330726********0013" in body


def test_the_pair_page_shows_both_records_side_by_side_masked_with_differences(client, world, pair):
    client.force_login(world.cadre)
    response = client.get(reverse("registry:review_detail", args=[pair.pair.pk]))
    body = response.content.decode()
    for full in (LEFT_ID, RIGHT_ID, LEFT_PHONE, "12345"):
        assert full not in body
    rows = {r.code: r for r in response.context["data"].rows}
    assert rows["person.id_number"].differs and rows["person.id_number"].left == "330726********0013"
    assert not rows["person.name"].differs and not rows["person.name"].one_sided
    assert rows["person.low_income"].one_sided and rows["person.low_income"].right == "****"
    assert rows["person.phone"].right_invalid and rows["person.phone"].left == "138****5678"
    assert 'class="differs" data-testid="row-person.id_number"' in body
    assert rows["person.id_number"].differs_hidden and 'data-testid="differs-hidden"' in body
    # Systems, files, rows and the golden records each side belongs to now.
    assert "公安户籍" in body and "民政低保" in body and "户籍" in body and "低保" in body
    assert reverse("registry:person_detail", args=[pair.left_person.pk]) in body
    assert reverse("registry:person_detail", args=[pair.right_person.pk]) in body
    assert 'data-testid="decide-same"' in body and 'data-testid="decide-apart"' in body


def test_merging_moves_the_records_and_undo_puts_them_back(client, world, pair):
    client.force_login(world.cadre)
    response = client.post(reverse("registry:review_decide", args=[pair.pair.pk]), {"decision": "same"})
    assert response.status_code == 302 and response["Location"] == reverse("registry:review_list")
    decided = ReviewPair.objects.get(pk=pair.pair.pk)
    assert (decided.status, decided.decided_by) == (ReviewStatus.MERGED, world.cadre)
    assert Link.objects.get(record=pair.right, active=True).person_id == pair.left_person.pk
    assert Person.objects.get(pk=pair.right_person.pk).merged_into_id == pair.left_person.pk

    body = client.get(reverse("registry:review_list")).content.decode()
    assert f'data-testid="undo-{decided.pk}"' in body
    response = client.post(reverse("registry:review_undo", args=[pair.pair.pk]))
    assert response.status_code == 302
    reopened = ReviewPair.objects.get(pk=pair.pair.pk)
    assert reopened.status == ReviewStatus.OPEN and reopened.decided_by is None
    assert Link.objects.get(record=pair.right, active=True).person_id == pair.right_person.pk
    assert Person.objects.get(pk=pair.right_person.pk).merged_into_id is None


def test_keeping_apart_leaves_the_links_and_can_be_undone(client, world, pair):
    client.force_login(world.township_staff)
    following = make_pair(probability=0.6, name="李四")
    response = client.post(reverse("registry:review_decide", args=[pair.pair.pk]), {"decision": "apart"})
    # The reviewer goes on with the next open pair.
    assert response["Location"] == reverse("registry:review_detail", args=[following.pair.pk])
    assert ReviewPair.objects.get(pk=pair.pair.pk).status == ReviewStatus.APART
    assert Link.objects.get(record=pair.right, active=True).person_id == pair.right_person.pk
    assert Person.objects.get(pk=pair.right_person.pk).merged_into_id is None
    body = client.get(reverse("registry:review_detail", args=[pair.pair.pk])).content.decode()
    assert 'data-testid="undo"' in body and 'data-testid="decide-same"' not in body
    client.post(reverse("registry:review_undo", args=[pair.pair.pk]))
    assert ReviewPair.objects.get(pk=pair.pair.pk).status == ReviewStatus.OPEN


def test_deciding_twice_is_refused_with_a_message(client, world, pair):
    client.force_login(world.cadre)
    url = reverse("registry:review_decide", args=[pair.pair.pk])
    client.post(url, {"decision": "apart"})
    response = client.post(url, {"decision": "same"}, follow=True)
    assert ReviewPair.objects.get(pk=pair.pair.pk).status == ReviewStatus.APART
    assert any(m.level_tag == "error" for m in response.context["messages"])
    assert client.post(url, {"decision": "maybe"}).status_code == 400


def test_the_review_list_runs_a_fixed_number_of_queries(client, world, catalog, django_assert_max_num_queries):
    for n in range(12):
        make_pair(probability=0.5 + n / 100, name=f"人{n}")
    client.force_login(world.cadre)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("registry:review_list"))
    assert len(response.context["rows"]) == 12
