"""Benchmark harness: runs the provider on PostgreSQL + Redis with N uvicorn workers and drives load
from separate processes on loopback (wrk for single requests, a Python driver for flows), bounded in
time. Prints a table and writes bench/results/latest.json.

    .venv/bin/python bench/run.py [--workers 1] [--seconds 5] [--connections 32]

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (it makes and drops its own database
and key prefix) and `wrk` (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.factories import make_account, make_citizen, make_client  # noqa: E402
from tests.harness import pkce_pair  # noqa: E402
from tests.html_forms import form_posting_to  # noqa: E402

from identity_service.storage.database import make_engine  # noqa: E402
from identity_service.storage.migrations import upgrade_database  # noqa: E402

REDIRECT = "https://rp.example/callback"
PASSWORD = "bench-mật-khẩu-dài-dài"


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", output)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    total_errors = int(non2xx.group(1)) if non2xx else 0
    if errors:
        total_errors += sum(int(g) for g in errors.groups())
    return {"rps": rps, "p50_ms": latency("50"), "p99_ms": latency("99"), "errors": total_errors}


def lua_post(path: Path, body: str, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def lua_get(path: Path, headers: dict[str, str]) -> str:
    path.write_text("\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()) + "\n")
    return str(path)


def login(base: str, cccd: str, client: tuple[str, str]) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    browser = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    query = {"response_type": "code", "client_id": client[0], "redirect_uri": REDIRECT, "scope": "openid profile",
             "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    page = browser.get(browser.get("/authorize", params=query).headers["location"])
    response = browser.post("/login", data={**form_posting_to(page.text, "/login").fields, "cccd": cccd,
                                            "password": PASSWORD})
    response = browser.get(response.headers["location"])
    location = response.headers["location"]
    if location.startswith("/consent"):
        page = browser.get(location)
        response = browser.post("/consent", data={**form_posting_to(page.text, "/consent").fields,
                                                  "decision": "allow"})
        location = response.headers["location"]
    code = httpx.URL(location).params["code"]
    tokens: dict[str, Any] = httpx.post(f"{base}/token", auth=client, timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}).json()
    return tokens


def timed(fn: Any, count: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0

    def one(i: int) -> None:
        nonlocal errors
        start = time.perf_counter()
        try:
            fn(i)
        except Exception:  # noqa: BLE001 - counted, the benchmark goes on
            errors += 1
        latencies.append((time.perf_counter() - start) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": count / elapsed, "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1], "errors": errors}


def rss_mb(pid: int) -> float:
    total = 0
    for child in [pid, *map(int, subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
                           .stdout.split())]:
        status = Path(f"/proc/{child}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--logins", type=int, default=60)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"ids_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    prefix = f"ids_bench:{uuid.uuid4().hex[:8]}:"
    tmp = Path(tempfile.mkdtemp(prefix="ids-bench-"))
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": "redis://127.0.0.1:6379/0",
           "IDENTITY_REDIS_PREFIX": prefix, "IDENTITY_ISSUER": f"http://localhost:{port}",
           "IDENTITY_DATA_DIR": str(tmp), "IDENTITY_KEYS_DIR": str(tmp / "keys"), "IDENTITY_SEED_DEMO": "false",
           "IDENTITY_LOG_LEVEL": "WARNING"}
    server = None
    try:
        upgrade_database(db_url)
        engine = make_engine(db_url)
        citizens = []
        for _ in range(args.logins):
            citizen = make_citizen(engine)
            make_account(engine, citizen, PASSWORD)
            citizens.append(citizen.cccd)
        client = make_client(engine, REDIRECT, scopes="openid profile",
                             grant_types=("authorization_code", "refresh_token", "client_credentials"))
        engine.dispose()
        # The accounts above use light argon2 parameters to seed fast; rehash-free logins below use
        # the OWASP ones the server is configured with, so re-enroll their hashes at full cost:
        from identity_service.security.passwords import PasswordHasher
        from sqlalchemy import text
        full = PasswordHasher()
        engine = make_engine(db_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE accounts SET password_hash = :h"), {"h": full.hash(PASSWORD)})
        engine.dispose()
        server = subprocess.Popen([sys.executable, "-m", "identity_service.cli", "serve", "--port", str(port),
                                   "--workers", str(args.workers)], env=env, cwd=tmp,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                sys.exit("provider did not start")
            time.sleep(0.3)
        basic = "Basic " + base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
        form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}
        first = login(base, citizens[0], client)
        results: dict[str, dict[str, float]] = {}
        results["discovery"] = wrk(f"{base}/.well-known/openid-configuration", args.seconds, args.connections)
        results["jwks"] = wrk(f"{base}/jwks.json", args.seconds, args.connections)
        results["token: client_credentials"] = wrk(f"{base}/token", args.seconds, args.connections,
                                                   lua_post(tmp / "cc.lua", "grant_type=client_credentials", form))
        results["userinfo"] = wrk(f"{base}/userinfo", args.seconds, args.connections, lua_get(
            tmp / "ui.lua", {"Authorization": f"Bearer {first['access_token']}"}))
        results["introspection"] = wrk(f"{base}/introspect", args.seconds, args.connections, lua_post(
            tmp / "in.lua", f"token={first['access_token']}", form))
        chains = [login(base, cccd, client)["refresh_token"] for cccd in citizens[1:9]]

        def refresh(i: int) -> None:
            slot = i % len(chains)
            response = httpx.post(f"{base}/token", auth=client, timeout=30,
                                  data={"grant_type": "refresh_token", "refresh_token": chains[slot]})
            response.raise_for_status()
            chains[slot] = response.json()["refresh_token"]

        results["token: refresh (python driver)"] = timed(refresh, 400, len(chains))
        results["full login flow (python driver)"] = timed(lambda i: login(base, citizens[i], client),
                                                           args.logins, 4)
        memory = rss_mb(server.pid)
        redis_info = subprocess.run(["redis-cli", "--scan", "--pattern", f"{prefix}session:*"],
                                    capture_output=True, text=True).stdout.split()
        session_bytes = [int(subprocess.run(["redis-cli", "MEMORY", "USAGE", key], capture_output=True,
                                            text=True).stdout.strip() or 0) for key in redis_info[:20]]
        cores = os.cpu_count() or 1
        report = {"machine": {"cores": cores, "python": sys.version.split()[0]},
                  "workers": args.workers, "seconds": args.seconds, "connections": args.connections,
                  "results": results, "worker_rss_mb": round(memory, 1),
                  "redis_bytes_per_login_session": (sum(session_bytes) / len(session_bytes)) if session_bytes else None,
                  "logins_per_second_per_core": results["full login flow (python driver)"]["rps"] / min(
                      args.workers, cores)}
        print(f"\nidentity_service benchmark: {args.workers} worker(s), {cores} cores, {args.seconds} s per run, "
              f"{args.connections} connections (wrk) — loopback, PostgreSQL + Redis\n")
        print(f"{'endpoint':36} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
        for label, figures in results.items():
            print(f"{label:36} {figures['rps']:>10,.0f} {figures['p50_ms']:>9.2f} {figures['p99_ms']:>9.2f} "
                  f"{int(figures['errors']):>7}")
        print(f"\nlogins/s per core: {report['logins_per_second_per_core']:.1f}   "
              f"worker RSS: {memory:.0f} MB   Redis bytes per login session: {report['redis_bytes_per_login_session']}")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "latest.json").write_text(json.dumps(report, indent=2))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        keys = subprocess.run(["redis-cli", "--scan", "--pattern", f"{prefix}*"], capture_output=True,
                              text=True).stdout.split()
        for start in range(0, len(keys), 500):
            subprocess.run(["redis-cli", "DEL", *keys[start:start + 500]], capture_output=True)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
