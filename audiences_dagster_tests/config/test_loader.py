"""audiences.yaml errors name the file, the dotted path inside it and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiences_dagster.config import ConfigError, load_config
from audiences_dagster_tests.config.documents import base, crm_source, write_config


def config_error(tmp_path: Path, document: dict | str) -> tuple[Path, str]:
    path = write_config(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return path, str(caught.value)


def test_unknown_key_names_file_and_dotted_path(tmp_path: Path) -> None:
    document = base(sources={"crm": crm_source(fields={"email": {"colum": "email"}})})
    path, message = config_error(tmp_path, document)
    assert f"{path}: sources.crm.fields.email.colum: unknown key" in message


def test_unknown_plan_names_the_plan_key_and_the_choices(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, base(plan="platinum"))
    assert f"{path}: plan:" in message
    assert "'growth' or 'enterprise'" in message


def test_zero_batch_size_names_batch_size(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, base(batch_size=0))
    assert f"{path}: batch_size: Input should be greater than or equal to 1" in message


def test_conflicting_field_types_across_sources_name_both_sources(tmp_path: Path) -> None:
    other = crm_source(path="other.csv", fields={"email": {"column": "email", "type": "text"}})
    path, message = config_error(tmp_path, base(sources={"crm": crm_source(), "events": other}))
    assert f"{path}: sources.events.fields.email: type 'text' conflicts with 'email' in sources.crm" in message


def test_key_alias_pointing_at_an_unmapped_field_is_refused(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, base(sources={"crm": crm_source(keys={"email": "work_email"})}))
    assert message == f"{path}: sources.crm.keys.email: field 'work_email' is not mapped"


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    text = "store:\n  url: sqlite:///store.db\nsources:\n  crm: {kind: csv\n  other: 1\n"
    path, message = config_error(tmp_path, text)
    assert message.startswith(f"{path}: line 5,")
    assert "is not valid YAML" in message


def test_sql_source_without_query_is_refused(tmp_path: Path) -> None:
    warehouse = {"kind": "sql", "entity": "people", "url": "sqlite:///wh.db", "unique_id": "id",
                 "fields": {"email": {"column": "email", "type": "email"}}}
    path, message = config_error(tmp_path, base(sources={"wh": warehouse}))
    assert f"{path}: sources.wh: a sql source needs 'query'" in message


def test_missing_config_file_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found .*AUDIENCES_CONFIG"):
        load_config(tmp_path / "absent.yaml")


def test_unknown_csv_encoding_is_refused(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, base(sources={"crm": crm_source(encoding="utf-9")}))
    assert f"{path}: sources.crm.encoding: 'utf-9' is not a known text encoding" in message


def test_quarantine_limit_for_an_undeclared_source_is_refused(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, base(checks={"quarantine": {"by_source": {"events": 0.05}}}))
    assert message == f"{path}: checks.quarantine.by_source.events: not a declared source"


def test_a_share_above_one_names_its_path(tmp_path: Path) -> None:
    path, message = config_error(tmp_path, base(checks={"identity_key_coverage": {"people": 1.5}}))
    assert f"{path}: checks.identity_key_coverage.people: Input should be less than or equal to 1" in message


def test_check_thresholds_default_to_what_normal_crm_data_passes(tmp_path: Path) -> None:
    checks = load_config(write_config(tmp_path, base())).checks
    assert checks.identity_key_coverage == {"people": 0.5, "companies": 0.5}
    assert (checks.max_invalid_share, checks.quarantine.max_share) == (0.0, 0.01)
    assert checks.quarantine.limit("crm") == 0.01
