"""One suite for both ephemeral stores: in-process (embedded) and Redis (real server)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from identity_service.storage.ephemeral import Delete, EphemeralStore, Put, SetAdd, StoreUnavailable
from identity_service.storage.memory_store import MemoryStore
from identity_service.storage.redis_store import RedisStore


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> EphemeralStore:
    if request.param == "memory":
        return MemoryStore()
    url = request.getfixturevalue("redis_url")
    return RedisStore.from_url(url, request.getfixturevalue("redis_prefix"))


def _eventually(condition: Callable[[], bool], seconds: float = 4.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_put_then_get_round_trips_json(store: EphemeralStore) -> None:
    store.put("ns", "k", {"a": 1, "b": ["x", "y"], "c": None}, 60)
    assert store.get("ns", "k") == {"a": 1, "b": ["x", "y"], "c": None}


def test_put_replaces(store: EphemeralStore) -> None:
    store.put("ns", "k", {"v": 1}, 60)
    store.put("ns", "k", {"v": 2}, 60)
    assert store.get("ns", "k") == {"v": 2}


def test_missing_key_is_none(store: EphemeralStore) -> None:
    assert store.get("ns", "absent") is None
    assert store.take("ns", "absent") is None
    assert store.ttl("ns", "absent") is None


def test_values_expire_after_their_ttl(store: EphemeralStore) -> None:
    store.put("ns", "short", {"v": 1}, 1)
    assert store.get("ns", "short") == {"v": 1}
    assert _eventually(lambda: store.get("ns", "short") is None)


def test_add_only_stores_when_absent(store: EphemeralStore) -> None:
    assert store.add("ns", "k", {"v": 1}, 60) is True
    assert store.add("ns", "k", {"v": 2}, 60) is False
    assert store.get("ns", "k") == {"v": 1}


def test_take_is_single_use_under_real_concurrency(store: EphemeralStore) -> None:
    store.put("ns", "code", {"v": "secret"}, 60)
    results: list[object] = []
    barrier = threading.Barrier(20)

    def racer() -> None:
        barrier.wait()
        results.append(store.take("ns", "code"))

    threads = [threading.Thread(target=racer) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r is not None]
    assert winners == [{"v": "secret"}]
    assert store.get("ns", "code") is None


def test_incr_counts_and_its_window_does_not_slide(store: EphemeralStore) -> None:
    assert store.incr("ns", "counter", 60) == 1
    assert store.incr("ns", "counter", 60) == 2
    first_ttl = store.ttl("ns", "counter")
    assert first_ttl is not None and 55 <= first_ttl <= 60
    assert store.incr("ns", "counter", 3600) == 3
    later_ttl = store.ttl("ns", "counter")
    assert later_ttl is not None and later_ttl <= 60


def test_delete_removes(store: EphemeralStore) -> None:
    store.put("ns", "k", {"v": 1}, 60)
    store.delete("ns", "k")
    assert store.get("ns", "k") is None
    store.delete("ns", "never-there")


def test_namespaces_are_isolated(store: EphemeralStore) -> None:
    store.put("a", "k", {"v": "a"}, 60)
    store.put("b", "k", {"v": "b"}, 60)
    assert store.get("a", "k") == {"v": "a"}
    assert store.get("b", "k") == {"v": "b"}


def test_returned_values_are_copies(store: EphemeralStore) -> None:
    value = {"list": [1]}
    store.put("ns", "k", value, 60)
    value["list"].append(2)
    fetched = store.get("ns", "k")
    assert fetched == {"list": [1]}
    assert fetched is not None
    fetched["list"].append(3)
    assert store.get("ns", "k") == {"list": [1]}


def test_memory_store_expiry_follows_its_clock() -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    store.put("ns", "k", {"v": 1}, 10)
    now[0] += 9.5
    assert store.get("ns", "k") == {"v": 1}
    now[0] += 1
    assert store.get("ns", "k") is None
    assert store.add("ns", "k", {"v": 2}, 10) is True


def test_memory_store_refuses_to_grow_without_bound() -> None:
    store = MemoryStore(max_entries=3)
    for i in range(3):
        store.put("ns", str(i), {}, 60)
    with pytest.raises(StoreUnavailable):
        store.put("ns", "overflow", {}, 60)


@pytest.mark.parametrize("operation", [
    lambda s: s.put("ns", "k", {}, 1), lambda s: s.add("ns", "k", {}, 1), lambda s: s.get("ns", "k"),
    lambda s: s.take("ns", "k"), lambda s: s.delete("ns", "k"), lambda s: s.incr("ns", "k", 1),
    lambda s: s.ttl("ns", "k"), lambda s: s.ping(), lambda s: s.get_all([("ns", "k")]),
    lambda s: s.write_many([Delete("ns", "k")]),
])
def test_unreachable_redis_raises_store_unavailable_never_a_raw_error(
    operation: Callable[[EphemeralStore], object],
) -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/0", "x:")
    with pytest.raises(StoreUnavailable):
        operation(store)


def _set_add(store: EphemeralStore, key: str, member: str, ttl: int) -> None:
    store.write_many([SetAdd("idx", key, member, ttl)])


def test_set_members_are_added_listed_and_removed(store: EphemeralStore) -> None:
    assert store.set_members("idx", "acct") == set()
    _set_add(store, "acct", "s1", 60)
    _set_add(store, "acct", "s2", 60)
    _set_add(store, "acct", "s1", 60)
    assert store.set_members("idx", "acct") == {"s1", "s2"}
    store.set_remove("idx", "acct", "s1")
    store.set_remove("idx", "acct", "absent")
    assert store.set_members("idx", "acct") == {"s2"}
    store.set_remove("idx", "acct", "s2")
    assert store.set_members("idx", "acct") == set()
    assert store.ttl("idx", "acct") is None  # an emptied set is gone, not an empty value


def test_sets_of_different_keys_are_separate_and_have_a_ttl(store: EphemeralStore) -> None:
    _set_add(store, "a", "x", 60)
    _set_add(store, "b", "y", 60)
    assert store.set_members("idx", "a") == {"x"} and store.set_members("idx", "b") == {"y"}
    ttl = store.ttl("idx", "a")
    assert ttl is not None and 0 < ttl <= 60


def test_a_set_expires_after_its_ttl(store: EphemeralStore) -> None:
    _set_add(store, "short", "x", 1)
    assert store.set_members("idx", "short") == {"x"}
    assert _eventually(lambda: store.set_members("idx", "short") == set())


def test_concurrent_set_adds_lose_no_member(store: EphemeralStore) -> None:
    def add_many(prefix: str) -> None:
        for i in range(50):
            _set_add(store, "busy", f"{prefix}{i}", 60)

    threads = [threading.Thread(target=add_many, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.set_members("idx", "busy")) == 200


def test_take_and_add_takes_once_and_never_replaces_the_added_value(store: EphemeralStore) -> None:
    store.put("code", "k", {"v": 1}, 60)
    assert store.take_and_add("code", "k", Put("used", "k", {"jti": None}, 60)) == {"v": 1}
    store.put("used", "k", {"jti": "issued"}, 60)  # what the token response records later
    assert store.take_and_add("code", "k", Put("used", "k", {"jti": None}, 60)) is None
    assert store.get("used", "k") == {"jti": "issued"}  # a replay still finds what was issued


def test_count_and_put_counts_in_a_fixed_window_and_stores_the_values(store: EphemeralStore) -> None:
    async def hits() -> list[tuple[int, int]]:
        return [await store.count_and_put("rate", "c", 60, [Put("at", f"t{i}", {"i": i}, 30)]) for i in range(3)]

    counts = asyncio.run(hits())
    assert [count for count, _ in counts] == [1, 2, 3]
    assert all(0 < remaining <= 60 for _, remaining in counts)
    assert [store.get("at", f"t{i}") for i in range(3)] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert 0 < (store.ttl("at", "t0") or 0) <= 30


def test_get_many_reads_several_keys_in_order(store: EphemeralStore) -> None:
    store.put_many([Put("a", "1", {"v": 1}, 60), Put("b", "2", {"v": 2}, 60)])
    values = asyncio.run(store.get_many([("a", "1"), ("a", "absent"), ("b", "2")]))
    assert values == [{"v": 1}, None, {"v": 2}]


def test_get_all_reads_several_keys_in_order(store: EphemeralStore) -> None:
    store.put_many([Put("a", "1", {"v": 1}, 60), Put("b", "2", {"v": 2}, 60)])
    assert store.get_all([("b", "2"), ("a", "absent"), ("a", "1")]) == [{"v": 2}, None, {"v": 1}]
    assert store.get_all([]) == []


def test_write_many_puts_deletes_and_adds_to_sets_in_order(store: EphemeralStore) -> None:
    store.put("a", "gone", {"v": 0}, 60)
    store.write_many([Put("a", "1", {"v": 1}, 60), Delete("a", "gone"), Delete("a", "absent"),
                      SetAdd("idx", "acct", "s1", 60), Put("a", "1", {"v": 2}, 30)])
    assert store.get_all([("a", "1"), ("a", "gone")]) == [{"v": 2}, None]
    assert 0 < (store.ttl("a", "1") or 0) <= 30
    assert store.set_members("idx", "acct") == {"s1"}
    assert 0 < (store.ttl("idx", "acct") or 0) <= 60
    store.write_many([])


def test_unreachable_redis_fails_the_async_operations_as_store_unavailable() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/0", "x:")
    with pytest.raises(StoreUnavailable):
        asyncio.run(store.count_and_put("rate", "c", 60, []))
    with pytest.raises(StoreUnavailable):
        asyncio.run(store.get_many([("a", "1")]))


def test_a_burst_larger_than_the_async_pool_waits_for_connections(request: pytest.FixtureRequest) -> None:
    store = RedisStore.from_url(request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"),
                                max_connections=3)

    async def burst() -> list[tuple[int, int]]:
        return await asyncio.gather(*[store.count_and_put("rate", "burst", 60, []) for _ in range(60)])

    counts = sorted(count for count, _ in asyncio.run(burst()))
    assert counts == list(range(1, 61))  # none failed for want of a connection
