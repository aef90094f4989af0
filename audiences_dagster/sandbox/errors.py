"""Errors the sandbox answers with, in each CRM's own wire shape."""

from __future__ import annotations

import uuid


class SalesforceApiError(Exception):
    """Rendered as Salesforce's JSON array body: [{"message", "errorCode", "fields"}]."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict]:
        return [{"message": self.message, "errorCode": self.error_code, "fields": self.fields}]


class HubSpotApiError(Exception):
    """Rendered as HubSpot's error body: status, message, correlationId, category (and errors/context when known)."""

    def __init__(self, status: int, category: str, message: str, *, errors: list[dict] | None = None,
                 context: dict | None = None, sub_category: str | None = None) -> None:
        super().__init__(f"{category}: {message}")
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.context = context
        self.sub_category = sub_category

    def body(self) -> dict:
        body = {"status": "error", "message": self.message, "correlationId": str(uuid.uuid4()),
                "category": self.category}
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.errors is not None:
            body["errors"] = self.errors
        if self.context is not None:
            body["context"] = self.context
        return body


def hubspot_not_found(object_type: str, object_id: str) -> HubSpotApiError:
    return HubSpotApiError(404, "OBJECT_NOT_FOUND", "resource not found",
                           context={"id": [str(object_id)], "type": [object_type.upper()]})


class SandboxError(Exception):
    """A test hook was used wrongly (unknown object, missing record); the message says which and why."""
