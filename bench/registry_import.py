"""Benchmark: generate N synthetic citizens and import them into a fresh PostgreSQL database.

    .venv/bin/python bench/registry_import.py --count 1000000

Creates its own database (dropped afterwards) on the admin URL's server and prints rows/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from identity_service.identity.registry_io import generate_registry_csv, import_registry_csv
from identity_service.storage.database import make_engine
from identity_service.storage.migrations import upgrade_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"ids_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    try:
        upgrade_database(url)
        engine = make_engine(url)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "registry.csv"
            started = time.perf_counter()
            written = generate_registry_csv(path, args.count, seed=1)
            generated = time.perf_counter() - started
            size_mb = path.stat().st_size / 1e6
            started = time.perf_counter()
            report = import_registry_csv(engine, path)
            imported = time.perf_counter() - started
            started = time.perf_counter()
            again = import_registry_csv(engine, path)
            reimported = time.perf_counter() - started
        engine.dispose()
        print(f"rows generated : {written:>10,}  in {generated:7.1f} s  ({written / generated:>9,.0f} rows/s, "
              f"{size_mb:.0f} MB CSV)")
        print(f"import (fresh) : {report.accepted:>10,}  in {imported:7.1f} s  ({report.accepted / imported:>9,.0f} "
              f"rows/s), rejected {report.rejected}")
        print(f"import (upsert): {again.accepted:>10,}  in {reimported:7.1f} s  ({again.accepted / reimported:>9,.0f} "
              f"rows/s)")
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
