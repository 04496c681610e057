"""Settings: environment variables, an optional TOML config file, XDG paths.

Precedence: command-line flag > environment (INTERVIEWER_*, OPENAI_*) > config file > default.
The config file lives at `<user config dir>/interviewer/config.toml` (see `interviewer config`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir, user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP = "interviewer"


def config_dir() -> Path:
    return Path(os.environ.get("INTERVIEWER_CONFIG_DIR") or user_config_dir(APP))


def config_file() -> Path:
    return Path(os.environ.get("INTERVIEWER_CONFIG_FILE") or config_dir() / "config.toml")


def default_data_dir() -> Path:
    return Path(os.environ.get("INTERVIEWER_DATA_DIR") or user_data_dir(APP))


class Settings(BaseSettings):
    """Every knob, documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="INTERVIEWER_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    chroma_url: str | None = None
    embedding_model: str = "bundled"
    collection: str = "passages"
    # LLM rubric
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = Field(30.0, gt=0, le=3600)
    llm_retries: int = Field(2, ge=0, le=10)
    offline: bool = False
    # OpenAI-compatible endpoint: read from OPENAI_* as every client does.
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")

    @field_validator("openai_api_key", "openai_base_url", "chroma_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        """`export OPENAI_API_KEY=` means no key, as every other tool reads it."""
        return None if isinstance(v, str) and not v.strip() else v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
        )

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def user_corpus_dir(self) -> Path:
        return self.data_dir / "corpus"

    @property
    def history_db(self) -> Path:
        return self.data_dir / "history.sqlite3"

    @property
    def bank_encodings(self) -> Path:
        """The bank's texts, embedded once per machine and model (see Grader.warm)."""
        return self.data_dir / "bank-encodings.npz"

    @property
    def llm_cache_db(self) -> Path:
        return self.data_dir / "llm-cache.sqlite3"


def load_settings(**overrides: Any) -> Settings:
    """Settings with command-line overrides applied (None means 'not given')."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
