import pytest
from django.urls import reverse


def test_it_redirects_anonymous_users_to_login(client, loaded_catalog):
    for url in (reverse("catalog:element_list"), reverse("catalog:element_detail", args=["person.gender"])):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize("who", ["admin", "department_staff", "township_staff", "cadre", "burden_office", "auditor", "outsider"])
def test_every_role_may_browse_the_catalog(client, world, loaded_catalog, who):
    client.force_login(getattr(world, who))
    response = client.get(reverse("catalog:element_list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "person.id_number" in body and "公民身份号码" in body
    assert client.get(reverse("catalog:element_detail", args=["person.gender"])).status_code == 200


def test_the_list_shows_code_name_type_entity_and_sensitivity(client, world, loaded_catalog):
    client.force_login(world.cadre)
    body = client.get(reverse("catalog:element_list")).content.decode()
    assert 'data-label=' in body
    assert 'href="/catalog/person.id_number/"' in body
    assert "sensitivity-sensitive" in body and "sensitivity-public" in body


def test_search_matches_code_name_and_synonyms(client, world, loaded_catalog):
    client.force_login(world.cadre)
    url = reverse("catalog:element_list")
    by_synonym = client.get(url, {"q": "身份证号"}).content.decode()
    assert "person.id_number" in by_synonym and "person.gender" not in by_synonym
    by_name = client.get(url, {"q": "性别"}).content.decode()
    assert "person.gender" in by_name and "person.id_number" not in by_name
    by_code = client.get(url, {"q": "HOUSE.FLOOR"}).content.decode()
    assert "house.floors" in by_code and "house.floor_area" in by_code and "person.name" not in by_code


def test_the_entity_filter_narrows_the_list(client, world, loaded_catalog):
    client.force_login(world.cadre)
    body = client.get(reverse("catalog:element_list"), {"entity": "place"}).content.decode()
    assert "place.manager_phone" in body and "person.name" not in body
    both = client.get(reverse("catalog:element_list"), {"entity": "house", "q": "电话"}).content.decode()
    assert "house.owner_phone" in both and "place.manager_phone" not in both and "person.phone" not in both


def test_an_unknown_entity_filter_is_ignored(client, world, loaded_catalog):
    client.force_login(world.cadre)
    body = client.get(reverse("catalog:element_list"), {"entity": "<script>"}).content.decode()
    assert "person.name" in body and "<script>" not in body


def test_the_list_page_runs_a_fixed_number_of_queries(client, world, loaded_catalog, django_assert_max_num_queries):
    client.force_login(world.cadre)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("catalog:element_list")).status_code == 200


def test_the_detail_page_shows_code_list_synonyms_and_source(client, world, loaded_catalog):
    client.force_login(world.cadre)
    response = client.get(reverse("catalog:element_detail", args=["person.gender"]))
    body = response.content.decode()
    assert "GB/T 2261.1-2003" in body
    assert "未说明的性别" in body and "男性、M" in body
    assert "gongan" in body
    detail = client.get(reverse("catalog:element_detail", args=["person.id_number"])).content.decode()
    assert "身份证件号码" in detail and "18位公民身份号码" in detail


def test_the_detail_page_of_a_derived_element_says_how_it_is_computed(client, world, loaded_catalog):
    client.force_login(world.cadre)
    body = client.get(reverse("catalog:element_detail", args=["person.age"])).content.decode()
    assert "由出生日期按基准日计算的周岁" in body


def test_an_unknown_element_is_404(client, world, loaded_catalog):
    client.force_login(world.cadre)
    assert client.get(reverse("catalog:element_detail", args=["person.nothing"])).status_code == 404
