"""The Splink model for persons: comparisons, blocking rules, parameter smoothing.

Comparisons are written as explicit SQL levels so that the saved model (``linkage_model.json``)
reads as a specification: every level's condition and its trained m/u probabilities are there.
Column names refer to the feature table of :mod:`.features`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

from splink import SettingsCreator, block_on
from splink.comparison_library import CustomComparison

# Two names that may be the same person's: equal, homophones (张伟/章伟), or one character apart
# (a wrong character or two characters swapped) in names of three or more characters. In a
# two-character name one character is the whole given name: 施健/施辉 are brothers more often
# than a typo.
NAMES_SIMILAR = (
    "(name_l = name_r or name_py_l = name_py_r"
    " or (length(name_l) = length(name_r) and length(name_l) >= 3 and damerau_levenshtein(name_l, name_r) <= 1))"
)


def _level(condition: str, label: str, *, null: bool = False, fixed: tuple[float, float] | None = None) -> dict:
    level: dict = {"sql_condition": condition, "label_for_charts": label}
    if null:
        level["is_null_level"] = True
    if fixed is not None:
        level.update(m_probability=fixed[0], u_probability=fixed[1], fix_m_probability=True, fix_u_probability=True)
    return level


ELSE = _level("ELSE", "else")

# Levels whose evidence training data cannot show, set by hand (m, u):
# - the same ID under clearly different names is a household member's ID on the wrong row (or a
#   badly corrupted name): the ID says nothing either way and the name comparison decides;
# - two IDs one transposition or one digit apart: two valid IDs always differ in at least two
#   characters (the check character catches one), so this only happens with a rejected,
#   mistyped ID; strong evidence (about 2^13), but not as strong as equality.
ID_EQUAL_NAMES_DIFFER = (1e-4, 1e-4)
ID_ONE_EDIT = (0.01, 1e-6)


def comparisons() -> list[CustomComparison]:
    name = CustomComparison(
        output_column_name="name",
        comparison_levels=[
            _level("name_l is null or name_r is null", "null", null=True),
            # name_n: how many people (distinct IDs or birth dates) bear the name in the data.
            _level("name_l = name_r and name_n_l <= 1", "exact, name of one person"),
            _level("name_l = name_r and name_n_l = 2", "exact, name of two people"),
            _level("name_l = name_r", "exact, name of three or more people"),
            _level("name_py_l = name_py_r", "homophone (same pinyin)"),
            _level(
                "length(name_l) = length(name_r) and length(name_l) >= 3 and damerau_levenshtein(name_l, name_r) <= 1",
                "one character different or two swapped",
            ),
            _level(
                "length(name_l) = length(name_r) and damerau_levenshtein(name_l, name_r) <= 1",
                "two-character names, one character different",
            ),
            _level("name_init_l = name_init_r", "same pinyin initials"),
            ELSE,
        ],
    )
    id_number = CustomComparison(
        output_column_name="id_number",
        comparison_levels=[
            _level("id_number_l is null or id_number_r is null", "null", null=True),
            _level(f"id_number_l = id_number_r and {NAMES_SIMILAR}", "equal, names similar"),
            _level("id_number_l = id_number_r", "equal, names differ", fixed=ID_EQUAL_NAMES_DIFFER),
            _level(
                "damerau_levenshtein(id_number_l, id_number_r) <= 1",
                "one transposition or one digit",
                fixed=ID_ONE_EDIT,
            ),
            ELSE,
        ],
    )
    birth_date = CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            _level("birth_date_l is null or birth_date_r is null", "null", null=True),
            _level("birth_date_l = birth_date_r", "exact"),
            _level(
                "(length(birth_date_l) < 10 or length(birth_date_r) < 10)"
                " and substr(birth_date_l, 1, 7) = substr(birth_date_r, 1, 7)",
                "same month (one side has no day)",
            ),
            _level(
                "damerau_levenshtein(birth_date_l, birth_date_r) <= 1"
                " or (substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)"
                " and substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2)"
                " and substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2))",
                "one digit, two digits swapped, or month and day swapped",
            ),
            _level("substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)", "same year"),
            ELSE,
        ],
    )
    # Where a side has an age instead of a birth date (活动签到: age on the day of the activity).
    age = CustomComparison(
        output_column_name="age",
        comparison_levels=[
            _level(
                "(age_year_l is null and age_year_r is null)"
                " or coalesce(birth_year_l, age_year_l) is null or coalesce(birth_year_r, age_year_r) is null",
                "null",
                null=True,
            ),
            # age_year = year observed - age: a year or two after the birth year, as the age was
            # taken on some day before the record reached us.
            _level(
                "(age_year_l is not null and age_year_r is not null and abs(age_year_l - age_year_r) <= 2)"
                " or (age_year_l - birth_year_r between 0 and 3) or (age_year_r - birth_year_l between 0 and 3)",
                "age fits the birth year",
            ),
            _level(
                "abs(coalesce(birth_year_l, age_year_l) - coalesce(birth_year_r, age_year_r)) <= 5",
                "birth years within 5",
            ),
            ELSE,
        ],
    )
    gender = CustomComparison(
        output_column_name="gender",
        comparison_levels=[
            _level("gender_l is null or gender_r is null", "null", null=True),
            _level("gender_l = gender_r", "equal"),
            ELSE,
        ],
    )
    phone = CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            _level("phone_l is null or phone_r is null", "null", null=True),
            _level("phone_l = phone_r", "equal"),
            ELSE,
        ],
    )
    # One comparison for address and village, with the "one side has only a village" case as levels
    # of its own: its evidence differs from two full addresses agreeing on the village only.
    location = CustomComparison(
        output_column_name="location",
        comparison_levels=[
            _level(
                "(addr_l is null or addr_r is null) and (village_l is null or village_r is null)",
                "null",
                null=True,
            ),
            _level("addr_l = addr_r", "same address"),
            _level(
                "village_l = village_r and addr_group_l = addr_group_r",
                "same village group, other house",
            ),
            _level("village_l = village_r and addr_group_l <> addr_group_r", "same village, other group"),
            _level("village_l = village_r", "same village (no comparable address on a side)"),
            ELSE,
        ],
    )
    household = CustomComparison(
        output_column_name="household_no",
        comparison_levels=[
            _level("household_no_l is null or household_no_r is null", "null", null=True),
            _level("household_no_l = household_no_r", "equal"),
            ELSE,
        ],
    )
    return [name, id_number, birth_date, age, gender, phone, location, household]


def blocking_rules() -> list:
    return [
        block_on("id_number"),
        # A mistyped ID (kept aside as rejected) still shares its birth date with the right one
        # (with the surname, below: the ID's first 14 digits are region, birth date and two more,
        # and those alone gave a million-record county 2.3 million of its 7.5 million candidate
        # pairs, half of the model's time, and no pair that scored), or this, when the mistake is
        # in the region or the year.
        block_on("substr(id_number, 11, 8)"),
        block_on("name", "birth_date"),
        block_on("name_py", "birth_year"),
        block_on("phone"),
        block_on("id_bd", "surname_py"),
        block_on("birth_date", "surname_py"),
        block_on("name_py", "village"),
    ]


def settings_creator(probability_two_random_records_match: float = 1e-4) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=blocking_rules(),
        probability_two_random_records_match=probability_two_random_records_match,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


# Deterministic rules (almost no false positives) used to estimate the prior without labels.
DETERMINISTIC_RULES = [
    "l.id_number = r.id_number and l.name_py = r.name_py",
    "l.name = r.name and l.birth_date = r.birth_date and l.phone = r.phone",
]


def smooth(settings: dict, *, m_pairs: float, u_pairs: float, alpha: float = 0.5) -> dict:
    """Additive smoothing of trained m and u probabilities, in place.

    Estimation leaves a level never seen in the sample at ``None`` (or 0), which would make a
    single level decide alone. Each comparison's non-null levels get ``alpha`` pseudo-counts over
    ``m_pairs`` matching and ``u_pairs`` non-matching sampled pairs. Fixed levels keep their values
    and the others share what is left.
    """
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        unseen = [lv for lv in levels if not lv.get("fix_m_probability") and not lv.get("fix_u_probability")
                  and not lv.get("m_probability") and not lv.get("u_probability")]
        for key, fix, pairs in (("u_probability", "fix_u_probability", u_pairs),
                                ("m_probability", "fix_m_probability", m_pairs)):
            free = [lv for lv in levels if not lv.get(fix)]
            fixed_mass = sum(lv.get(key) or 0.0 for lv in levels if lv.get(fix))
            if key == "m_probability":
                # A level seen in neither sample says nothing: m = u.
                free = [lv for lv in free if not any(lv is x for x in unseen)]
                for lv in unseen:
                    lv[key] = lv["u_probability"]
                    fixed_mass += lv[key]
            counts = [(lv.get(key) or 0.0) * pairs + alpha for lv in free]
            total = sum(counts)
            for lv, count in zip(free, counts, strict=True):
                lv[key] = (1.0 - fixed_mass) * count / total
    return settings


def quiet() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.WARNING)


def labelled_pair_stats(labels: Mapping[int, str]) -> tuple[int, int]:
    """(records, true matching pairs) for a labelling record id → cluster label."""
    sizes = Counter(labels.values())
    return len(labels), sum(n * (n - 1) // 2 for n in sizes.values())
