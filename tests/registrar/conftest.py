"""Fixtures for this folder."""

from tests.harness import harness  # noqa: F401  (fixture)
from tests.registrar.desk import desk  # noqa: F401  (fixture)
