"""CCCD number rules (DESIGN.md §2): PPP G YY NNNNNN, a string of exactly 12 ASCII digits."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity_service.identity.cccd import InvalidCccd, check_matches_birth, make_cccd, parse_cccd
from identity_service.identity.provinces import PROVINCES

provinces = st.sampled_from(sorted(PROVINCES))
sexes = st.sampled_from(["male", "female"])
years = st.integers(min_value=1800, max_value=2299)
serials = st.integers(min_value=0, max_value=999_999)
unknown_provinces = st.integers(min_value=0, max_value=999).map(lambda n: f"{n:03d}").filter(
    lambda code: code not in PROVINCES)


@given(provinces, sexes, years, serials)
def test_every_built_number_parses_back_to_its_parts(province: str, sex: str, year: int, serial: int) -> None:
    number = parse_cccd(make_cccd(province, sex, year, serial))
    assert (number.province_code, number.sex, number.birth_year, int(number.serial)) == (province, sex, year, serial)
    assert number.province_name == PROVINCES[province]
    assert len(number.number) == 12


@given(st.text(alphabet="0123456789", max_size=30).filter(lambda s: len(s) != 12))
def test_digit_strings_of_the_wrong_length_are_rejected_as_length(value: str) -> None:
    with pytest.raises(InvalidCccd) as error:
        parse_cccd(value)
    assert error.value.part == "length"
    assert str(len(value)) in str(error.value)


@given(st.text(min_size=1, max_size=20).filter(lambda s: any(c not in "0123456789" for c in s)))
def test_any_non_ascii_digit_character_is_rejected_as_characters(value: str) -> None:
    with pytest.raises(InvalidCccd) as error:
        parse_cccd(value)
    assert error.value.part == "characters"


@pytest.mark.parametrize("value", [" 001190123456", "001190123456 ", "001 190 123 456", "00119012345６",
                                   "٠٠١١٩٠١٢٣٤٥٦", "001-190-123456"])
def test_nothing_is_stripped_or_normalised_silently(value: str) -> None:
    with pytest.raises(InvalidCccd) as error:
        parse_cccd(value)
    assert error.value.part == "characters"


@given(unknown_provinces, st.integers(0, 9), st.integers(0, 99), serials)
def test_unknown_province_codes_are_rejected(province: str, g: int, yy: int, serial: int) -> None:
    with pytest.raises(InvalidCccd) as error:
        parse_cccd(f"{province}{g}{yy:02d}{serial:06d}")
    assert error.value.part == "province"
    assert province in str(error.value)


@pytest.mark.parametrize(("g", "sex", "century"), [(0, "male", 1900), (1, "female", 1900), (2, "male", 2000),
                                                   (3, "female", 2000), (4, "male", 2100), (5, "female", 2100),
                                                   (6, "male", 2200), (7, "female", 2200), (8, "male", 1800),
                                                   (9, "female", 1800)])
def test_sex_century_digit_follows_the_decree_table(g: int, sex: str, century: int) -> None:
    number = parse_cccd(f"079{g}85123456")
    assert (number.sex, number.century_start, number.birth_year) == (sex, century, century + 85)


@given(provinces, sexes, st.dates(min_value=date(1800, 1, 1), max_value=date(2299, 12, 31)), serials)
def test_matching_birth_date_and_sex_pass(province: str, sex: str, birth: date, serial: int) -> None:
    check_matches_birth(parse_cccd(make_cccd(province, sex, birth.year, serial)), birth, sex)


@given(provinces, sexes, st.dates(min_value=date(1801, 1, 1), max_value=date(2298, 12, 31)), serials,
       st.integers(min_value=1, max_value=99))
def test_year_digits_that_disagree_with_the_birth_date_are_rejected(
    province: str, sex: str, birth: date, serial: int, shift: int
) -> None:
    number = parse_cccd(make_cccd(province, sex, birth.year, serial))
    other = birth.replace(year=birth.year // 100 * 100 + (birth.year % 100 + shift) % 100, day=1)
    with pytest.raises(InvalidCccd) as error:
        check_matches_birth(number, other, sex)
    assert error.value.part == "year"


def test_sex_or_century_that_disagree_are_rejected() -> None:
    number = parse_cccd(make_cccd("001", "female", 1990, 1))
    with pytest.raises(InvalidCccd) as error:
        check_matches_birth(number, date(1990, 1, 1), "male")
    assert error.value.part == "sex_century"
    with pytest.raises(InvalidCccd) as error:
        check_matches_birth(number, date(2090, 1, 1), "female")
    assert error.value.part == "sex_century"


def test_leading_zeros_are_kept() -> None:
    assert parse_cccd("001090000001").number == "001090000001"
