"""How the pages show times and identifiers: Vietnam time, and numbers masked to what a citizen needs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")  # UTC+7 all year (no daylight saving)


def local_time(value: datetime | int) -> str:
    """``2025-03-09 14:05`` in Vietnam time, from a datetime (naive means UTC) or epoch seconds."""
    if isinstance(value, int):
        moment = datetime.fromtimestamp(value, tz=UTC)
    else:
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM_TIME).strftime("%Y-%m-%d %H:%M")


def local_date(value: date) -> str:
    return value.isoformat()


def mask_cccd(cccd: str) -> str:
    """Province code and the last three digits: enough to recognise one's own number."""
    return f"{cccd[:3]}******{cccd[-3:]}"


def mask_phone(phone: str) -> str:
    """``+84*****678``: the country code and the last three digits."""
    return phone[:3] + "*" * max(len(phone) - 6, 0) + phone[-3:]
