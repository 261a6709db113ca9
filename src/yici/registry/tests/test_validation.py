import datetime

import pytest
from stdnum.cn import uscc as stdnum_uscc

from yici.registry.idnumbers import make_id_number
from yici.registry.normalize import Normalized, element_spec_from_dict, normalize
from yici.registry.validation import (
    ERROR,
    WARNING,
    check_id_number,
    check_person_consistency,
    check_phone,
    check_uscc,
    quick_mobile,
    today,
)

ID_SPEC = element_spec_from_dict({"code": "person.id_number", "type": "id_number"})
PHONE_SPEC = element_spec_from_dict({"code": "person.phone", "type": "phone"})
USCC_SPEC = element_spec_from_dict({"code": "place.uscc", "type": "uscc"})


def _codes(result: Normalized) -> list[tuple[str, str]]:
    return [(issue.level, issue.code) for issue in result.issues]


# ------------------------------------------------------------------------------------ ID numbers
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("330726194407248902", "330726194407248902"),
        ("33072619821119914X", "33072619821119914X"),
        ("33072619821119914x", "33072619821119914X"),  # lower-case x
        (" 330726194407248902 ", "330726194407248902"),
        ("330726 19621021 8063", "330726196210218063"),  # spaces inside
        ("330726\u300019621021\u30008063", "330726196210218063"),  # full-width spaces
        ("３３０７２６１９５５０２２０６８３６", "330726195502206836"),  # full-width digits
        ("'330726194407248902", "330726194407248902"),  # Excel's text prefix
        (330726194407248902, "330726194407248902"),  # an exact int is fine
    ],
)
def test_it_accepts_valid_id_numbers_in_their_messy_forms(raw, expected):
    result = normalize(ID_SPEC, raw)
    assert result == Normalized(expected, (), raw if isinstance(raw, str) else str(raw))


@pytest.mark.parametrize("raw", ["330726500627290", 330726500627290, 330726500627290.0, "330726500627290.0"])
def test_it_converts_15_digit_ids_to_18_with_a_warning(raw):
    result = normalize(ID_SPEC, raw)
    assert result.value == "330726195006272906"
    assert _codes(result) == [(WARNING, "id_number_15_digits")]
    assert result.ok


@pytest.mark.parametrize(
    "raw",
    [
        3.30726194407249e17,  # what openpyxl reads from a mangled cell
        3.30726200009269e17,
        "3.30726194407249e+17",
        "3.30726194407249E+17",
        "330726194407248000.0",
        "330726194407248896",  # not mangled-looking text: caught by the checksum below instead
    ],
)
def test_it_rejects_ids_mangled_by_excel_and_keeps_the_original(raw):
    result = normalize(ID_SPEC, raw)
    assert result.value == ""
    assert not result.ok
    assert result.original == (raw if isinstance(raw, str) else repr(raw))
    if raw != "330726194407248896":
        assert _codes(result) == [(ERROR, "id_number_mangled")]


def test_it_rejects_a_wrong_check_digit():
    result = normalize(ID_SPEC, "330726194407248903")
    assert result.value == "" and result.original == "330726194407248903"
    assert _codes(result) == [(ERROR, "id_number_checksum")]


def test_it_rejects_transposed_digits():
    # 330726194407248902 with two digits swapped
    assert _codes(normalize(ID_SPEC, "330726194407284902")) == [(ERROR, "id_number_checksum")]


@pytest.mark.parametrize("birth", ["19440230", "19441301", "18500101"])
def test_it_rejects_an_impossible_birth_date(birth):
    first17 = f"330726{birth}890"
    from yici.registry.idnumbers import check_digit

    result = normalize(ID_SPEC, first17 + check_digit(first17))
    assert _codes(result) == [(ERROR, "id_number_birth_date")]
    assert result.value == ""


