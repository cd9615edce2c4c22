"""Ending every browser session of an account at once (lock, revoke, death).

Sessions live in the ephemeral store under random ids with no per-account index (Redis has no
cheap "keys of this account"), so instead of finding them we record, per account, the moment
before which none of its sessions count any more. The session manager checks it on every use; the
marker lives as long as the longest session, after which nothing older can exist anyway.
"""

from __future__ import annotations

import time

from identity_service.storage.ephemeral import EphemeralStore

_CUTOFF = "session_cutoff"


def cut_off_sessions(store: EphemeralStore, account_id: str, session_ttl: int) -> None:
    """Every session of ``account_id`` started before now ends (OWASP ASVS 3.3.1: logout on lock)."""
    store.put(_CUTOFF, account_id, {"at": time.time()}, session_ttl)


def session_is_cut_off(store: EphemeralStore, account_id: str, started_at: float | None) -> bool:
    """True when a session that started at ``started_at`` (None: unknown, so old) was ended."""
    marker = store.get(_CUTOFF, account_id)
    if marker is None:
        return False
    return started_at is None or started_at <= float(marker["at"])
