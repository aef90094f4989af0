"""Store and warehouse URLs can come from environment variables; they are never echoed back."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiences_dagster import cli
from audiences_dagster.config import load_config
from audiences_dagster.store.api import Store, StoreError
from audiences_dagster_tests.config.documents import base, write_config

SECRET_URL = "postgresql+psycopg2://postgres:s3cret@127.0.0.1:1/audiences"


def run_cli(path: Path, *args: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    monkeypatch.setenv("AUDIENCES_CONFIG", str(path))
    code = cli.main(["--config", str(path), *args])
    return code, capsys.readouterr().err


def test_broken_config_fails_before_the_store_is_created(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    path = write_config(tmp_path, base(batch_size=0))
    code, err = run_cli(path, "migrate", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2
    assert "batch_size" in err
    assert not (tmp_path / "store.db").exists()


def test_store_url_is_read_from_the_named_environment_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCES_STORE_URL", f"sqlite:///{tmp_path / 'secret-store.db'}")
    config = load_config(write_config(tmp_path, base(store={"url_env": "AUDIENCES_STORE_URL"})))
    store = Store.from_config(config)
    store.migrate()
    store.dispose()
    assert (tmp_path / "secret-store.db").exists()


def test_unset_store_url_variable_is_named_in_the_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("AUDIENCES_STORE_URL", raising=False)
    path = write_config(tmp_path, base(store={"url_env": "AUDIENCES_STORE_URL"}))
    code, err = run_cli(path, "migrate", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2
    assert "StoreError: store.url_env: environment variable AUDIENCES_STORE_URL is not set" in err


def test_store_url_from_the_environment_never_shows_its_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCES_STORE_URL", SECRET_URL)
    config = load_config(write_config(tmp_path, base(store={"url_env": "AUDIENCES_STORE_URL"})))
    with pytest.raises(StoreError, match="cannot reach the store") as caught:
        Store.from_config(config).migrate()
    assert "s3cret" not in str(caught.value)
