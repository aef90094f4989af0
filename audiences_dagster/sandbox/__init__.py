"""The local CRM sandbox: a Salesforce- and HubSpot-compatible HTTP server over its own SQLite file."""

from audiences_dagster.sandbox.server import Sandbox, running_sandbox

__all__ = ["Sandbox", "running_sandbox"]
