"""The threat model names real tests: every `file::test` it cites exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_cited_in_the_threat_model_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    cited: list[tuple[str, str | None]] = []
    current_file = ""
    for match in re.finditer(r"`((?:tests/[\w/]+\.py)|…)(?:::(\w+))?`", text):
        path, name = match.group(1), match.group(2)
        if path != "…":
            current_file = path
        cited.append((current_file, name))
    assert len(cited) > 20
    for path, name in cited:
        source = (ROOT / path).read_text(encoding="utf-8")
        if name:
            assert f"def {name}(" in source, f"{path}::{name} does not exist"
