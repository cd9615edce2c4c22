"""Where an example relying party finds its provider and client credentials.

Environment first (``IDENTITY_ISSUER``, ``<PREFIX>_CLIENT_ID``, ``<PREFIX>_CLIENT_SECRET``,
``<PREFIX>_BASE_URL``); otherwise the demo credentials that ``identity-service serve`` writes to
``$IDENTITY_DATA_DIR/demo_credentials.json`` (``data/`` by default), so the examples run with no setup.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigurationError(RuntimeError):
    """The example cannot find its client credentials."""


@dataclass(frozen=True)
class RelyingPartyConfig:
    """One registered client of the provider, and where this app is reachable."""

    issuer: str
    client_id: str
    client_secret: str
    base_url: str

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/callback"

    @property
    def port(self) -> int:
        return urlsplit(self.base_url).port or 80


def demo_credentials(data_dir: Path | None = None) -> dict[str, Any]:
    """The provider's demo credentials file, or ``{}`` when there is none."""
    directory = data_dir or Path(os.environ.get("IDENTITY_DATA_DIR", "data"))
    path = directory / "demo_credentials.json"
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_config(prefix: str, default_client_id: str, default_port: int) -> RelyingPartyConfig:
    """Read ``<prefix>_*`` variables, falling back to the provider's demo client of that id."""
    client_id = os.environ.get(f"{prefix}_CLIENT_ID", default_client_id)
    secret = os.environ.get(f"{prefix}_CLIENT_SECRET")
    if secret is None:
        client = demo_credentials().get("clients", {}).get(client_id, {})
        secret = client.get("client_secret")
    if not secret:
        raise ConfigurationError(
            f"no secret for client {client_id!r}: set {prefix}_CLIENT_SECRET, or start `identity-service serve` "
            "in this directory first so it writes data/demo_credentials.json")
    return RelyingPartyConfig(
        issuer=os.environ.get("IDENTITY_ISSUER", "http://localhost:8000"),
        client_id=client_id,
        client_secret=secret,
        base_url=os.environ.get(f"{prefix}_BASE_URL", f"http://localhost:{default_port}").rstrip("/"),
    )
