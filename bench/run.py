"""Benchmark harness: runs the provider on PostgreSQL + Redis with N uvicorn workers and drives load
from separate processes on loopback (wrk for single requests, a Python driver for browser flows),
bounded in time. Prints a table and writes bench/results/latest.json (how to read it:
docs/operations.md, "Reading the benchmark").

    .venv/bin/python bench/run.py [--workers 1] [--seconds 5] [--connections 32] [--only token,userinfo]

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (it makes and drops its own database
and key prefix) and `wrk` (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.drivers import Figures, cpu_seconds, lua_get, lua_post, lua_single_use, rss_mb, timed  # noqa: E402
from bench.drivers import wrk as run_wrk  # noqa: E402
from bench.sdk_verify import measure as measure_sdk  # noqa: E402
from tests.factories import make_account, make_citizen, make_client  # noqa: E402
from tests.harness import pkce_pair  # noqa: E402
from tests.html_forms import form_posting_to  # noqa: E402

from identity_service.oidc.authorization_codes import AuthorizationCode, save_code  # noqa: E402
from identity_service.oidc.refresh_tokens import RefreshTokenStore  # noqa: E402
from identity_service.oidc.tokens import AuthContext  # noqa: E402
from identity_service.storage.database import make_engine  # noqa: E402
from identity_service.storage.migrations import upgrade_database  # noqa: E402
from identity_service.storage.redis_store import RedisStore  # noqa: E402

REDIRECT = "https://rp.example/callback"
PASSWORD = "bench-mật-khẩu-dài-dài"
REDIS_URL = "redis://127.0.0.1:6379/0"
# Requests per second a single-use value must cover (codes, refresh chains are reused): generous.
_CODES_PER_SECOND = 8000


def login(base: str, cccd: str, client: tuple[str, str], address: str) -> dict[str, Any]:
    """One browser: authorization request, login page, password, consent, code exchange (the password
    post answers with the next step itself: the consent page, or the client's redirect URI).

    ``address`` goes in X-Forwarded-For (uvicorn trusts it from loopback), so each simulated citizen
    has their own address and the per-address login limit applies as it would in production.
    """
    verifier, challenge = pkce_pair()
    headers = {"X-Forwarded-For": address}
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30, headers=headers) as browser:
        query = {"response_type": "code", "client_id": client[0], "redirect_uri": REDIRECT,
                 "scope": "openid profile", "state": "s", "code_challenge": challenge,
                 "code_challenge_method": "S256"}
        page = browser.get(browser.get("/authorize", params=query).headers["location"])
        response = browser.post("/login", data={**form_posting_to(page.text, "/login").fields, "cccd": cccd,
                                                "password": PASSWORD})
        location = response.headers["location"]
        if location.startswith("/consent"):
            page = browser.get(location)
            response = browser.post("/consent", data={**form_posting_to(page.text, "/consent").fields,
                                                      "decision": "allow"})
            location = response.headers["location"]
        code = httpx.URL(location).params["code"]
        response = browser.post("/token", auth=client, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
        response.raise_for_status()
        tokens: dict[str, Any] = response.json()
    return tokens


class Fixture:
    """The database, Redis prefix and seeded data one benchmark run uses; removed by :meth:`drop`."""

    def __init__(self, accounts: int) -> None:
        self.admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        self.name = f"ids_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"
        self.prefix = f"ids_bench:{uuid.uuid4().hex[:8]}:"
        upgrade_database(self.db_url)
        self.engine = make_engine(self.db_url)
        self.store = RedisStore.from_url(REDIS_URL, self.prefix)
        self.citizens: list[str] = []
        self.account_ids: list[str] = []
        for _ in range(accounts):
            citizen = make_citizen(self.engine)
            self.account_ids.append(make_account(self.engine, citizen, PASSWORD).id)
            self.citizens.append(citizen.cccd)
        self.client = make_client(self.engine, REDIRECT, scopes="openid profile",
                                  grant_types=("authorization_code", "refresh_token", "client_credentials"))
        # make_account hashes with light argon2 parameters to seed fast; logins must pay the OWASP
        # parameters the server is configured with, so give every account a full-cost hash.
        from sqlalchemy import text

        from identity_service.security.passwords import PasswordHasher

        with self.engine.begin() as connection:
            connection.execute(text("UPDATE accounts SET password_hash = :h"), {"h": PasswordHasher().hash(PASSWORD)})

    def _context(self, i: int) -> AuthContext:
        return AuthContext(account_id=self.account_ids[i % len(self.account_ids)], auth_time=int(time.time()),
                           acr="urn:eid:vn:level1", amr=("pwd",), sid=secrets.token_urlsafe(16))

    def refresh_chains(self, count: int) -> list[str]:
        """Refresh tokens issued through the real store, as a code exchange would (one family each)."""
        store = RefreshTokenStore(self.engine, self.store, ttl=3600, grace=10, access_token_ttl=600)
        return [store.issue(self.client[0], self._context(i), "openid profile")[0] for i in range(count)]

    def authorization_codes(self, count: int, challenge: str) -> list[str]:
        """Codes saved through the real code store, as the authorization endpoint would after a login
        (the login itself is measured by the flow benchmark; here only the exchange is)."""
        codes = []
        for i in range(count):
            ctx = self._context(i)
            code = secrets.token_urlsafe(32)
            save_code(self.store, code, AuthorizationCode(
                client_id=self.client[0], account_id=ctx.account_id, redirect_uri=REDIRECT, scope="openid profile",
                auth_time=ctx.auth_time, acr=ctx.acr, sid=ctx.sid, amr=list(ctx.amr), nonce="n",
                code_challenge=challenge, code_challenge_method="S256"), ttl=600)
            codes.append(code)
        return codes

    def session_bytes(self) -> float | None:
        keys = self.store.scan("session", 20)
        sizes = [int(subprocess.run(["redis-cli", "MEMORY", "USAGE", f"{self.prefix}session:{key}"],
                                    capture_output=True, text=True).stdout.strip() or 0) for key in keys]
        return sum(sizes) / len(sizes) if sizes else None

    def drop(self) -> None:
        self.engine.dispose()
        keys = subprocess.run(["redis-cli", "--scan", "--pattern", f"{self.prefix}*"], capture_output=True,
                              text=True).stdout.split()
        for start in range(0, len(keys), 500):
            subprocess.run(["redis-cli", "DEL", *keys[start:start + 500]], capture_output=True)
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def start_provider(fixture: Fixture, workers: int, tmp: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": fixture.db_url, "REDIS_URL": REDIS_URL,
           "IDENTITY_REDIS_PREFIX": fixture.prefix, "IDENTITY_ISSUER": f"http://localhost:{port}",
           "IDENTITY_DATA_DIR": str(tmp), "IDENTITY_KEYS_DIR": str(tmp / "keys"), "IDENTITY_SEED_DEMO": "false",
           "IDENTITY_LOG_LEVEL": "WARNING", **extra_env}
    server = subprocess.Popen([sys.executable, "-m", "identity_service.cli", "serve", "--port", str(port),
                               "--workers", str(workers)], env=env, cwd=tmp,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            sys.exit("provider did not start")
        time.sleep(0.3)


def run_benchmarks(args: argparse.Namespace, fixture: Fixture, server_pid: int, base: str,
                   tmp: Path) -> dict[str, Any]:
    client = fixture.client
    basic = "Basic " + base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}
    wanted = [name.strip() for name in args.only.split(",")] if args.only else None

    def selected(label: str) -> bool:
        return wanted is None or any(name in label for name in wanted)

    first = login(base, fixture.citizens[0], client, "10.0.0.1")
    results: dict[str, Figures] = {}
    seconds, connections = args.seconds, args.connections

    def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> Figures:
        """wrk, plus the provider's CPU time per request: on a shared machine req/s moves with the
        neighbours' load, requests per CPU-second of the provider much less (it is per-core capacity)."""
        before = cpu_seconds(server_pid)
        figures = run_wrk(url, seconds, connections, script)
        spent = cpu_seconds(server_pid) - before
        figures["per_cpu_s"] = figures["rps"] * seconds / spent if spent else float("nan")
        return figures
    if selected("discovery"):
        results["discovery"] = wrk(f"{base}/.well-known/openid-configuration", seconds, connections)
    if selected("jwks"):
        results["jwks"] = wrk(f"{base}/jwks.json", seconds, connections)
    if selected("token: authorization_code"):
        verifier, challenge = pkce_pair()
        codes = fixture.authorization_codes(seconds * _CODES_PER_SECOND, challenge)
        script = lua_single_use(tmp / "code.lua", codes, f"grant_type=authorization_code&redirect_uri={REDIRECT}"
                                f"&code_verifier={verifier}&code=", form)
        results["token: authorization_code"] = wrk(f"{base}/token", seconds, connections, script)
    if selected("token: refresh_token"):
        chains = fixture.refresh_chains(connections * 2)
        script = lua_single_use(tmp / "refresh.lua", chains, "grant_type=refresh_token&refresh_token=", form,
                                follow="refresh_token")
        results["token: refresh_token"] = wrk(f"{base}/token", seconds, connections, script)
    if selected("token: client_credentials"):
        results["token: client_credentials"] = wrk(f"{base}/token", seconds, connections,
                                                   lua_post(tmp / "cc.lua", "grant_type=client_credentials", form,
                                                            rotate_address=True))
    if selected("userinfo"):
        results["userinfo"] = wrk(f"{base}/userinfo", seconds, connections, lua_get(
            tmp / "ui.lua", {"Authorization": f"Bearer {first['access_token']}"}))
    if selected("introspection"):
        results["introspection"] = wrk(f"{base}/introspect", seconds, connections, lua_post(
            tmp / "in.lua", f"token={first['access_token']}", form))
    logins_per_cpu_second = None
    if selected("login"):
        cpu_before = cpu_seconds(server_pid)
        citizens = fixture.citizens[1:]
        figures = timed(lambda i: login(base, citizens[i], client, f"10.1.{i // 250}.{i % 250 + 1}"),
                        len(citizens), args.login_concurrency)
        spent = cpu_seconds(server_pid) - cpu_before
        logins_per_cpu_second = len(citizens) / spent if spent else None
        figures["per_cpu_s"] = logins_per_cpu_second or float("nan")
        results["full login flow (python driver)"] = figures
    return {"results": results, "logins_per_server_cpu_second": logins_per_cpu_second}


def print_report(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print(f"\nidentity_service benchmark: {report['workers']} worker(s), {machine['cores']} cores "
          f"({machine['cpu']}), {report['seconds']} s per run, {report['connections']} connections (wrk), "
          f"access tokens {report['access_token_alg']} — loopback, PostgreSQL + Redis\n")
    print(f"{'endpoint':36} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7} {'req/CPU-s':>10}")
    for label, figures in report["results"].items():
        print(f"{label:36} {figures['rps']:>10,.0f} {figures['p50_ms']:>9.2f} {figures['p99_ms']:>9.2f} "
              f"{int(figures['errors']):>7} {figures.get('per_cpu_s', float('nan')):>10,.0f}")
    per_cpu = report["logins_per_server_cpu_second"]
    print(f"\nlogins per server CPU-second (= per core): {per_cpu and round(per_cpu, 1)}   "
          f"worker RSS: {report['worker_rss_mb']:.0f} MB   "
          f"Redis bytes per login session: {report['redis_bytes_per_login_session']}")
    sdk = report.get("sdk_verify")
    if sdk:
        print("SDK verifications/s: " + "   ".join(f"{name} {value:,.0f}" for name, value in sdk.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--logins", type=int, default=100, help="browser logins in the login-flow benchmark")
    parser.add_argument("--login-concurrency", type=int, default=4)
    parser.add_argument("--only", default="", help="comma-separated substrings of benchmark names to run")
    parser.add_argument("--access-token-alg", default=None, help="IDENTITY_ACCESS_TOKEN_ALG for the provider")
    parser.add_argument("--no-sdk", action="store_true", help="skip the SDK verification measurement")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="ids-bench-"))
    extra_env = {"IDENTITY_ACCESS_TOKEN_ALG": args.access_token_alg} if args.access_token_alg else {}
    fixture = Fixture(args.logins + 1)
    server = None
    try:
        server, base = start_provider(fixture, args.workers, tmp, extra_env)
        measured = run_benchmarks(args, fixture, server.pid, base, tmp)
        report: dict[str, Any] = {
            "machine": {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                        "python": sys.version.split()[0], "kernel": platform.release()},
            "command": " ".join(sys.argv), "workers": args.workers, "seconds": args.seconds,
            "connections": args.connections,
            "access_token_alg": args.access_token_alg or os.environ.get("IDENTITY_ACCESS_TOKEN_ALG", "default"),
            **measured, "worker_rss_mb": round(rss_mb(server.pid), 1),
            "redis_bytes_per_login_session": fixture.session_bytes(),
        }
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        fixture.drop()
    if not args.no_sdk:
        report["sdk_verify"] = measure_sdk(seconds=min(args.seconds, 2))
    print_report(report)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
