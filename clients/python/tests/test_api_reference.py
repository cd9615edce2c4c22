"""The generated API reference (docs/api.md) covers the public surface and matches the code."""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import identity_client
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build_api_reference.py"


def _builder() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("build_api_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sections(markdown: str) -> dict[str, str]:
    """``## `module` `` → the text of that section."""
    parts = re.split(r"^## `([\w.]+)`$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_reference_documents_every_name_in_dunder_all_with_its_docstring() -> None:
    reference = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = _sections(reference)["identity_client"]
    documented = re.findall(r"^### `(\w+)`$", section, flags=re.MULTILINE)
    assert sorted(documented) == sorted(identity_client.__all__)
    for name in identity_client.__all__:
        summary = (getattr(identity_client, name).__doc__ or "").strip().splitlines()[0]
        assert summary and summary in section, f"{name}'s docstring is missing from the reference"


def test_reference_documents_the_login_helper_and_integrations() -> None:
    sections = _sections((ROOT / "docs" / "api.md").read_text(encoding="utf-8"))
    for module, names in _builder().PUBLIC_MODULES.items():
        if names is None:
            continue
        assert sorted(re.findall(r"^### `(\w+)`$", sections[module], flags=re.MULTILINE)) == sorted(names)
    assert "#### `LoginHelper.logout_url(id_token: str" in sections["identity_client.login"]


def test_committed_reference_is_what_the_builder_generates() -> None:
    assert _builder().main(["--check"]) == 0, "docs/api.md is stale: run scripts/build_api_reference.py"


def test_a_public_name_without_a_docstring_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    builder = _builder()
    fake = types.ModuleType("fake_public_module", "A module whose one public function is undocumented.")

    def undocumented() -> None:
        pass

    fake.undocumented = undocumented  # type: ignore[attr-defined]
    fake.__all__ = ["undocumented"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_public_module", fake)
    monkeypatch.setattr(builder, "PUBLIC_MODULES", {"fake_public_module": None})
    with pytest.raises(ValueError, match=r"undocumented.*no docstring"):
        builder.render()
