"""The event loop's Redis pipelines (storage/redis_pipelines.py) against the real server: replies in
order, the URL's database, and every failure a StoreUnavailable that leaves no connection out of step."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis
import uvloop

from identity_service.storage.ephemeral import StoreUnavailable
from identity_service.storage.redis_pipelines import RedisPipelines
from tests.resilience.tcp_proxy import CuttableProxy

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture
def url(redis_url: str) -> str:
    return redis_url


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Both event loops the provider may run on (uvicorn picks uvloop when it is installed)."""
    return asyncio.run if request.param == "asyncio" else uvloop.run  # type: ignore[no-any-return]


def test_replies_come_back_in_command_order(url: str, redis_prefix: str, run: Run) -> None:
    async def scenario() -> list[object]:
        pipelines = RedisPipelines(url)
        return await pipelines.execute([("SET", f"{redis_prefix}k", '{"v": 1}', "EX", 60), ("INCR", f"{redis_prefix}c"),
                                        ("GET", f"{redis_prefix}k"), ("GET", f"{redis_prefix}absent")])

    assert run(scenario()) == ["OK", 1, '{"v": 1}', None]


def test_the_database_named_in_the_url_is_selected(url: str, redis_prefix: str, run: Run) -> None:
    other = url.rsplit("/", 1)[0] + "/1"
    run(RedisPipelines(other).execute([("SET", f"{redis_prefix}db", "one", "EX", 60)]))
    try:
        assert redis.Redis.from_url(other).get(f"{redis_prefix}db") == b"one"
        assert redis.Redis.from_url(url).get(f"{redis_prefix}db") is None
    finally:
        redis.Redis.from_url(other).delete(f"{redis_prefix}db")


def test_an_error_reply_is_store_unavailable_and_the_pool_goes_on(url: str, redis_prefix: str, run: Run) -> None:
    async def scenario() -> list[object]:
        pipelines = RedisPipelines(url, max_connections=1)
        await pipelines.execute([("SET", f"{redis_prefix}text", "not a number", "EX", 60)])
        with pytest.raises(StoreUnavailable):
            await pipelines.execute([("INCR", f"{redis_prefix}text")])
        return await pipelines.execute([("PING",)])

    assert run(scenario()) == ["PONG"]


def test_an_abandoned_pipeline_never_answers_the_next_caller(url: str, redis_prefix: str, run: Run) -> None:
    """A request cancelled while its reply is due: that reply must not be read as someone else's."""
    queue = f"{redis_prefix}queue"

    async def scenario() -> list[object]:
        pipelines = RedisPipelines(url, max_connections=1)
        await pipelines.execute([("PING",)])  # one idle connection: the next call sends at once
        blocked = asyncio.create_task(pipelines.execute([("BLPOP", queue, 5)]))
        await asyncio.sleep(0)  # let it send BLPOP and wait for the reply
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        redis.Redis.from_url(url).rpush(queue, "for BLPOP")
        return await pipelines.execute([("GET", f"{redis_prefix}absent")])

    assert run(scenario()) == [None]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_reply_that_never_comes_is_store_unavailable(silent_server: int, run: Run) -> None:
    pipelines = RedisPipelines(f"redis://127.0.0.1:{silent_server}/0", timeout=0.2)
    with pytest.raises(StoreUnavailable):
        run(pipelines.execute([("PING",)]))


def test_after_an_outage_new_connections_replace_the_dropped_ones(url: str, run: Run) -> None:
    proxy = CuttableProxy("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0]))
    pipelines = RedisPipelines(f"redis://127.0.0.1:{proxy.port}/0")

    async def ping() -> list[object]:
        return await pipelines.execute([("PING",)])

    async def scenario() -> None:
        assert await ping() == ["PONG"]
        proxy.cut()
        with pytest.raises(StoreUnavailable):
            await ping()
        proxy.restore()
        assert await ping() == ["PONG"]

    try:
        run(scenario())
    finally:
        proxy.close()
