"""Load audiences.yaml and turn every problem into one ConfigError naming file, path and cause."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from audiences_dagster.config.models import AudiencesConfig

CONFIG_ENV = "AUDIENCES_CONFIG"


class ConfigError(ValueError):
    """audiences.yaml is missing, unreadable or invalid; the message says where and what."""


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The config file: an explicit path, else $AUDIENCES_CONFIG, else ./audiences.yaml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or "audiences.yaml")


def load_config(path: str | os.PathLike | None = None) -> AudiencesConfig:
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found (set {CONFIG_ENV} or pass --config)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be read: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{file}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping (plan, store, sources, ...)")
    raw["base_dir"] = file.resolve().parent
    try:
        return AudiencesConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(file, exc)) from None


def _describe(file: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        path = _dotted(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        # Cross-field checks run on the whole model and put the dotted path in the message.
        lines.append(f"{file}: {path}: {message}" if path else f"{file}: {message}")
    return "\n".join(lines)


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
