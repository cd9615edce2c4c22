"""SMS senders. The development sender writes to the log (phone masked) and to an outbox file."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from identity_service.config import Settings

log = logging.getLogger(__name__)


class SmsUnavailable(Exception):
    """No SMS sender is configured, or it failed."""

    code = "sms_unavailable"


class SmsSender(Protocol):
    def send(self, phone: str, message: str) -> None:
        """Deliver ``message`` to ``phone`` (E.164) or raise :class:`SmsUnavailable`."""


def mask_phone(phone: str) -> str:
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:]


class DevelopmentSmsSender:
    """Never enabled in production (Settings refuses it)."""

    def __init__(self, outbox_path: Path) -> None:
        self.outbox_path = outbox_path
        self._lock = threading.Lock()

    def send(self, phone: str, message: str) -> None:
        entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "phone": phone, "message": message}
        with self._lock:
            self.outbox_path.parent.mkdir(parents=True, exist_ok=True)
            with self.outbox_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        log.warning("development SMS to %s: %s", mask_phone(phone), message)


class DisabledSmsSender:
    def send(self, phone: str, message: str) -> None:
        raise SmsUnavailable("no SMS sender is configured")


def read_outbox(path: Path, limit: int = 10) -> list[dict[str, Any]]:
    """The newest ``limit`` messages of the development outbox."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        lines = deque(handle, maxlen=limit)
    return [json.loads(line) for line in lines if line.strip()]


def make_sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_sender == "development":
        return DevelopmentSmsSender(settings.data_dir / "sms_outbox.jsonl")
    return DisabledSmsSender()
