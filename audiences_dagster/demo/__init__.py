"""Bundled demo workspace: a deterministic, deliberately messy data generator and its audiences.yaml."""

from audiences_dagster.demo.generator import generate_demo

__all__ = ["generate_demo"]
