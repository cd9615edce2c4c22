"""Reading the development SMS outbox the way a citizen reads a text message: the newest one's code."""

from __future__ import annotations

import json
from pathlib import Path


def last_sms_code(outbox: Path) -> str:
    """The six-digit one-time code in the newest message of ``outbox`` (``sms_outbox.jsonl``)."""
    message = json.loads(outbox.read_text(encoding="utf-8").strip().splitlines()[-1])["message"]
    return next(w.strip(".") for w in message.split() if w.strip(".").isdigit() and len(w.strip(".")) == 6)
