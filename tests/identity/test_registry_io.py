"""Registry CSV generation and import, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from identity_service.identity.cccd import check_matches_birth, parse_cccd
from identity_service.identity.registry_io import (
    COLUMNS,
    RegistryFileError,
    generate_registry_csv,
    generate_rows,
    import_registry_csv,
)
from identity_service.storage.models import Citizen


@pytest.fixture
def imported(engine: Engine) -> Iterator[set[str]]:
    """Numbers a test imported; removed afterwards (the engines are shared)."""
    numbers: set[str] = set()
    yield numbers
    with Session(engine) as session:
        session.exec(delete(Citizen).where(Citizen.cccd.in_(numbers)))  # type: ignore[call-overload,attr-defined]
        session.commit()


def _numbers(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [row["cccd"] for row in csv.DictReader(handle)]


def _count(engine: Engine, numbers: set[str]) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Citizen).where(
            Citizen.cccd.in_(numbers))).one())  # type: ignore[attr-defined]


def test_generated_citizens_are_valid_unique_and_consistent() -> None:
    rows = list(generate_rows(3000, seed=7))
    assert len({r["cccd"] for r in rows}) == len(rows) > 2900
    for row in rows:
        check_matches_birth(parse_cccd(row["cccd"]), date.fromisoformat(row["birth_date"]), row["sex"])
        assert row["full_name"].startswith(row["family_name"] + " ")
        assert row["full_name"].endswith(" " + row["given_name"])


def test_generation_is_reproducible_with_a_seed() -> None:
    assert list(generate_rows(50, seed=3)) == list(generate_rows(50, seed=3))


def test_import_loads_every_valid_row(engine: Engine, tmp_path: Path, imported: set[str]) -> None:
    path = tmp_path / "registry.csv"
    written = generate_registry_csv(path, 2000, seed=11)
    numbers = set(_numbers(path))
    imported |= numbers
    report = import_registry_csv(engine, path, batch_size=700)
    assert report.accepted == written == len(numbers)
    assert report.rejected == 0
    assert _count(engine, numbers) == written


def test_import_twice_is_idempotent_and_newer_rows_replace_older(
    engine: Engine, tmp_path: Path, imported: set[str]
) -> None:
    path = tmp_path / "registry.csv"
    generate_registry_csv(path, 100, seed=12)
    imported |= set(_numbers(path))
    import_registry_csv(engine, path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    rows[0]["card_status"] = "revoked"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    report = import_registry_csv(engine, path)
    assert report.accepted == 100
    assert _count(engine, imported) == 100
    with Session(engine) as session:
        citizen = session.get(Citizen, rows[0]["cccd"])
        assert citizen is not None and citizen.card_status == "revoked"


def test_bad_rows_are_reported_with_reasons_and_good_rows_still_import(
    engine: Engine, tmp_path: Path, imported: set[str]
) -> None:
    good = list(generate_rows(5, seed=13))
    imported |= {r["cccd"] for r in good}
    template = dict(good[0])
    wrong_yy = "98" if template["cccd"][4:6] == "99" else "99"
    bad = [
        {**template, "cccd": "12345"},                                  # length
        {**template, "cccd": "003190123456"},                           # unknown province
        {**template, "cccd": template["cccd"][:4] + wrong_yy + template["cccd"][6:]},  # year digits
        {**template, "birth_date": "1990-02-30"},
        {**template, "sex": "unknown"},
        {**template, "card_status": "lost"},
    ]
    path = tmp_path / "mixed.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(good[1:] + bad)
    report = import_registry_csv(engine, path)
    assert report.accepted == 4
    assert report.rejected == 6
    assert report.reasons["invalid cccd (length)"] == 1
    assert report.reasons["invalid cccd (province)"] == 1
    assert report.reasons["cccd does not match birth date (year)"] == 1
    assert report.reasons["invalid date"] == 1
    assert report.reasons["invalid sex"] == 1
    assert report.reasons["invalid card_status"] == 1
    assert [line for line, _ in report.examples] == [6, 7, 8, 9, 10, 11]
    assert _count(engine, {r["cccd"] for r in good[1:]}) == 4


def test_a_file_with_the_wrong_header_imports_nothing(engine: Engine, tmp_path: Path, imported: set[str]) -> None:
    rows = list(generate_rows(3, seed=14))
    imported |= {r["cccd"] for r in rows}
    path = tmp_path / "wrong.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(reversed(COLUMNS)))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(RegistryFileError, match="header"):
        import_registry_csv(engine, path)
    assert _count(engine, imported) == 0
