"""Settings: environment variables, an optional TOML config file, XDG paths.

Precedence: command-line flag > environment (INTERVIEWER_*, OPENAI_*) > config file > default.
The config file lives at `<user config dir>/interviewer/config.toml` (see `interviewer config`).
"""

from __future__ import annotations

import codecs
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from platformdirs import user_config_dir, user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

APP = "interviewer"


class ConfigError(Exception):
    """A config file that exists but cannot be used; the message names it (and the line)."""


def config_dir() -> Path:
    return Path(os.environ.get("INTERVIEWER_CONFIG_DIR") or user_config_dir(APP))


def config_file() -> Path:
    return Path(os.environ.get("INTERVIEWER_CONFIG_FILE") or config_dir() / "config.toml")


def default_data_dir() -> Path:
    return Path(os.environ.get("INTERVIEWER_DATA_DIR") or user_data_dir(APP))


class Settings(BaseSettings):
    """Every knob, documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="INTERVIEWER_", extra="ignore")
    read_config: ClassVar[bool] = True  # False: flags and environment only (see _NoFileSettings)

    data_dir: Path = Field(default_factory=default_data_dir)
    chroma_url: str | None = None
    embedding_model: str = "bundled"
    # Chroma's rule for collection names, checked here so a bad name is a config error that
    # names the key, not an "unusable index" whose suggested --rebuild wipes a good one.
    collection: str = "passages"
    # LLM rubric
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = Field(30.0, gt=0, le=3600, allow_inf_nan=False)
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

    @field_validator("openai_base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"https?://[^/\s]", v.strip(), re.I):
            raise ValueError("an http:// or https:// URL, e.g. http://localhost:11434/v1")
        return v.strip() if v is not None else None

    @field_validator("data_dir", mode="before")
    @classmethod
    def _a_directory(cls, v: Any) -> Any:
        """'' would mean the current directory; '~/x' means the home directory's x."""
        if isinstance(v, str | Path):
            if not str(v).strip():
                raise ValueError("a directory path, not an empty string")
            return Path(str(v).strip()).expanduser()
        return v

    @field_validator("data_dir", mode="after")
    @classmethod
    def _not_a_file(cls, v: Path) -> Path:
        """Said once, as a setting, rather than as every store failing in its own words."""
        if v.exists() and not v.is_dir():
            raise ValueError(f"{v} is a file, not a directory")
        return v

    @field_validator("llm_model", "embedding_model")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a model name, not an empty string")
        return v.strip()

    @field_validator("collection")
    @classmethod
    def _chroma_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", v):
            raise ValueError(
                "a Chroma collection name: 3-512 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        return v

    @field_validator("llm_retries", "llm_timeout", mode="before")
    @classmethod
    def _no_booleans(cls, v: Any) -> Any:
        """`llm_retries = true` is a mistake, not 1."""
        if isinstance(v, bool):
            raise ValueError("a number is expected, not true/false")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if not cls.read_config:
            return (init_settings, env_settings)
        path = config_file()
        data = read_config_file(path)
        _warn_unknown_keys(path, data, settings_cls)
        return (init_settings, env_settings, InitSettingsSource(settings_cls, data))

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


class _NoFileSettings(Settings):
    """Settings from flags and environment alone: what `interviewer config` can still show
    when the config file is broken."""

    read_config: ClassVar[bool] = False


def load_settings(*, read_file: bool = True, **overrides: Any) -> Settings:
    """Settings with command-line overrides applied (None means 'not given'). Raises ConfigError
    for a config file that can't be read or parsed, ValidationError for a bad value."""
    cls = Settings if read_file else _NoFileSettings
    return cls(**{k: v for k, v in overrides.items() if v is not None})


def read_config_file(path: Path) -> dict[str, Any]:
    """The config file's top-level table; {} when there is no file. A UTF-8 BOM (Notepad writes
    one) is accepted; anything else that keeps the file from being used is a ConfigError, since
    a file silently ignored leaves the user guessing why a setting does nothing."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a TOML config file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        where = re.search(r" \(at line (\d+), column (\d+)\)$", msg)
        if where:
            msg = f"{msg[: where.start()]} (column {where.group(2)})"
            raise ConfigError(f"{path}:{where.group(1)}: not valid TOML: {msg}") from None
        raise ConfigError(f"{path}: not valid TOML: {msg}") from None


_warned: set[tuple[str, object]] = set()


def _warn_unknown_keys(path: Path, data: dict[str, Any], settings_cls: type[BaseSettings]) -> None:
    """Say once per process which keys of the file no setting reads: a typo is otherwise a
    setting silently not applied. Not an error, so a newer file still works with an older tool."""
    known: set[str] = set()
    for name, field in settings_cls.model_fields.items():
        known.add(name.lower())
        if isinstance(field.validation_alias, str):
            known.add(field.validation_alias.lower())
    holds_key = any(k.lower() in ("openai_api_key", "api_key") for k in data)
    if holds_key and (str(path), "key") not in _warned:
        _warned.add((str(path), "key"))
        print(f"warning: {path}: holds an API key; keep it in the OPENAI_API_KEY environment "
              "variable instead (a config file is easily shared or committed)", file=sys.stderr)
    unknown = tuple(k for k in data if k.lower() not in known)
    if unknown and (str(path), unknown) not in _warned:
        _warned.add((str(path), unknown))
        print(f"warning: {path}: unknown key(s) {', '.join(unknown)} — ignored", file=sys.stderr)
