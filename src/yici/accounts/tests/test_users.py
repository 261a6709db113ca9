import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from yici.accounts.models import User
from yici.accounts.roles import Role
from yici.accounts.selectors import area_list, scope_by_area, user_list
from yici.accounts.services import user_create
from yici.registry.models import Person
from yici.testing.factories import PersonFactory
from yici.testing.fixtures import NEIGHBOUR_VILLAGE, OTHER_VILLAGE, VILLAGE


def test_user_create_checks_role_department_and_duplicates(world):
    with pytest.raises(ValidationError, match="unknown role"):
        user_create(username="x", password=None, role="king", area=world.village)
    with pytest.raises(ValidationError, match="department"):
        user_create(username="x", password=None, role=Role.DEPARTMENT_STAFF, area=world.county)
    with pytest.raises(ValidationError, match="already exists"):
        user_create(username="bob", password=None, role=Role.VILLAGE_CADRE, area=world.village)
    with pytest.raises(ValidationError):
        user_create(username="weak", password="123", role=Role.VILLAGE_CADRE, area=world.village)
    assert not User.objects.filter(username__in=["x", "weak"]).exists()


def test_passwords_are_hashed_with_argon2_in_production(settings, world):
    settings.PASSWORD_HASHERS = ["yici.accounts.hashers.YiciArgon2PasswordHasher"]
    user = user_create(username="newcadre", password="a-long-pass-2026", role=Role.VILLAGE_CADRE, area=world.village)
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert user.check_password("a-long-pass-2026")


def test_scoping_selects_the_subtree(world):
    for code in (VILLAGE, NEIGHBOUR_VILLAGE, OTHER_VILLAGE, VILLAGE + "03"):
        PersonFactory(area_code=code)
    seen = {u: set(scope_by_area(Person.objects.all(), user=getattr(world, u)).values_list("area_code", flat=True))
            for u in ("admin", "township_staff", "cadre", "outsider")}
    assert seen["admin"] == {VILLAGE, NEIGHBOUR_VILLAGE, OTHER_VILLAGE, VILLAGE + "03"}
    assert seen["township_staff"] == {VILLAGE, NEIGHBOUR_VILLAGE, VILLAGE + "03"}
    assert seen["cadre"] == {VILLAGE, VILLAGE + "03"}
    assert seen["outsider"] == {OTHER_VILLAGE}


def test_a_user_without_area_sees_nothing(world):
    PersonFactory(area_code=VILLAGE)
    lost = User.objects.create(username="lost", role=Role.COUNTY_ADMIN, area=None)
    assert not scope_by_area(Person.objects.all(), user=lost).exists()
    assert not area_list(user=lost).exists()


def test_only_admins_list_users(world):
    assert set(user_list(fetched_by=world.admin)) == set(User.objects.all())
    assert not user_list(fetched_by=world.township_staff).exists()


def test_createuser_command(world):
    out = io.StringIO()
    call_command("createuser", "newbie", role="village_cadre", area=VILLAGE, name="新人",
                 password_stdin=True, stdin=io.StringIO("correct-horse-battery\n"), stdout=out)
    assert "created newbie" in out.getvalue()
    assert User.objects.get(username="newbie").check_password("correct-horse-battery")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"role": "village_cadre", "area": "999999999999", "no_password": True}, "no area"),
        ({"role": "department_staff", "area": "330726000000", "department": "nope", "no_password": True}, "no department"),
        ({"role": "department_staff", "area": "330726000000", "no_password": True}, "department"),
    ],
)
def test_createuser_command_errors(world, kwargs, message):
    with pytest.raises(CommandError, match=message):
        call_command("createuser", "someone", **kwargs)
    assert not User.objects.filter(username="someone").exists()
