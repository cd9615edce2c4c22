"""A small, clearly synthetic health-insurance table keyed by CCCD number.

Real check-in desks query Vietnam Social Security; this example generates look-alike rows instead.
Every card number starts with ``SYN`` so no row can be mistaken for a real card.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

COLUMNS = ("citizen_id", "card_number", "benefit_percent", "registered_facility", "valid_from", "valid_to")
_FACILITIES = ("Bệnh viện Demo", "Trạm y tế phường Demo", "Bệnh viện Đa khoa Demo Tỉnh")
_BENEFITS = (80, 95, 100)


@dataclass(frozen=True)
class InsuranceCard:
    """One synthetic health-insurance card (thẻ BHYT)."""

    citizen_id: str
    card_number: str
    benefit_percent: int
    registered_facility: str
    valid_from: date
    valid_to: date

    def is_valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to


class InsuranceTable:
    """Cards by CCCD number (a string: leading zeros matter)."""

    def __init__(self, cards: Iterable[InsuranceCard] = ()) -> None:
        self._cards: Mapping[str, InsuranceCard] = {card.citizen_id: card for card in cards}

    def __len__(self) -> int:
        return len(self._cards)

    def lookup(self, citizen_id: str) -> InsuranceCard | None:
        return self._cards.get(citizen_id)

    @classmethod
    def generate(cls, citizen_ids: Iterable[str], seed: int = 2024, today: date | None = None) -> InsuranceTable:
        """Synthetic cards for ``citizen_ids``; the same seed gives the same table."""
        rng = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
        start = (today or date.today()).replace(month=1, day=1)
        cards = []
        for citizen_id in citizen_ids:
            cards.append(InsuranceCard(
                citizen_id=citizen_id,
                card_number=f"SYN{citizen_id}",
                benefit_percent=rng.choice(_BENEFITS),
                registered_facility=rng.choice(_FACILITIES),
                valid_from=start,
                valid_to=start + timedelta(days=365 + 364 * rng.randrange(0, 3)),
            ))
        return cls(cards)

    @classmethod
    def from_csv(cls, path: Path) -> InsuranceTable:
        with path.open(encoding="utf-8", newline="") as handle:
            return cls(InsuranceCard(
                citizen_id=row["citizen_id"], card_number=row["card_number"],
                benefit_percent=int(row["benefit_percent"]), registered_facility=row["registered_facility"],
                valid_from=date.fromisoformat(row["valid_from"]), valid_to=date.fromisoformat(row["valid_to"]),
            ) for row in csv.DictReader(handle))

    def to_csv(self, path: Path) -> None:
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for card in self._cards.values():
                writer.writerow({k: str(v) for k, v in asdict(card).items()})


def citizen_ids_in_registry_csv(path: Path) -> list[str]:
    """The CCCD numbers of a registry file (the provider's ``data/demo_registry.csv``)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["cccd"] for row in csv.DictReader(handle)]