def test_it_rejects_a_birth_date_in_the_future():
    future = today() + datetime.timedelta(days=30)
    value = make_id_number(region="330726", birth_date=future, sequence=1, male=True)
    result = normalize(ID_SPEC, value)
    assert _codes(result) == [(ERROR, "id_number_future")]
    assert result.value == ""


def test_an_unknown_region_is_only_a_warning():
    value = make_id_number(region="999999", birth_date=datetime.date(1980, 1, 1), sequence=1, male=True)
    result = normalize(ID_SPEC, value)
    assert result.value == value
    assert _codes(result) == [(WARNING, "id_number_region_unknown")]


def test_ids_with_a_county_code_newer_than_the_birth_year_are_valid():
    # stdnum.cn.ric.validate rejects this real combination (浦江县 330726 exists since 1985).
    result = normalize(ID_SPEC, "330726194407248902")
    assert result.value == "330726194407248902" and result.issues == ()


@pytest.mark.parametrize("raw", ["12345", "33072619440724890", "3307261944072489021", "33072619440724890A", True, 1.5])
def test_it_rejects_ids_of_the_wrong_shape(raw):
    result = normalize(ID_SPEC, raw)
    assert result.value == ""
    assert not result.ok


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", "无", "-"])
def test_missing_ids_are_empty_without_issues(raw):
    result = normalize(ID_SPEC, raw)
    assert result.value == "" and result.issues == ()


def test_check_id_number_reports_all_errors():
    value, issues = check_id_number("330726209907248902")
    assert value == ""
    assert {i.code for i in issues} >= {"id_number_future"}


def test_issue_messages_are_row_independent_text():
    result = normalize(ID_SPEC, "330726194407248903")
    (issue,) = result.issues
    assert issue.message and "row" not in issue.message.lower()


# ----------------------------------------------------------------------------------------- phones
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13895299354", "13895299354"),
        ("+86 13895299354", "13895299354"),
        ("+8613895299354", "13895299354"),
        ("8613297762067", "13297762067"),
        ("0086 138 0013 8000", "13800138000"),
        ("182-6287-6006", "18262876006"),
        ("139 0857 3772", "13908573772"),
        ("(+86) 139-0857-3772", "13908573772"),
        ("１８９５４３８９１４４", "18954389144"),  # full-width digits
        ("＋８６　１８９５４３８９１４４", "18954389144"),
        (13800138000, "13800138000"),  # a number cell
        (13800138000.0, "13800138000"),
        ("0579-84123456", "0579-84123456"),  # landline
        ("057984123456", "0579-84123456"),
        ("(0579)84123456", "0579-84123456"),
        ("0579 8412 3456", "0579-84123456"),
        ("010-12345678", "010-12345678"),
        ("+86 579 8412 3456", "0579-84123456"),
    ],
)
def test_it_normalises_phone_numbers(raw, expected):
    result = normalize(PHONE_SPEC, raw)
    assert result.value == expected
    assert result.issues == ()


@pytest.mark.parametrize(
    "raw, code",
    [
        ("12345678901", "phone_invalid"),
        ("1389529935", "phone_invalid"),  # a digit short
        ("138952993541", "phone_invalid"),
        ("84123456", "phone_no_area_code"),
        ("电话", "phone_invalid"),
        (1.5, "phone_invalid"),
    ],
)
def test_it_rejects_invalid_phone_numbers(raw, code):
    result = normalize(PHONE_SPEC, raw)
    assert result.value == ""
    assert _codes(result) == [(ERROR, code)]
    assert result.original == str(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("18964809025/19816728809", "18964809025"),
        ("１３９５４２７８７９４/13161037013", "13954278794"),
        ("12345/13161037013", "13161037013"),  # the first valid one
        ("13161037013, 0579-84123456", "13161037013"),
        ("13161037013；13954278794", "13161037013"),
        ("13161037013、13954278794", "13161037013"),
    ],
)
def test_it_keeps_the_first_valid_of_several_numbers_and_warns(raw, expected):
    result = normalize(PHONE_SPEC, raw)
    assert result.value == expected
    assert ("warning", "phone_several") in _codes(result)
    assert result.original == raw


