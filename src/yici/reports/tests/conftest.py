import datetime

import pytest

from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.testing.factories import HouseFactory, HouseholdFactory, PersonFactory, id_number_for
from yici.testing.fixtures import NEIGHBOUR_VILLAGE, OTHER_VILLAGE, VILLAGE

AS_OF = datetime.date(2025, 6, 30)


@pytest.fixture
def catalog(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())


def person(name: str, birth: datetime.date, *, seq: int, area: str = VILLAGE, gender: str = "男", phone: str = "",
           household=None, relation_to_head: str = "", **attributes):
    """A golden person; ``attributes`` by element tail: ``village="樟树村"`` → ``person.village``."""
    return PersonFactory(
        name=name, birth_date=birth, gender=gender, phone=phone, area_code=area, household=household,
        relation_to_head=relation_to_head,
        id_number=id_number_for("330726", birth, seq, gender == "男"),
        attributes={f"person.{k}": v for k, v in attributes.items()},
    )


@pytest.fixture
def people(world, catalog):
    """Four villagers of 樟树村 (one turns 80 the day after the as-of date), a neighbour and an outsider."""
    household = HouseholdFactory(household_no="1112010001", head_name="张大山", area_code=VILLAGE)
    return {
        "head": person("张大山", datetime.date(1944, 7, 1), seq=11, phone="13812345678", village="樟树村",
                       disability_category="肢体残疾", low_income="是", relation_to_head="户主",
                       enlist_date="1962-03-15", household=household),
        "wife": person("李秀英", datetime.date(1945, 6, 30), seq=12, gender="女", village="樟树村", low_income="是",
                       relation_to_head="配偶", household=household),
        "son": person("张小明", datetime.date(1975, 1, 2), seq=13, phone="+86 139 0000 1111", village="樟树村",
                      low_income="否"),
        "young": person("王芳", datetime.date(2001, 12, 31), seq=14, gender="女", village="樟树村"),
        "neighbour": person("赵四", datetime.date(1940, 1, 1), seq=15, area=NEIGHBOUR_VILLAGE, village="石门村"),
        "outsider": person("钱五", datetime.date(1939, 1, 1), seq=16, area=OTHER_VILLAGE, village="前陈村"),
    }


@pytest.fixture
def houses(world, catalog):
    owner = person("孙房主", datetime.date(1960, 5, 17), seq=21, phone="13700000000")
    return [
        HouseFactory(code="3307261012010001", address="樟树村1组1号", structure="砖混", floors=3, owner=owner,
                     attributes={"house.safety_level": "C级", "house.floor_area": "120.5"}),
        HouseFactory(code="3307261012010002", address="樟树村1组2号", structure="钢混", floors=2,
                     attributes={"house.safety_level": "A级", "house.owner_name": "周业主",
                                 "house.owner_id_number": "33072619600517001X"}),
    ]
