"""Routes that describe themselves: each REST route is declared once with its models, and the
OpenAPI 3.1 document at ``/api/v1/openapi.json`` is built from those declarations."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from hitl_desk import __version__
from hitl_desk.errors import HitlError
from hitl_desk.models import ErrorResponse

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Operation:
    """One REST route and what it takes and gives."""

    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    response_is_list: bool = False
    status: int = 200
    also: tuple[tuple[int, str], ...] = ()
    """Other success statuses that answer with the same model, each with when it comes."""
    auth: str | None = "agent"
    errors: tuple[type[HitlError], ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)


class RouteTable:
    """Collects operations with a decorator, registers them on an app, writes the document."""

    def __init__(self, *tables: RouteTable) -> None:
        self.operations: list[Operation] = [op for table in tables for op in table.operations]

    def route(self, method: str, path: str, *, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        """Declare a route; keyword arguments are the fields of ``Operation``."""
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method, path, handler, summary, **kwargs))
            return handler
        return register

    def add_to(self, app: web.Application) -> None:
        """Add every declared route to the app's router."""
        for op in self.operations:
            app.router.add_route(op.method, op.path, op.handler)

    def serve_document(self, app: web.Application, path: str) -> None:
        """Serve this table's OpenAPI document (itself included) at ``path``."""
        async def openapi(request: web.Request) -> web.Response:
            return web.json_response(document)

        self.route("GET", path, summary="This OpenAPI document.", auth=None, tags=("meta",))(openapi)
        document = self.document()
        app.router.add_get(path, openapi)

    def document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document for every declared route."""
        schemas: dict[str, Any] = {}
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = self._operation(op, schemas)
        return {
            "openapi": "3.1.0",
            "info": {"title": "hitl-desk relay", "version": __version__,
                     "description": "Agents ask, a human answers. Errors are "
                                    '{"error": {"code", "message"}, "detail"}.'},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "deviceSignature": {"type": "apiKey", "in": "header", "name": "X-Hitl-Signature",
                                        "description": "A paired device's Ed25519 signature over the method, "
                                        "path, body hash, X-Hitl-Timestamp, X-Hitl-Nonce and X-Hitl-Device."},
                },
            },
        }

    def _operation(self, op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "summary": op.summary,
            "operationId": op.handler.__name__,
            "tags": list(op.tags),
            "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                           for name in re.findall(r"{(\w+)}", op.path)],
            "responses": {},
        }
        if op.query is not None:
            for name, spec in _schema(op.query, schemas).get("properties", {}).items():
                doc["parameters"].append({"name": name, "in": "query", "required": False, "schema": spec})
        if op.body is not None:
            doc["requestBody"] = {"required": op.body_required, "content": {
                "application/json": {"schema": _ref(op.body, schemas)}}}
        ok: dict[str, Any] = {"description": "Success"}
        if op.response is not None:
            schema = _ref(op.response, schemas)
            if op.response_is_list:
                schema = {"type": "array", "items": schema}
            ok["content"] = {"application/json": {"schema": schema}}
        doc["responses"][str(op.status)] = ok
        for status, when in op.also:
            doc["responses"][str(status)] = {**ok, "description": when}
        error_ref = {"content": {"application/json": {"schema": _ref(ErrorResponse, schemas)}}}
        statuses = {e.status for e in op.errors} | {400, 403, 413, 422}
        if op.auth:
            statuses.add(401)
            doc["security"] = [{"deviceSignature": []}] if op.auth == "device" else [{"apiKey": []}, {"bearer": []}]
        for status in sorted(statuses):
            doc["responses"][str(status)] = {"description": "Error", **error_ref}
        return doc


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    return schema


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schemas.setdefault(model.__name__, _schema(model, schemas))
    return {"$ref": f"#/components/schemas/{model.__name__}"}
