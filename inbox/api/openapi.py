"""The OpenAPI 3.1 document, generated from the endpoint registry and its pydantic models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .registry import Call, Endpoint, Registry
from .schemas import ErrorOut, OpenApiOut

REF_TEMPLATE = "#/components/schemas/{model}"

ERROR_MEANINGS = {
    400: "Malformed request: body is not JSON, a cursor is not one we issued, "
    "or the action refused the input",
    401: "No valid credentials: missing, wrong or revoked token, or a deactivated agent",
    403: "Not allowed for your role, or a cookie session without its CSRF token",
    404: "No such thing, or not visible to you (the two answer the same)",
    409: "The conversation's state moved on, e.g. already claimed by a colleague",
    413: "Request body larger than 1 MiB, or attachments beyond the inbox's limit",
    422: "Input failed validation: unknown field, wrong type or value out of range",
}

DESCRIPTION = """\
The shared inbox's JSON API.

Authenticate with `Authorization: Bearer inb_...` (each agent's API token).
A signed-in browser session works too, but then unsafe methods must send the
session's CSRF token in `X-CSRF-Token`.

Errors are `{"error": {"status", "message", "details"?}}`. Lists page by
keyset cursors: pass the `next_cursor` / `earlier_cursor` you were given.
"""


def _unique(models: Sequence[type[BaseModel]]) -> list[type[BaseModel]]:
    return list(dict.fromkeys(models))


def _query_parameters(model: type[BaseModel]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if "description" in prop:
            param["description"] = prop.pop("description")
        prop.pop("title", None)
        param["schema"] = prop
        params.append(param)
    return params, schema.get("$defs", {})


def _path_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0} if kind == "int" else {"type": "string"},
        }
        for name, kind in endpoint.path_params()
    ]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def build_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    keyed: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in _unique([e.body for e in endpoints if e.body])),
        *((m, "validation") for m in _unique([e.form for e in endpoints if e.form])),
        *((m, "serialization") for m in _unique([*(e.response for e in endpoints), ErrorOut])),
    ]
    refs, defs = models_json_schema(keyed, ref_template=REF_TEMPLATE)
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    error_ref = refs[(ErrorOut, "serialization")]

    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        parameters = _path_parameters(endpoint)
        if endpoint.query is not None:
            query_params, query_defs = _query_parameters(endpoint.query)
            parameters += query_params
            components.update(query_defs)
        responses: dict[str, Any] = {
            str(endpoint.status): {
                "description": endpoint.summary,
                "content": _json(refs[(endpoint.response, "serialization")]),
            }
        }
        for status in endpoint.error_statuses():
            responses[str(status)] = {
                "description": ERROR_MEANINGS[status],
                "content": _json(error_ref),
            }
        responses["401"]["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}
        }
        operation: dict[str, Any] = {
            "operationId": endpoint.operation_id,
            "summary": endpoint.summary,
            "description": endpoint.description,
            "tags": [endpoint.tag],
            "responses": responses,
        }
        if parameters:
            operation["parameters"] = parameters
        if endpoint.body is not None:
            operation["requestBody"] = {
                # A body with no required fields may be left out entirely.
                "required": any(f.is_required() for f in endpoint.body.model_fields.values()),
                "content": _json(refs[(endpoint.body, "validation")]),
            }
            if endpoint.form is not None:
                operation["requestBody"]["content"]["multipart/form-data"] = {
                    "schema": refs[(endpoint.form, "validation")]
                }
        paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {"title": "Inbox API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
        "tags": [{"name": t} for t in dict.fromkeys(e.tag for e in endpoints)],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "inbox_session"},
            },
        },
    }


def document_endpoint(registry: Registry) -> Endpoint:
    """The endpoint serving the document for everything in `registry`, itself included."""
    built: list[dict[str, Any]] = []

    async def get_openapi(call: Call) -> OpenApiOut:
        """This document, describing every endpoint with its request and response schemas."""
        if not built:  # the registry is complete by the time anyone asks
            built.append(build_document(list(registry)))
        return OpenApiOut.model_validate(built[0])

    return Endpoint(
        "GET", "/openapi.json", "The OpenAPI document", get_openapi, OpenApiOut, tag="meta"
    )
