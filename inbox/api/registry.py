"""One declaration per endpoint, from which both routing and the OpenAPI document come.

An `Endpoint` names its method, path, request and response models and the
errors it may answer with. `Registry.routes()` turns each into a Starlette
route whose wrapper does the parts every endpoint shares: authenticate,
parse and validate input, call the handler, check and serialise its result.
`inbox.api.openapi` reads the same declarations, so the two can't drift.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.errors import NotFound
from inbox.models import Agent
from inbox.runtime import Runtime
from inbox.views.requests import require_agent, runtime
from inbox.views.uploads import is_multipart

from .bodies import read_json
from .schemas import MAX_ID

M = TypeVar("M", bound=BaseModel)
Method = Literal["GET", "POST"]
Handler = Callable[["Call"], Awaitable[BaseModel]]

# `{id:int}` in a Starlette path; OpenAPI spells it `{id}`.
PATH_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


@dataclass(frozen=True)
class Call:
    """What a handler gets: the request, who is asking, and already-validated input."""

    request: Request
    agent: Agent
    body: BaseModel | None
    query: BaseModel | None

    @property
    def rt(self) -> Runtime:
        return runtime(self.request)

    def path_id(self, what: str) -> int:
        """The `{id}` path parameter; an id too large to exist is simply not found."""
        value = self.request.path_params["id"]
        assert isinstance(value, int)  # the route's `:int` convertor guarantees it
        if value > MAX_ID:
            raise NotFound(f"{what} not found")
        return value

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model), "handler asked for a body it did not declare"
        return self.body

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model), "handler asked for a query it did not declare"
        return self.query


@dataclass(frozen=True)
class Endpoint:
    method: Method
    path: str
    summary: str
    handler: Handler
    response: type[BaseModel]
    tag: str
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # Beyond 401 (every endpoint) and the ones implied by a body, query or path id.
    errors: tuple[int, ...] = ()
    # Also takes `multipart/form-data` with these fields (documented); the
    # handler reads that form itself (its limits depend on the target) and
    # finds `call.body` None.
    form: type[BaseModel] | None = None

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def description(self) -> str:
        return inspect.getdoc(self.handler) or self.summary

    @property
    def openapi_path(self) -> str:
        return PATH_PARAM.sub(r"{\1}", self.path)

    def path_params(self) -> list[tuple[str, str]]:
        """(name, convertor) for each path parameter, in order."""
        return [(m[1], m[2] or "str") for m in PATH_PARAM.finditer(self.path)]

    def error_statuses(self) -> list[int]:
        found = {401, *self.errors}
        if self.body is not None:
            # Malformed JSON; too large; fails validation; CSRF on a cookie session.
            found |= {400, 403, 413, 422}
        if self.query is not None:
            found |= {422}
        if self.path_params():
            found |= {404}
        return sorted(found)

    def route(self) -> Route:
        return Route(self.path, self._view, methods=[self.method], name=self.operation_id)

    async def _view(self, request: Request) -> Response:
        # Credentials first, so an anonymous caller learns nothing about input rules.
        agent = require_agent(request)
        query = None
        if self.query is not None:
            # Empty values count as absent, as in `?cursor=`.
            params = {k: v for k, v in request.query_params.items() if v != ""}
            query = self.query.model_validate(params)
        body = None
        if self.body is not None and not (self.form is not None and is_multipart(request)):
            body = self.body.model_validate(await read_json(request))
        try:
            result = await self.handler(Call(request, agent, body, query))
        except ValidationError as exc:
            if self.form is not None and exc.title == self.form.__name__:
                raise  # the form the handler reads itself: the client's 422
            # Input was validated above, so this is our own output failing its
            # schema: a server bug, never the client's 422.
            raise RuntimeError(f"{self.operation_id} built an invalid response") from exc
        if not isinstance(result, self.response):
            raise TypeError(f"{self.operation_id} returned {type(result).__name__}")
        return JSONResponse(result.model_dump(mode="json"), self.status)


@dataclass
class Registry:
    """Every API endpoint, in declaration order."""

    endpoints: list[Endpoint] = field(default_factory=list)

    def register(self, *endpoints: Endpoint) -> None:
        for endpoint in endpoints:
            key = (endpoint.method, endpoint.openapi_path)
            if any((e.method, e.openapi_path) == key for e in self.endpoints):
                raise ValueError(f"{endpoint.method} {endpoint.path} is registered twice")
            self.endpoints.append(endpoint)

    def extend(self, endpoints: Iterable[Endpoint]) -> None:
        self.register(*endpoints)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self.endpoints)

    def routes(self) -> list[BaseRoute]:
        return [endpoint.route() for endpoint in self.endpoints]
