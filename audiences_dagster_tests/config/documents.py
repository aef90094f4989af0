"""Small audiences.yaml documents for the config and secrets tests."""

from __future__ import annotations

from pathlib import Path

import yaml


def crm_source(**overrides: object) -> dict:
    source = {"kind": "csv", "entity": "people", "path": "crm.csv", "unique_id": "id",
              "fields": {"email": {"column": "email", "type": "email"}}}
    return {**source, **overrides}


def write_config(tmp_path: Path, document: dict | str) -> Path:
    path = tmp_path / "audiences.yaml"
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    path.write_text(text)
    return path


def base(**settings: object) -> dict:
    return {"store": {"url": "sqlite:///store.db"}, "sources": {"crm": crm_source()}, **settings}
