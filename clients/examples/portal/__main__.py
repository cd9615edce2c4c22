"""``python -m clients.examples.portal``: the public service portal on http://localhost:8002."""

from __future__ import annotations

import uvicorn

from clients.examples.config import load_config
from clients.examples.portal.app import create_app


def main() -> None:
    config = load_config("PORTAL", "demo-portal", 8002)
    print(f"Public service portal: {config.base_url}  (provider {config.issuer})")
    uvicorn.run(create_app(config), host="127.0.0.1", port=config.port)


if __name__ == "__main__":
    main()
