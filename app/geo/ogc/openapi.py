"""The OpenAPI 3.0 document of /ogc (conformance class oas30): made from the routes' own
description, which FastAPI writes in OpenAPI 3.1, with the few 3.1 constructs it uses
rewritten the 3.0 way, so that the document and the routes cannot drift apart."""

from __future__ import annotations

from typing import Any

from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from app.core.errors import document_problems
from app.core.openapi import add_referenced

OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"

# The OGC API way to write bbox: one parameter, comma-separated (form style, not exploded).
BBOX_PARAMETER = {
    "name": "bbox",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
}


def _nullable(schema: dict[str, Any], options: list[Any]) -> dict[str, Any]:
    """`anyOf: [X, {type: null}]` (3.1) as X with `nullable: true` (3.0)."""
    rest = [o for o in options if o != {"type": "null"}]
    out = {k: v for k, v in schema.items() if k != "anyOf"}
    if len(rest) == 1 and "$ref" not in rest[0]:
        out.update(rest[0])
    elif len(rest) == 1:
        out["allOf"] = rest
    else:
        out["anyOf"] = rest
    if len(rest) < len(options):
        out["nullable"] = True
    return out


def to_30(node: Any) -> Any:
    """A JSON Schema 2020-12 / OpenAPI 3.1 fragment rewritten as OpenAPI 3.0 Schema."""
    if isinstance(node, list):
        return [to_30(n) for n in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        return {"$ref": node["$ref"]}  # OpenAPI 3.0 ignores what stands beside a $ref
    node = {k: to_30(v) for k, v in node.items()}
    if isinstance(node.get("anyOf"), list):
        node = _nullable(node, node["anyOf"])
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        node["nullable"] = len(types) < len(node["type"]) or node.get("nullable", False)
        node["type"] = types[0] if types else "string"
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list) and "schema" not in node:
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for bound in ("Minimum", "Maximum"):
        value = node.get(f"exclusive{bound}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[bound.lower()] = value
            node[f"exclusive{bound}"] = True
    if "prefixItems" in node:
        items = node.pop("prefixItems")
        node["items"] = items[0] if items else {}
        node.setdefault("minItems", len(items))
        node.setdefault("maxItems", len(items))
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _only(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The document's paths under `prefix`, written from there (`/collections`, as OGC API
    clients look them up: QGIS finds a collection's parameters under
    `/collections/{id}/items`), and the schemas they refer to."""
    doc["paths"] = {
        p.removeprefix(prefix) or "/": v
        for p, v in doc.get("paths", {}).items()
        if p == prefix or p.startswith(prefix + "/")
    }
    schemas = doc.get("components", {}).get("schemas", {})
    wanted, todo = set(), _refs(doc["paths"])
    while todo:
        name = todo.pop()
        if name not in wanted and name in schemas:
            wanted.add(name)
            todo |= _refs(schemas[name])
    doc["components"]["schemas"] = {k: v for k, v in schemas.items() if k in wanted}
    return doc


def document(
    routes: list[BaseRoute], prefix: str, title: str, version: str, server: str
) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the app's paths under `prefix`, for clients that reach
    them at `server` + `prefix`."""
    doc = get_openapi(
        title=title,
        version=version,
        openapi_version="3.0.3",
        description="OGC API – Features (Part 1: Core, GeoJSON, OpenAPI 3.0) over Borderwatch.",
        routes=routes,
        servers=[{"url": server + prefix}],
    )
    doc = to_30(_only(document_problems(add_referenced(doc)), prefix))
    assert isinstance(doc, dict)
    doc["openapi"] = "3.0.3"
    limit = None
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            parameters = operation.get("parameters", [])
            for n, parameter in enumerate(parameters):
                if parameter.get("name") == "bbox" and parameter.get("in") == "query":
                    parameters[n] = {**BBOX_PARAMETER, "description": parameter.get("description")}
                elif parameter.get("schema", {}).get("minItems"):
                    # A pair such as near=lon,lat is one comma-separated value.
                    parameter.update(style="form", explode=False)
                elif parameter.get("name") == "limit" and parameter.get("in") == "query":
                    limit = parameter
    if limit is not None:
        # Where QGIS reads the largest and the default page size.
        doc["components"].setdefault("parameters", {})["limit"] = limit
    return doc
