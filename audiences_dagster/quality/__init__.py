"""Data-quality suites that gate write-back: Great Expectations run inside the store's database."""

from audiences_dagster.quality.suites import SuiteResult, validate_unified_table

__all__ = ["SuiteResult", "validate_unified_table"]
