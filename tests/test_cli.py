"""The operator's commands, run the way a newcomer runs them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from identity_service.cli.main import app
from tests.live_server import free_port

runner = CliRunner()


def test_serve_runs_on_embedded_defaults_and_prints_the_demo(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "IDENTITY_DATA_DIR": str(tmp_path / "data"), "IDENTITY_KEYS_DIR": str(tmp_path / "keys"),
           "IDENTITY_ARGON2_MEMORY_KIB": "1024", "IDENTITY_ARGON2_TIME_COST": "1"}
    for name in ("DATABASE_URL", "REDIS_URL", "IDENTITY_DATABASE_URL", "IDENTITY_REDIS_URL", "IDENTITY_ISSUER"):
        env.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "identity_service.cli", "serve", "--port", str(port)],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, "service did not become ready"
        metadata = httpx.get(f"{base}/.well-known/openid-configuration").json()
        assert metadata["issuer"] == f"http://localhost:{port}"
        assert {k["alg"] for k in httpx.get(f"{base}/jwks.json").json()["keys"]} == {"RS256", "ES256"}
        keys = list((tmp_path / "keys").glob("*.pem"))
        assert len(keys) == 2 and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
        assert (tmp_path / "data" / "identity.db").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "demo-hospital" in output and "demo-portal" in output
    assert "Demo citizen login: CCCD" in output and "Demo level-2 citizen: CCCD" in output
    assert "demo-registrar-desk" in output


def test_registry_generate_then_import_reports_counts(tmp_path: Path) -> None:
    csv_path = tmp_path / "registry.csv"
    env = {"IDENTITY_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    generated = runner.invoke(app, ["registry", "generate", "--count", "300", "--output", str(csv_path), "--seed", "5"],
                              env=env)
    assert generated.exit_code == 0, generated.output
    with csv_path.open("a", encoding="utf-8") as handle:
        handle.write("12345,Bad Row,Bad,Row,1990-01-01,male,x,000000000000,2030-01-01,valid,false\n")
    imported = runner.invoke(app, ["registry", "import", str(csv_path)], env=env)
    assert imported.exit_code == 0, imported.output
    assert "accepted: 300" in imported.output
    assert "rejected: 1" in imported.output
    assert "invalid cccd (length)" in imported.output


def test_import_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    # A wide terminal: rich would otherwise truncate the message inside its box on a long tmp path.
    result = runner.invoke(app, ["registry", "import", str(tmp_path / "nope.csv")], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_production_refuses_development_settings(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env={"IDENTITY_ENVIRONMENT": "production"})
    assert result.exit_code == 2
    assert "production refuses to start" in result.output


def test_import_of_a_file_with_a_wrong_header_imports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")
    env = {"IDENTITY_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    result = runner.invoke(app, ["registry", "import", str(path)], env=env)
    assert result.exit_code == 2
    assert "nothing imported" in result.output and "header" in result.output


def test_clients_add_show_update_remove(tmp_path: Path) -> None:
    env = {"IDENTITY_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    added = runner.invoke(app, ["clients", "add", "--name", "Cổng DVC", "--client-id", "portal-x",
                                "--redirect-uri", "https://portal.example/cb", "--scope", "openid",
                                "--scope", "profile"], env=env)
    assert added.exit_code == 0, added.output
    assert "client_secret (shown once):" in added.output
    assert "portal-x" in runner.invoke(app, ["clients", "list"], env=env).output
    updated = runner.invoke(app, ["clients", "update", "portal-x", "--set", "min_level=2"], env=env)
    assert updated.exit_code == 0 and '"min_level": 2' in updated.output
    refused = runner.invoke(app, ["clients", "update", "portal-x", "--set",
                                  'redirect_uris=["http://evil.example/cb"]'], env=env)
    assert refused.exit_code == 2 and "https" in refused.output
    invalid = runner.invoke(app, ["clients", "add", "--name", "x", "--redirect-uri", "https://a.example/cb#f"], env=env)
    assert invalid.exit_code == 2 and "fragment" in invalid.output
    assert runner.invoke(app, ["clients", "remove", "portal-x", "--yes"], env=env).exit_code == 0
    assert runner.invoke(app, ["clients", "show", "portal-x"], env=env).exit_code == 1


def test_keys_rotate_and_list(tmp_path: Path) -> None:
    env = {"IDENTITY_KEYS_DIR": str(tmp_path / "keys"), "IDENTITY_DATA_DIR": str(tmp_path)}
    assert runner.invoke(app, ["keys", "generate"], env=env).exit_code == 0
    rotated = runner.invoke(app, ["keys", "rotate", "--publish-ahead", "600"], env=env)
    assert rotated.exit_code == 0, rotated.output
    listing = runner.invoke(app, ["keys", "list"], env=env).output
    assert listing.count("signing") == 1 and listing.count("published") >= 1


def test_locks_list_and_clear(tmp_path: Path, redis_prefix: str) -> None:
    from identity_service.config import Settings
    from identity_service.security.rate_limits import RateLimiter
    from identity_service.storage.ephemeral import make_store

    prefix = redis_prefix
    env = {"IDENTITY_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "REDIS_URL": "redis://127.0.0.1:6379/0", "IDENTITY_REDIS_PREFIX": prefix}
    settings = Settings(redis_url=env["REDIS_URL"], redis_prefix=prefix)
    limiter = RateLimiter(make_store(settings.redis_url, prefix))
    for _ in range(7):
        limiter.login_failed("001190000123")
    listed = runner.invoke(app, ["locks", "list"], env=env)
    assert listed.exit_code == 0 and "001190000123" in listed.output
    cleared = runner.invoke(app, ["locks", "clear", "001190000123"], env=env)
    assert cleared.exit_code == 0
    assert "001190000123" not in runner.invoke(app, ["locks", "list"], env=env).output
