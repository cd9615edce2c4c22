"""Fixtures for this folder."""

from tests.harness import harness  # noqa: F401  (fixture)
