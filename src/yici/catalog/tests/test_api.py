import pytest


@pytest.fixture
def api(client, world, loaded_catalog):
    client.force_login(world.cadre)
    return client


def test_it_refuses_anonymous_callers(client, loaded_catalog):
    assert client.get("/api/catalog/elements").status_code == 401
    assert client.get("/api/catalog/elements/person.gender").status_code == 401


def test_it_lists_elements_in_catalog_order(api, catalog_doc):
    data = api.get("/api/catalog/elements", {"limit": 1000}).json()
    assert data["count"] == len(catalog_doc["elements"])
    assert [e["code"] for e in data["items"]] == [e["code"] for e in catalog_doc["elements"]]
    id_number = next(e for e in data["items"] if e["code"] == "person.id_number")
    assert id_number["sensitivity"] == "sensitive"
    assert id_number["authoritative_system"] == "gongan"
    assert "身份证号" in id_number["synonyms"]


def test_it_searches_and_filters_by_entity(api):
    found = api.get("/api/catalog/elements", {"q": "身份证号"}).json()
    assert {e["code"] for e in found["items"]} >= {"person.id_number", "household.head_id_number"}
    assert "person.name" not in {e["code"] for e in found["items"]}
    places = api.get("/api/catalog/elements", {"entity": "place"}).json()
    assert places["count"] == 6 and all(e["entity"] == "place" for e in places["items"])


def test_it_returns_one_element_with_its_code_list(api):
    response = api.get("/api/catalog/elements/person.gender")
    assert response.status_code == 200
    data = response.json()
    assert data["name_zh"] == "性别"
    assert data["code_list_standard"].startswith("GB/T 2261.1")
    assert data["code_list"][0] == {"code": "1", "label": "男", "aliases": ["男性", "M"]}
    assert len(data["code_list"]) == 4


def test_an_element_without_a_code_list_has_an_empty_one(api):
    data = api.get("/api/catalog/elements/person.name").json()
    assert data["code_list"] == [] and data["code_list_standard"] == ""


def test_an_unknown_element_is_404(api):
    assert api.get("/api/catalog/elements/person.nothing").status_code == 404


def test_the_list_runs_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        assert api.get("/api/catalog/elements", {"limit": 1000}).status_code == 200
