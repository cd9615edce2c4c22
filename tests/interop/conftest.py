"""Fixtures for this folder."""

from tests.live_provider import provider  # noqa: F401  (fixture)
