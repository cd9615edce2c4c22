"""The 12-digit personal identification number (CCCD): ``PPP G YY NNNNNN`` (DESIGN.md §2).

A string, never an integer (leading zeros matter). Nothing is stripped or normalised: a
malformed number gets a precise error naming the part that is wrong, before any lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from identity_service.identity.provinces import PROVINCES

# G digit → first year of the century; even = male, odd = female.
_CENTURY_BY_DIGIT = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100, 6: 2200, 7: 2200, 8: 1800, 9: 1800}
_DIGIT_BY_CENTURY = {1900: 0, 2000: 2, 2100: 4, 2200: 6, 1800: 8}
_ASCII_DIGITS = frozenset("0123456789")


class InvalidCccd(ValueError):
    """A malformed or inconsistent number; ``part`` names which part is wrong."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class CccdNumber:
    number: str
    province_code: str
    province_name: str
    sex: str
    century_start: int
    birth_year: int
    serial: str


def parse_cccd(value: str) -> CccdNumber:
    """Parse and validate a number, or raise :class:`InvalidCccd`."""
    if not isinstance(value, str):
        raise InvalidCccd("characters", "must be a string of 12 digits")
    for position, char in enumerate(value, start=1):
        if char not in _ASCII_DIGITS:
            raise InvalidCccd("characters", f"contains a character that is not a digit 0-9 at position {position}")
    if len(value) != 12:
        raise InvalidCccd("length", f"must be exactly 12 digits, got {len(value)}")
    province = value[:3]
    if province not in PROVINCES:
        raise InvalidCccd("province", f"province code {province} does not exist")
    g = int(value[3])
    century = _CENTURY_BY_DIGIT[g]
    return CccdNumber(
        number=value,
        province_code=province,
        province_name=PROVINCES[province],
        sex="female" if g % 2 else "male",
        century_start=century,
        birth_year=century + int(value[4:6]),
        serial=value[6:],
    )


def check_matches_birth(number: CccdNumber, birth_date: date, sex: str) -> None:
    """The G and YY digits must agree with the registry's birth date and sex."""
    century = birth_date.year // 100 * 100
    if century not in _DIGIT_BY_CENTURY or number.century_start != century or number.sex != sex:
        raise InvalidCccd("sex_century", "the sex/century digit does not match the birth date and sex")
    if number.birth_year != birth_date.year:
        raise InvalidCccd("year", "the year digits do not match the birth year")


def make_cccd(province_code: str, sex: str, birth_year: int, serial: int) -> str:
    """Build a valid number (for the synthetic registry)."""
    if province_code not in PROVINCES:
        raise ValueError(f"unknown province code {province_code}")
    century = birth_year // 100 * 100
    if century not in _DIGIT_BY_CENTURY:
        raise ValueError(f"birth year {birth_year} outside 1800-2299")
    if not 0 <= serial < 1_000_000:
        raise ValueError("serial must have at most 6 digits")
    g = _DIGIT_BY_CENTURY[century] + (1 if sex == "female" else 0)
    return f"{province_code}{g}{birth_year % 100:02d}{serial:06d}"
