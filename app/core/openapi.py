"""OpenAPI helpers: schemas for the extra media types of an answer that one `model` cannot
describe (GeoJSON beside JSON, CSV and NDJSON text), declared beside the route."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"

# Models referenced by `ref` that no route names as its model; add_referenced() puts them
# into the document's components.
_REFERENCED: dict[str, type[BaseModel]] = {}


def ref(model: type[BaseModel]) -> dict[str, Any]:
    """A schema that refers to `model` in the components (where add_referenced puts it)."""
    _REFERENCED[model.__name__] = model
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


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
    _, top = models_json_schema(
        [(m, "serialization") for m in _REFERENCED.values()], ref_template=REF_TEMPLATE
    )
    for name, schema in top.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    return openapi
