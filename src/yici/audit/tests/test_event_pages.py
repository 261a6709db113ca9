import csv
import io

import pytest
from django.urls import reverse

from yici.audit.models import AuditEvent
from yici.audit.services import audit_event
from yici.testing.factories import UserFactory

LIST = reverse("audit:event_list")
EXPORT = reverse("audit:event_export")


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_it_lists_the_events_of_the_readers_area_including_reveals(client, world, trail, who):
    client.force_login(getattr(world, who))
    response = client.get(LIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert "低保复核" in body  # the reveal's reason, written by registry.services.person_reveal
    assert "id_number" in body
    assert "前陈村" in body and "H00000042 王五" in body
    assert reverse("audit:event_detail", args=[trail.reveal.pk]) in body


@pytest.mark.parametrize("who", ["cadre", "outsider", "burden_office", "township_staff", "department_staff"])
@pytest.mark.parametrize("url", ["list", "detail", "export"])
def test_it_refuses_roles_outside_audit(client, world, trail, who, url):
    client.force_login(getattr(world, who))
    path = {"list": LIST, "detail": reverse("audit:event_detail", args=[trail.reveal.pk]), "export": EXPORT}[url]
    response = client.get(path)
    assert response.status_code == 403
    assert "低保复核" not in response.content.decode()
    assert not AuditEvent.objects.filter(action="export").exists()


def test_it_sends_anonymous_users_to_sign_in(client, world):
    for path in (LIST, EXPORT):
        response = client.get(path)
        assert response.status_code == 302
        assert reverse("accounts:login") in response["Location"]


def test_an_auditor_of_another_county_sees_none_of_this_countys_events(client, world, trail, other_county_auditor):
    client.force_login(other_county_auditor)
    body = client.get(LIST).content.decode()
    assert "低保复核" not in body and "前陈村" not in body and "H00000042" not in body
    assert client.get(reverse("audit:event_detail", args=[trail.reveal.pk])).status_code == 404
    rows = _csv(client.get(EXPORT))
    assert not any("低保复核" in row or "330726101201" in row for row in rows)


def test_the_filters_narrow_the_page(client, world, trail):
    client.force_login(world.auditor)
    body = client.get(LIST, {"action": "reveal"}).content.decode()
    assert "低保复核" in body and "H00000042" not in body
    body = client.get(LIST, {"text": "王五"}).content.decode()
    assert "H00000042 王五" in body and "低保复核" not in body
    body = client.get(LIST, {"date_to": "2025-01-11", "area_code": "330726101000"}).content.decode()
    assert "H00000042 王五" in body and "低保复核" not in body


def test_a_malformed_date_is_reported_and_ignored(client, world, trail):
    client.force_login(world.auditor)
    response = client.get(LIST, {"date_from": "yesterday", "action": "reveal"})
    assert response.status_code == 200
    assert response.context["form"].errors["date_from"]
    assert "低保复核" in response.content.decode()


def test_an_unknown_action_is_reported_and_ignored(client, world, trail):
    client.force_login(world.auditor)
    response = client.get(LIST, {"action": "peek"})
    assert response.status_code == 200
    assert "action" in response.context["form"].errors
    assert response.context["page"].paginator.count >= 4


def test_the_pages_keep_the_filters(client, world, resident):
    for n in range(55):
        audit_event(actor=world.cadre, action="reveal", obj=resident, field="phone", reason=f"核查{n}")
    client.force_login(world.auditor)
    response = client.get(LIST, {"action": "reveal"})
    page = response.context["page"]
    assert (page.paginator.count, len(page.object_list)) == (55, 50)
    assert "?action=reveal&amp;page=2" in response.content.decode()
    second = client.get(LIST, {"action": "reveal", "page": 2})
    assert len(second.context["page"].object_list) == 5


def test_the_detail_shows_before_and_after_with_changes_highlighted(client, world, trail):
    client.force_login(world.auditor)
    response = client.get(reverse("audit:event_detail", args=[trail.update.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "&quot;前陈村&quot;" in body and "&quot;前陈新村&quot;" in body
    assert 'class="changed" data-testid="changed-name"' in body
    assert "alice" in body and "甲乙管理员" in body


def test_the_detail_masks_sensitive_values(client, world):
    audit_event(
        actor=world.admin, action="update", obj=world.cadre,
        before={"phone": "13812345678"}, after={"phone": "13900001111"},
    )
    client.force_login(world.auditor)
    event = AuditEvent.objects.get(action="update")
    body = client.get(reverse("audit:event_detail", args=[event.pk])).content.decode()
    assert "13812345678" not in body and "13900001111" not in body
    assert "138****5678" in body and 'data-testid="changed-phone"' in body


def test_the_detail_of_an_event_without_state_says_so(client, world, trail):
    client.force_login(world.auditor)
    response = client.get(reverse("audit:event_detail", args=[trail.reveal.pk]))
    assert response.status_code == 200
    assert response.context["changes"] == []
    assert "低保复核" in response.content.decode()


def test_the_detail_of_a_deleted_actors_event_still_names_them(client, world, resident):
    leaver = UserFactory(username="leaver", area=world.village)
    event = audit_event(actor=leaver, action="reveal", obj=resident, field="phone", reason="走访")
    leaver.delete()
    client.force_login(world.auditor)
    body = client.get(reverse("audit:event_detail", args=[event.pk])).content.decode()
    assert "leaver" in body


def test_a_missing_event_is_404(client, world):
    client.force_login(world.auditor)
    assert client.get(reverse("audit:event_detail", args=[999999])).status_code == 404


def test_the_csv_export_streams_the_filtered_list_and_is_audited(client, world, trail):
    client.force_login(world.auditor)
    response = client.get(EXPORT, {"object_type": "person"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    header, *rows = _csv(response)
    assert len(header) == 12
    assert len(rows) == 1
    assert "低保复核" in rows[0] and "bob" in rows[0] and "id_number" in rows[0] and "樟树村" in rows[0]
    export = AuditEvent.objects.get(action="export")
    assert (export.actor, export.area_code) == (world.auditor, world.county.code)
    assert export.after == {"export": "audit_events", "filters": {"object_type": "person"}, "rows": 1}


def test_the_csv_export_does_not_contain_itself(client, world, trail):
    client.force_login(world.auditor)
    AuditEvent.objects.filter(action="login").delete()  # the trail's and the auditor's own sign-in
    rows = _csv(client.get(EXPORT))[1:]
    assert len(rows) == 3
    assert AuditEvent.objects.get(action="export").after["rows"] == 3
    # The next export lists the previous one.
    assert any("audrey" in row for row in _csv(client.get(EXPORT, {"action": "export"}))[1:])


def test_the_csv_export_defuses_spreadsheet_formulas(client, world):
    audit_event(actor=world.cadre, action="update", obj=world.village, reason="=HYPERLINK(\"http://x\")")
    client.force_login(world.auditor)
    (row,) = _csv(client.get(EXPORT, {"action": "update"}))[1:]
    assert "'=HYPERLINK(\"http://x\")" in row


def test_the_list_page_runs_a_fixed_number_of_queries(client, world, resident, django_assert_max_num_queries):
    actors = [UserFactory(username=f"cadre{n}", area=world.village) for n in range(60)]
    for n, actor in enumerate(actors):
        audit_event(actor=actor, action="update", obj=resident, before={"n": n}, after={"n": n + 1})
    client.force_login(world.auditor)
    # Session read and save (3), user, count, one page of events with actors and area names (7 in
    # all); a query per row would add 50.
    with django_assert_max_num_queries(8):
        response = client.get(LIST)
    assert len(response.context["page"].object_list) == 50
    assert "cadre59" in response.content.decode()


def test_token_issuance_has_its_own_action_to_show_and_filter_by(client, world, trail, settings):
    issued = audit_event(actor=world.cadre, action="token_issued", obj=world.cadre, field="refresh_token",
                         after={"client": "housing-client", "grant": "refresh_token", "scope": "openid",
                                "system": "zhujian-housing"})
    client.force_login(world.auditor)
    response = client.get(LIST, {"action": "token_issued"})
    assert not response.context["form"].errors
    assert [e.pk for e in response.context["page"]] == [issued.pk]
    body = response.content.decode()
    assert '<option value="token_issued" selected>签发令牌</option>' in body
    assert '<span class="tag">签发令牌</span>' in body
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert '<span class="tag">Issued a token</span>' in client.get(LIST, {"action": "token_issued"}).content.decode()
    detail = client.get(reverse("audit:event_detail", args=[issued.pk])).content.decode()
    assert "Issued a token" in detail and "zhujian-housing" in detail
