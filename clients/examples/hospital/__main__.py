"""``python -m clients.examples.hospital``: the check-in desk on http://localhost:8001.

Staff are the CCCD numbers in ``HOSPITAL_STAFF`` (comma-separated), by default the provider's demo
citizen. The insurance table is ``HOSPITAL_INSURANCE_CSV`` if set, otherwise generated for every
citizen of the provider's demo registry (``data/demo_registry.csv``) and the demo citizen.
"""

from __future__ import annotations

import os
from pathlib import Path

import uvicorn

from clients.examples.config import demo_credentials, load_config
from clients.examples.hospital.app import create_app
from clients.examples.hospital.insurance import InsuranceTable, citizen_ids_in_registry_csv


def _staff() -> frozenset[str]:
    configured = os.environ.get("HOSPITAL_STAFF")
    if configured is not None:
        return frozenset(part.strip() for part in configured.split(",") if part.strip())
    account = demo_credentials().get("account") or {}
    return frozenset({account["cccd"]}) if "cccd" in account else frozenset()


def _insurance() -> InsuranceTable:
    configured = os.environ.get("HOSPITAL_INSURANCE_CSV")
    if configured:
        return InsuranceTable.from_csv(Path(configured))
    registry = Path(os.environ.get("IDENTITY_DATA_DIR", "data")) / "demo_registry.csv"
    citizen_ids = citizen_ids_in_registry_csv(registry) if registry.exists() else []
    return InsuranceTable.generate(citizen_ids)


def main() -> None:
    config = load_config("HOSPITAL", "demo-hospital", 8001)
    print(f"Hospital check-in desk: {config.base_url}  (provider {config.issuer}, staff {sorted(_staff())})")
    uvicorn.run(create_app(config, _staff(), _insurance()), host="127.0.0.1", port=config.port)


if __name__ == "__main__":
    main()
