"""Which audiences.yaml is read, and how each problem with it reads: file, dotted path, what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiences_dagster.config import ConfigError, config_path, load_config
from audiences_dagster_tests.config.documents import base, crm_source, write_config


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def test_an_explicit_config_path_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCES_CONFIG", "/srv/env/audiences.yaml")
    assert config_path("/srv/flag/audiences.yaml") == Path("/srv/flag/audiences.yaml")


def test_the_config_path_comes_from_audiences_config_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCES_CONFIG", "/srv/env/audiences.yaml")
    assert config_path() == Path("/srv/env/audiences.yaml")


def test_the_config_path_defaults_to_audiences_yaml_in_the_working_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIENCES_CONFIG", raising=False)
    assert config_path() == Path("audiences.yaml")


def test_a_config_named_by_audiences_config_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIENCES_CONFIG", str(write_config(tmp_path, base(batch_size=7))))
    assert load_config().batch_size == 7


def test_a_missing_config_file_is_named_with_how_to_name_another(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert config_error(path) == f"{path}: file not found (set AUDIENCES_CONFIG or pass --config)"


def test_a_config_file_that_is_not_utf8_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "audiences.yaml"
    path.write_bytes(b"plan: caf\xe9\n")
    assert config_error(path).startswith(f"{path}: cannot be read: 'utf-8' codec can't decode byte 0xe9")


def test_a_folder_given_as_the_config_cannot_be_read(tmp_path: Path) -> None:
    assert config_error(tmp_path).startswith(f"{tmp_path}: cannot be read: [Errno 21] Is a directory")


def test_a_utf8_config_file_with_accents_loads(tmp_path: Path) -> None:
    path = tmp_path / "audiences.yaml"
    path.write_bytes("store: {url: 'sqlite:///café.db'}\nsources:\n  crm: {kind: csv, entity: people, "
                     "path: crm.csv, unique_id: id, fields: {email: {column: email}}}\n".encode("utf-8"))
    assert load_config(path).store.url == "sqlite:///café.db"


def test_malformed_yaml_names_the_line_and_column_and_the_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, "plan: *growth\n")
    assert config_error(path) == f"{path}: line 1, column 7 is not valid YAML: found undefined alias 'growth'"


def test_a_control_character_in_the_file_is_reported_as_invalid_yaml(tmp_path: Path) -> None:
    path = write_config(tmp_path, "plan: \x07\n")
    assert config_error(path).startswith(
        f"{path}: is not valid YAML: unacceptable character #x0007: special characters are not allowed")


def test_a_top_level_list_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, "- store\n- sources\n")
    assert config_error(path) == f"{path}: the top level must be a mapping (plan, store, sources, ...)"


def test_an_empty_config_file_is_refused_as_not_a_mapping(tmp_path: Path) -> None:
    path = write_config(tmp_path, "")
    assert config_error(path) == f"{path}: the top level must be a mapping (plan, store, sources, ...)"


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"sources": {"crm": crm_source()}})
    assert config_error(path) == f"{path}: store: required key is missing"


def test_a_list_item_is_named_by_its_position(tmp_path: Path) -> None:
    path = write_config(tmp_path, base(identity={"extra_placeholders": ["n/a", 1]}))
    assert config_error(path) == f"{path}: identity.extra_placeholders[1]: Input should be a valid string"


def test_every_problem_in_the_file_is_reported_on_its_own_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, base(batch_size=0, max_text_length=8))
    assert config_error(path).splitlines() == [
        f"{path}: batch_size: Input should be greater than or equal to 1",
        f"{path}: max_text_length: Input should be greater than or equal to 16",
    ]


def test_a_rule_of_one_section_shows_without_the_value_error_prefix(tmp_path: Path) -> None:
    path = write_config(tmp_path, base(store={"url": "sqlite:///a.db", "url_env": "AUDIENCES_STORE_URL"}))
    assert config_error(path) == f"{path}: store: set exactly one of 'url' or 'url_env'"


def test_paths_in_the_config_resolve_against_its_folder_not_the_working_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "workspace").mkdir()
    path = write_config(tmp_path / "workspace", base())
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("workspace") / path.name).resolve_path("crm.csv") == \
        (tmp_path / "workspace" / "crm.csv").resolve()
