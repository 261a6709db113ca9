"""factory_boy factories for domain objects. Tests build what they need; no JSON fixtures."""

import datetime

import factory
from faker import Faker

from yici.accounts.models import Area, AreaLevel, Department, User
from yici.accounts.roles import Role
from yici.registry.models import House, Household, Person, Place

_fake = Faker("zh_CN")


class AreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Area
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"330726{101 + n:03d}000")
    name = factory.Sequence(lambda n: f"测试镇{n}")
    level = AreaLevel.TOWNSHIP


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("code",)

    code = "minzheng"
    name = "民政"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.LazyFunction(_fake.name)
    role = Role.VILLAGE_CADRE
    area = factory.SubFactory(AreaFactory)
    password = factory.PostGenerationMethodCall("set_password", "password-for-tests")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def id_number_for(region: str, birth: datetime.date, seq: int, male: bool) -> str:
    """A valid 18-digit 公民身份号码 (GB 11643 check digit) for tests."""
    from yici.registry.idnumbers import make_id_number

    return make_id_number(region=region, birth_date=birth, sequence=seq, male=male)


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    household_no = factory.Sequence(lambda n: f"H{n:08d}")
    head_name = factory.LazyFunction(_fake.name)
    area_code = "330726101201"


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    name = factory.LazyFunction(_fake.name)
    gender = "男"
    birth_date = datetime.date(1960, 5, 17)
    id_number = factory.Sequence(lambda n: id_number_for("330726", datetime.date(1960, 5, 17), n % 500, True))
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    area_code = "330726101201"


class HouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = House

    code = factory.Sequence(lambda n: f"330726101201{n:04d}")
    address = factory.LazyFunction(_fake.street_address)
    area_code = "330726101201"


class PlaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Place

    code = factory.Sequence(lambda n: f"P{n:06d}")
    name = factory.Sequence(lambda n: f"文化礼堂{n}")
    area_code = "330726101201"
