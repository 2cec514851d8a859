"""The OpenAPI document: valid, complete, and true to what the endpoints answer."""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Route

from inbox.api.routes import routes
from inbox.runtime import Runtime
from tests.conftest import World
from tests.test_api_support import bearer, new_conversation


async def _document(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json", headers=bearer(world, "ana"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert isinstance(doc, dict)
    return doc


async def test_openapi_validates_and_lists_every_route(
    client: httpx.AsyncClient, world: World
) -> None:
    doc = await _document(client, world)
    validate(doc)  # raises on any violation of OpenAPI 3.1
    assert doc["openapi"] == "3.1.0"

    served = set()
    for route in routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET
                served.add((method.lower(), path))
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    contract = {
        ("get", "/me"), ("get", "/inboxes"), ("get", "/conversations"),
        ("get", "/conversations/{id}"), ("post", "/conversations/{id}/claim"),
        ("post", "/conversations/{id}/release"), ("post", "/conversations/{id}/resolve"),
        ("post", "/conversations/{id}/reopen"), ("post", "/conversations/{id}/assign"),
        ("post", "/conversations/{id}/messages"), ("get", "/customers/{id}"),
        ("get", "/customers/{id}/timeline"), ("get", "/openapi.json"),
    }  # fmt: skip
    assert contract <= documented


async def test_every_operation_documents_its_errors_and_schemas(
    client: httpx.AsyncClient, world: World
) -> None:
    doc = await _document(client, world)
    schemas = doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            where = f"{method} {path}"
            assert op["summary"] and op["operationId"], where
            assert "401" in op["responses"], where
            if "{id}" in path:
                assert "404" in op["responses"], where
            if method == "post":
                assert {"400", "403", "413", "422"} <= set(op["responses"]), where
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                # Request bodies are closed: unknown fields are refused.
                assert schemas[ref.rsplit("/", 1)[1]]["additionalProperties"] is False, where
    post = doc["paths"]["/conversations/{id}/messages"]["post"]
    assert "201" in post["responses"] and post["requestBody"]["required"] is True
    claim = doc["paths"]["/conversations/{id}/claim"]["post"]
    assert claim["requestBody"]["required"] is False and "409" in claim["responses"]
    listing = doc["paths"]["/conversations"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "view",
        "status",
        "inbox_id",
        "cursor",
        "limit",
    }
    assert "secrets" not in str(schemas["InboxOut"])


def _check(doc: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The response body fits the schema the document gives for its status."""
    op = doc["paths"][path][method]
    schema = op["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": doc["components"]})
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert errors == [], (method, path, response.status_code, errors)


async def test_real_responses_match_the_documented_schemas(
    client: httpx.AsyncClient, rt: Runtime, world: World
) -> None:
    doc = await _document(client, world)
    conv_id = await new_conversation(rt, world.email_inbox.id, email="maria@example.test")
    ana = bearer(world, "ana")
    base = f"/api/v1/conversations/{conv_id}"
    note = await client.post(f"{base}/messages", json={"kind": "note", "text": "n"}, headers=ana)
    _check(doc, "/conversations/{id}/messages", "post", note)
    claim = await client.post(f"{base}/claim", headers=ana)
    _check(doc, "/conversations/{id}/claim", "post", claim)
    clash = await client.post(f"{base}/claim", headers=bearer(world, "ben"))
    _check(doc, "/conversations/{id}/claim", "post", clash)
    detail = await client.get(base, headers=ana)
    _check(doc, "/conversations/{id}", "get", detail)
    customer_id = detail.json()["conversation"]["customer_id"]

    gets = {
        "/me": "/api/v1/me",
        "/inboxes": "/api/v1/inboxes",
        "/conversations": "/api/v1/conversations?status=any",
        "/customers/{id}": f"/api/v1/customers/{customer_id}",
        "/customers/{id}/timeline": f"/api/v1/customers/{customer_id}/timeline",
        "/openapi.json": "/api/v1/openapi.json",
    }
    for documented, url in gets.items():
        response = await client.get(url, headers=ana)
        assert response.status_code == 200, url
        _check(doc, documented, "get", response)
    unknown = await client.post(f"{base}/messages", json={"kind": "x", "text": 1}, headers=ana)
    _check(doc, "/conversations/{id}/messages", "post", unknown)
    anonymous = await client.get("/api/v1/me")
    _check(doc, "/me", "get", anonymous)


async def test_openapi_needs_an_agent_like_every_endpoint(
    client: httpx.AsyncClient, world: World
) -> None:
    assert (await client.get("/api/v1/openapi.json")).status_code == 401
