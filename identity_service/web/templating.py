"""The Jinja2 templates of the pages: autoescaped HTML, loaded from the package."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

TEMPLATES_DIR = Path(__file__).with_name("templates")


def make_templates() -> Jinja2Templates:
    """Templates with autoescaping on for every file (all of them are HTML)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        auto_reload=False,  # templates ship with the package; skip the stat() per render
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=environment)
