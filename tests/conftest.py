"""Shared fixtures: the real bundled model, loaded once per test session; isolated user dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from interviewer.embedding import Embedder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    e = Embedder("bundled")
    e.load()
    return e


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data dir and config file: nothing leaks into the real user's."""
    data = tmp_path / "data"
    monkeypatch.setenv("INTERVIEWER_DATA_DIR", str(data))
    monkeypatch.setenv("INTERVIEWER_CONFIG_FILE", str(tmp_path / "config.toml"))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "INTERVIEWER_CHROMA_URL", "INTERVIEWER_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    return data
