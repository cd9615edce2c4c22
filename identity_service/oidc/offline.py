"""Offline runs of authlib: on the event loop, where no storage hook may block.

A hot request whose hooks need no I/O (a ``client_credentials`` grant by a cached client) runs
authlib directly on the event loop: no threadpool hop. Hooks that would need storage call
:func:`require_online` first; in an offline run it raises :class:`StorageNeeded` and the endpoint
reruns the request in the threadpool, where every hook may block. The flag is a context variable,
so it belongs to the one asyncio task running offline and is never seen by threadpool threads.

One hook has an asynchronous form: the refresh grant's one-statement rotation. Offline, it stops the
run with :class:`RotationNeeded` once the client is authenticated and the request validated; the
endpoint awaits the rotation and finishes the same grant
(:meth:`~identity_service.oidc.server.IdentityAuthorizationServer.finish_refresh`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_OFFLINE: ContextVar[bool] = ContextVar("oauth_offline", default=False)


class StorageNeeded(Exception):
    """An offline run reached a hook that needs blocking storage I/O: rerun it in the threadpool."""


class RotationNeeded(StorageNeeded):
    """An offline refresh grant got as far as rotating ``token``: the endpoint may rotate it on the
    event loop and finish ``grant``, or, like any :class:`StorageNeeded`, rerun it in the threadpool."""

    def __init__(self, grant: Any, token: str, client_id: str) -> None:
        super().__init__()
        self.grant = grant
        self.token = token
        self.client_id = client_id


def is_offline() -> bool:
    return _OFFLINE.get()


def require_online() -> None:
    """Called by hooks before blocking I/O: in an offline run, stop it (:class:`StorageNeeded`)."""
    if _OFFLINE.get():
        raise StorageNeeded()


@contextmanager
def offline_run(offline: bool) -> Iterator[None]:
    state = _OFFLINE.set(offline)
    try:
        yield
    finally:
        _OFFLINE.reset(state)
