import pytest
from django.urls import reverse

HOME_TEXT = {
    "admin": "浦江县",
    "department_staff": "浦江县",
    "township_staff": "岩头镇",
    "cadre": "樟树村",
    "burden_office": "浦江县",
    "auditor": "浦江县",
    "outsider": "前陈村",
}


@pytest.mark.parametrize("who", list(HOME_TEXT))
def test_each_role_gets_a_home_page_with_its_area(client, world, who):
    client.force_login(getattr(world, who))
    response = client.get(reverse("web:home"))
    assert response.status_code == 200
    assert response.context["area"].name == HOME_TEXT[who]


def test_home_counts_only_the_users_area(client, world, resident):
    client.force_login(world.cadre)
    assert client.get(reverse("web:home")).context["stats"]["persons"] == 1
    client.force_login(world.outsider)
    assert client.get(reverse("web:home")).context["stats"]["persons"] == 0


def test_navigation_depends_on_the_role(client, world):
    client.force_login(world.cadre)
    labels = [str(i["url"]) for i in client.get(reverse("web:home")).context["nav_items"]]
    assert reverse("registry:person_list") in labels and reverse("audit:event_list") not in labels
    client.force_login(world.auditor)
    labels = [str(i["url"]) for i in client.get(reverse("web:home")).context["nav_items"]]
    assert reverse("audit:event_list") in labels and reverse("registry:person_list") not in labels
    assert reverse("accounts:user_list") not in labels
    client.force_login(world.admin)
    labels = [str(i["url"]) for i in client.get(reverse("web:home")).context["nav_items"]]
    assert reverse("accounts:user_list") in labels


def test_anonymous_home_redirects_to_login(client):
    response = client.get(reverse("web:home"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_404_page_is_friendly_in_both_languages(client, world, settings):
    settings.DEBUG = False
    client.force_login(world.cadre)
    zh = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert zh.status_code == 404 and "页面不存在" in zh.content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    en = client.get("/no-such-page/")
    assert en.status_code == 404 and "This page does not exist" in en.content.decode()


def test_language_switch_changes_the_page_language(client, world):
    client.force_login(world.cadre)
    assert "退出登录" in client.get(reverse("web:home")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "Sign out" in client.get(reverse("web:home")).content.decode()
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "退出登录" in client.get(reverse("web:home")).content.decode()


def test_pages_send_a_content_security_policy(client, world):
    client.force_login(world.cadre)
    csp = client.get(reverse("web:home"))["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self' 'nonce-" in csp


def test_500_page_renders_without_a_request_context(rf):
    from yici.web.views import error_500

    response = error_500(rf.get("/"))
    assert response.status_code == 500 and b"<h1>" in response.content
