"""OpenAPI helpers: schemas for the extra media types of an answer that one `model` cannot
describe (GeoJSON beside JSON, CSV and NDJSON text), declared beside the route."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"

Mode = Literal["validation", "serialization"]
# Models referenced by `ref` that no route names as its model, with the side they describe
# (a request body is validated, an answer serialized); add_referenced() puts them into the
# document's components.
_REFERENCED: dict[str, tuple[type[BaseModel], Mode]] = {}


def ref(model: type[BaseModel], mode: Mode = "serialization") -> dict[str, Any]:
    """A schema that refers to `model` in the components (where add_referenced puts it)."""
    _REFERENCED[model.__name__] = (model, mode)
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def documented_body(model: type[BaseModel], media_type: str = "application/json") -> dict[str, Any]:
    """`openapi_extra` of a route that reads its body itself (core.params.json_body): the
    body is documented as `model` though FastAPI does not parse it, so that the route can
    report shape and reference errors together."""
    schema = ref(model, "validation")
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def text_body(description: str, format_: str | None = None) -> dict[str, Any]:
    """The schema of a text body (CSV, NDJSON) that a JSON Schema cannot describe row by row."""
    schema: dict[str, Any] = {"type": "string", "description": description}
    if format_:
        schema["format"] = format_
    return {"schema": schema}


def add_referenced(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the schemas of every model that `ref` named to the document's components,
    keeping those that FastAPI generated already."""
    if not _REFERENCED:
        return openapi
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    _, top = models_json_schema(list(_REFERENCED.values()), ref_template=REF_TEMPLATE)
    for name, schema in top.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    return openapi
