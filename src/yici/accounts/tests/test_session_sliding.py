"""Sessions slide: a page view saves the session at most once a minute, which moves its expiry on."""

from datetime import timedelta

from django.contrib.sessions.models import Session
from django.urls import reverse

from yici.accounts.services import SESSION_SEEN_KEY


def login(client, username):
    assert client.post(reverse("accounts:login"), {"username": username, "password": "password-for-tests"}).status_code == 302


def test_a_page_view_does_not_write_the_session_each_time_but_keeps_it_alive(client, world):
    login(client, "bob")
    key = client.session.session_key
    client.get(reverse("web:home"))  # the first page after sign-in settles what the session needs to know
    first = Session.objects.get(session_key=key).expire_date
    client.get(reverse("web:home"))
    assert Session.objects.get(session_key=key).expire_date == first  # within the minute: no write
    session = client.session
    session[SESSION_SEEN_KEY] = session[SESSION_SEEN_KEY] - 120  # last seen two minutes ago
    session.save()
    earlier = first - timedelta(hours=1)  # as if the last write was an hour ago
    Session.objects.filter(session_key=key).update(expire_date=earlier)
    client.get(reverse("web:home"))
    assert Session.objects.get(session_key=key).expire_date > earlier + timedelta(minutes=59)
