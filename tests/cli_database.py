"""The environment the ``identity-service`` CLI runs in during a test: its own migrated database."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity_service.storage.migrations import upgrade_database


def use_fresh_cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the CLI at a new SQLite database (migrated), its own data and key folders and no Redis,
    whatever the developer's shell exports; the database URL."""
    url = f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    for name in ("DATABASE_URL", "REDIS_URL", "IDENTITY_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_DATABASE_URL", url)
    monkeypatch.setenv("IDENTITY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IDENTITY_KEYS_DIR", str(tmp_path / "keys"))
    upgrade_database(url)
    return url
