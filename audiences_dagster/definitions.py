"""The one entry point Dagster loads. The asset graph is built from audiences.yaml, found through
$AUDIENCES_CONFIG (default ./audiences.yaml)."""

import dagster as dg

from audiences_dagster.config import config_path, load_config
from audiences_dagster.defs import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    path = config_path()
    return build_definitions(load_config(path), str(path.resolve()))
