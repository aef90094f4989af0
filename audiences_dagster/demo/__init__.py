"""Bundled demo workspace: a deterministic, deliberately messy data generator and its audiences.yaml."""

from audiences_dagster.demo.generator import demo_crm, generate_demo

__all__ = ["demo_crm", "generate_demo"]
