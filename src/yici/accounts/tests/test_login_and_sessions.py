from django.urls import reverse

from yici.accounts.models import UserSession
from yici.audit.models import AuditEvent
from yici.burden.models import BurdenCount


def login(client, username, password="password-for-tests"):
    return client.post(reverse("accounts:login"), {"username": username, "password": password})


def test_login_tracks_the_session_audits_and_counts(client, world):
    response = login(client, "bob")
    assert response.status_code == 302
    assert UserSession.objects.filter(user=world.cadre).count() == 1
    assert AuditEvent.objects.filter(action="login", actor=world.cadre).exists()
    assert BurdenCount.objects.get(metric="login", user=world.cadre).count == 1


def test_wrong_password_is_refused(client, world):
    response = login(client, "bob", "wrong")
    assert response.status_code == 200
    assert not UserSession.objects.exists()


def test_login_is_throttled_after_repeated_failures(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        login(client, "bob", "wrong")
    response = login(client, "bob")  # even the right password is refused while locked
    assert response.status_code == 429
    assert not UserSession.objects.exists()


def test_sessions_page_lists_only_my_sessions_and_can_end_another(client, world):
    from django.test import Client

    other_browser = Client(HTTP_USER_AGENT="OtherPhone/1.0")
    login(other_browser, "bob")
    login(client, "bob")
    login(Client(), "tom")  # someone else's session
    page = client.get(reverse("accounts:sessions"))
    assert page.status_code == 200
    mine = list(page.context["sessions"])
    assert len(mine) == 2 and all(s.user == world.cadre for s in mine)
    other = UserSession.objects.get(user=world.cadre, user_agent="OtherPhone/1.0")
    client.post(reverse("accounts:session_end", args=[other.pk]))
    # The other browser is now signed out.
    assert other_browser.get(reverse("web:home")).status_code == 302
    assert client.get(reverse("web:home")).status_code == 200


def test_cannot_end_someone_elses_session(client, world):
    from django.test import Client

    login(Client(), "tom")
    tom_session = UserSession.objects.get(user=world.township_staff)
    login(client, "bob")
    client.post(reverse("accounts:session_end", args=[tom_session.pk]))
    assert UserSession.objects.filter(pk=tom_session.pk).exists()


def test_password_change(client, world):
    login(client, "bob")
    response = client.post(reverse("accounts:password_change"), {
        "old_password": "password-for-tests", "new_password1": "brand-new-secret-2026",
        "new_password2": "brand-new-secret-2026",
    })
    assert response.status_code == 302
    world.cadre.refresh_from_db()
    assert world.cadre.check_password("brand-new-secret-2026")
    assert AuditEvent.objects.filter(action="password_change", object_id=str(world.cadre.pk)).exists()
    assert client.get(reverse("web:home")).status_code == 200  # still signed in


def test_sessions_expire(settings):
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_logout_removes_the_session_row(client, world):
    login(client, "bob")
    client.post(reverse("accounts:logout"))
    assert not UserSession.objects.exists()
