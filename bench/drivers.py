"""Load drivers for bench/run.py: wrk (single requests, a separate process) and a threaded Python
driver (browser flows). Each returns ``{"rps", "p50_ms", "p99_ms", "errors"}``."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

Figures = dict[str, float]


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> Figures:
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


def _headers_lua(headers: dict[str, str]) -> list[str]:
    return [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]


# The token endpoint limits each client per address (security/rate_limits.py: 6,000 a minute); a
# worker serves many relying parties from many addresses, so token-endpoint drivers spread their
# requests over 256 X-Forwarded-For addresses (uvicorn trusts the header from loopback).
_ROTATE_ADDRESS = ("local address = 0",
                   "local function next_address()",
                   "  address = (address + 1) % 256",
                   "  wrk.headers['X-Forwarded-For'] = '10.2.' .. address .. '.1'",
                   "end")


def lua_post(path: Path, body: str, headers: dict[str, str], rotate_address: bool = False) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}", *_headers_lua(headers)]
    if rotate_address:
        lines += [*_ROTATE_ADDRESS, "request = function() next_address(); return wrk.format() end"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def lua_get(path: Path, headers: dict[str, str]) -> str:
    path.write_text("\n".join(_headers_lua(headers)) + "\n")
    return str(path)


def lua_single_use(path: Path, values: list[str], body_prefix: str, headers: dict[str, str],
                   follow: str | None = None) -> str:
    """A POST whose body ends in a value used once (an authorization code, a refresh token).

    Values come from ``<path>.values``, one per line, taken first-in first-out. With ``follow`` (a JSON
    member name, e.g. ``refresh_token``), each successful response puts its new value back in the queue:
    rotating refresh tokens are driven as chains, as a relying party would. One wrk thread (``-t1``)
    means one Lua state, so the queue is shared by every connection.
    """
    values_file = path.with_suffix(".values")
    values_file.write_text("\n".join(values) + "\n")
    lines = ['wrk.method = "POST"', *_headers_lua(headers), *_ROTATE_ADDRESS,
             "local queue, head, tail = {}, 1, 0",
             f"for line in io.lines({json.dumps(str(values_file))}) do tail = tail + 1; queue[tail] = line end",
             "request = function()",
             "  next_address()",
             "  local value = queue[head]",
             "  if value == nil then value = 'exhausted' else queue[head] = nil; head = head + 1 end",
             f"  return wrk.format(nil, nil, nil, {json.dumps(body_prefix)} .. value)",
             "end"]
    if follow:
        lines += ["response = function(status, headers, body)",
                  f"  local value = body:match('\"{follow}\":\"([^\"]+)\"')",
                  "  if value ~= nil then tail = tail + 1; queue[tail] = value end",
                  "end"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def timed(fn: Callable[[int], object], count: int, concurrency: int) -> Figures:
    """Run ``fn(0..count-1)`` on ``concurrency`` threads; failures are counted, not raised."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def one(i: int) -> None:
        nonlocal errors
        start = time.perf_counter()
        failed = False
        try:
            fn(i)
        except Exception:  # noqa: BLE001 - counted, the benchmark goes on
            failed = True
        with lock:
            errors += failed
            latencies.append((time.perf_counter() - start) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": count / elapsed, "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[max(int(len(latencies) * 0.99) - 1, 0)], "errors": errors}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its children (uvicorn workers), from /proc."""
    total = 0.0
    ticks = 100.0  # USER_HZ on Linux
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for process in [pid, *map(int, children)]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def rss_mb(pid: int) -> float:
    total = 0
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for process in [pid, *map(int, children)]:
        status = Path(f"/proc/{process}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return total / 1024
