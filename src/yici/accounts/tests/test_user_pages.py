"""The user list and the links to a user's accounts in the line systems (from the list, the portal and a system's page)."""

import re

from django.conf import settings
from django.urls import reverse

from yici.accounts.models import ExternalAccount
from yici.exchange.models import LineSystem
from yici.testing.factories import UserFactory

USERS = reverse("accounts:user_list")


def _english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def test_the_user_list_links_each_user_to_their_accounts_page(client, world):
    client.force_login(world.admin)
    _english(client)
    page = client.get(USERS)
    assert page.status_code == 200
    body = page.content.decode()
    link = reverse("accounts:user_accounts", args=[world.cadre.username])
    assert f'href="{link}" data-testid="user-accounts-{world.cadre.username}"' in body
    # The link works: it opens the cadre's accounts page, which leads back to the list.
    accounts = client.get(link)
    assert accounts.status_code == 200 and accounts.context["subject"] == world.cadre
    assert f'href="{USERS}" data-testid="back-to-users"' in accounts.content.decode()


def test_the_user_list_shows_only_the_admins_subtree_and_finds_by_name(client, world):
    township_admin = UserFactory(username="tadmin", role="county_admin", area=world.township)
    client.force_login(township_admin)
    listed = {u.username for u in client.get(USERS).context["page"]}
    assert world.cadre.username in listed and world.outsider.username not in listed
    found = client.get(USERS, {"q": world.cadre.display_name[:2]}).context["page"]
    assert world.cadre.username in {u.username for u in found}
    assert not list(client.get(USERS, {"q": "nobody-by-this-name"}).context["page"])


def test_only_county_admins_see_the_user_list_and_its_link(client, world):
    for user in (world.cadre, world.auditor, world.department_staff):
        client.force_login(user)
        assert client.get(USERS).status_code == 403
        assert b'data-testid="user-list-link"' not in client.get(reverse("accounts:portal")).content
    client.force_login(world.admin)
    portal = client.get(reverse("accounts:portal")).content.decode()
    assert f'href="{USERS}" data-testid="user-list-link"' in portal


def test_a_systems_registration_page_links_its_accounts_to_their_users(client, world):
    system = LineSystem.objects.create(code="zhujian-housing", name="住建")
    ExternalAccount.objects.create(user=world.cadre, system=system, external_id="u-17")
    ExternalAccount.objects.create(user=world.outsider, system=system, external_id="u-18")
    township_admin = UserFactory(username="tadmin", role="county_admin", area=world.township)
    client.force_login(township_admin)
    body = client.get(reverse("accounts:line_system_client", args=[system.code])).content.decode()
    links = re.findall(r'href="([^"]+)" data-testid="account-user-([^"]+)"', body)
    assert links == [(reverse("accounts:user_accounts", args=[world.cadre.username]), world.cadre.username)]
    assert client.get(links[0][0]).status_code == 200  # the outsider's account is outside this admin's township


def test_the_user_list_speaks_chinese_by_default(client, world):
    client.force_login(world.admin)
    body = client.get(USERS).content.decode()
    assert "用户" in body and "Accounts in line systems" not in body