def test_two_mobiles_separated_by_a_space_are_two_numbers():
    result = normalize(PHONE_SPEC, "13800138000 13900139000")
    assert result.value == "13800138000"
    assert _codes(result) == [(WARNING, "phone_several")]


def test_a_foreign_number_is_kept_in_international_form_with_a_warning():
    result = normalize(PHONE_SPEC, "+1 415 555 2671")
    assert result.value == "+14155552671"
    assert _codes(result) == [(WARNING, "phone_foreign")]


def test_text_around_a_number_is_dropped_with_a_warning():
    result = normalize(PHONE_SPEC, "手机:13800138000")
    assert result.value == "13800138000"
    assert _codes(result) == [(WARNING, "phone_extra_text")]


def test_quick_mobile_and_check_phone_agree():
    for text in ("+86 13895299354", "138-9529-9354", "8613895299354", "13895299354"):
        assert quick_mobile(text) == check_phone(text)[0] == "13895299354"
    assert quick_mobile("0579-84123456") == ""


# ------------------------------------------------------------------------------------------- USCC
def _valid_uscc(body17: str) -> str:
    return body17 + stdnum_uscc.calc_check_digit(body17)


@pytest.mark.parametrize(
    "body17",
    [
        "91330726MA2EXAMP1",  # a company (市场监管)
        "93330726MA2ABCDE1",  # a farmers' cooperative
        "N2330726MA0000001",  # a village collective economic organisation: stdnum.validate refuses it
        "12330726000000001",  # a public institution
    ],
)
def test_it_accepts_valid_unified_social_credit_codes(body17):
    code = _valid_uscc(body17)
    assert normalize(USCC_SPEC, code) == Normalized(code, (), code)
    assert normalize(USCC_SPEC, code.lower()).value == code
    spaced = f"{code[:2]} {code[2:8]}-{code[8:]}"
    assert normalize(USCC_SPEC, spaced).value == code


def test_the_stdnum_documentation_example_is_valid():
    assert check_uscc("91110000600037341L") == ("91110000600037341L", ())


@pytest.mark.parametrize(
    "raw, code",
    [
        ("91110000600037341M", "uscc_checksum"),
        ("91110000600037341", "uscc_invalid"),
        ("9111000060003734IL", "uscc_invalid"),  # I is not in the alphabet
        ("911100A0600037341L", "uscc_invalid"),  # region code with a letter
    ],
)
def test_it_rejects_invalid_unified_social_credit_codes(raw, code):
    result = normalize(USCC_SPEC, raw)
    assert result.value == "" and result.original == raw
    assert _codes(result) == [(ERROR, code)]


# ------------------------------------------------------------------------------------ consistency
def test_consistent_person_has_no_warnings():
    values = {"person.id_number": "330726194407248902", "person.birth_date": "1944-07-24", "person.gender": "女"}
    assert check_person_consistency(values) == []


def test_a_birth_date_differing_from_the_id_is_a_warning():
    values = {"person.id_number": "330726194407248902", "person.birth_date": "1950-01-01"}
    ((code, issue),) = check_person_consistency(values)
    assert code == "person.id_number"
    assert (issue.level, issue.code) == (WARNING, "id_birth_date_mismatch")


def test_a_gender_differing_from_the_id_is_a_warning():
    values = {"person.id_number": "330726194407248902", "person.gender": "男"}
    ((code, issue),) = check_person_consistency(values)
    assert (issue.level, issue.code) == (WARNING, "id_gender_mismatch")


def test_a_month_only_birth_date_is_compared_by_month():
    values = {"person.id_number": "330726194407248902", "person.birth_date": "1944-07"}
    assert check_person_consistency(values) == []


@pytest.mark.parametrize("values", [{}, {"person.id_number": ""}, {"person.birth_date": "1944-07-24"}])
def test_consistency_needs_an_id(values):
    assert check_person_consistency(values) == []
