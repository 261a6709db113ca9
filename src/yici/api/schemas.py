import datetime

from ninja import Schema

from yici.registry.masking import mask


class AreaOut(Schema):
    code: str
    name: str
    level: int


class MeOut(Schema):
    username: str
    name: str
    role: str
    area: AreaOut | None
    department: str | None


class PersonOut(Schema):
    id: int
    name: str
    gender: str
    birth_date: datetime.date | None
    id_number_masked: str
    phone_masked: str
    area_code: str
    household_no: str | None

    # Lists never carry full sensitive values; revealing one is an audited page action.
    @staticmethod
    def resolve_id_number_masked(obj) -> str:
        return mask("id_number", obj.id_number)

    @staticmethod
    def resolve_phone_masked(obj) -> str:
        return mask("phone", obj.phone)

    @staticmethod
    def resolve_household_no(obj) -> str | None:
        return obj.household.household_no if obj.household_id else None


class HouseholdOut(Schema):
    id: int
    household_no: str
    head_name: str
    address: str
    area_code: str


class HouseOut(Schema):
    id: int
    code: str
    address: str
    structure: str
    floors: int | None
    area_code: str


class PlaceOut(Schema):
    id: int
    code: str
    name: str
    place_type: str
    address: str
    area_code: str


class CandidateOut(Schema):
    value: str
    system: str
    observed_at: datetime.datetime | None


class ElementValueOut(Schema):
    """One golden value and where it came from; sensitive values are masked."""

    code: str
    label: str
    value: str
    sensitive: bool
    rule: str
    system: str
    observed_at: datetime.datetime | None
    candidates: list[CandidateOut]
