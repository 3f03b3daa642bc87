"""The contract: every read endpoint's real body, built by PostgreSQL or by Pydantic, validates
against the model its OpenAPI answer declares, with no unknown member anywhere (models that
allow extras are made strict here), so the SQL-built documents and the models cannot drift
apart; and every 200 answer in /openapi.json has a schema for each media type."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from httpx import AsyncClient, Response
from pydantic import BaseModel, ConfigDict, RootModel

from app.auth.schemas import KeyList
from app.crossings.schemas import CrossingDetail, CrossingIncidents, CrossingList, StatusHistory
from app.exports.schemas import ChangeFeed, ExportFeatureCollection, IncidentArray
from app.incidents.demo import seed_demo
from app.incidents.schemas import (
    HistoryOut,
    IncidentFeatureCollection,
    IncidentList,
    IncidentOut,
)
from app.reference.schemas import DistrictList, GroupList, ProvinceList, Vocabularies
from app.stats.schemas import FatalitiesOut, SummaryOut
from tests.support.dbutil import committed_site
from tests.support.payloads import incident

JSON, GEOJSON, NDJSON = "application/json", "application/geo+json", "application/x-ndjson"

_STRICT: dict[type[BaseModel], type[BaseModel]] = {}


def _strict_type(tp: Any) -> Any:
    """tp with every model in it replaced by its strict twin."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return strict(tp)
    origin = get_origin(tp)
    if origin is None or origin is Literal:
        return tp
    args = get_args(tp)
    if origin is Annotated:
        return Annotated[(_strict_type(args[0]), *tp.__metadata__)]
    new = tuple(_strict_type(a) for a in args)
    if new == args:
        return tp
    if origin in (Union, types.UnionType):
        return Union[new]  # noqa: UP007 (built from a tuple)
    return typing.cast(Any, origin)[new]


def strict(model: type[BaseModel]) -> type[BaseModel]:
    """A subclass of model, and of each model inside it, that refuses unknown members."""
    if model in _STRICT:
        return _STRICT[model]
    namespace: dict[str, Any] = {"__module__": __name__, "__annotations__": {}}
    if not issubclass(model, RootModel):
        namespace["model_config"] = ConfigDict(extra="forbid")
    for name, info in model.model_fields.items():
        tp = _strict_type(info.annotation)
        if tp is not info.annotation:
            namespace["__annotations__"][name] = tp
            namespace[name] = info  # keeps the default, alias and description
    _STRICT[model] = type(f"Strict{model.__name__}", (model,), namespace)
    return _STRICT[model]


def check(model: type[BaseModel], body: bytes | str) -> BaseModel:
    """Validate a JSON body in strict mode (no strings for numbers) with no unknown member."""
    return strict(model).model_validate_json(body, strict=True)


@dataclass
class Seeded:
    """The committed site, an admin key, and the incident that was written and corrected."""

    client: AsyncClient
    admin: dict[str, str]
    incident_id: str


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[Seeded]:
    """The demo data plus incidents written through the API: one near Torkham, corrected
    (history, `updated` in the feed), one deleted (a null incident in the feed)."""
    from app.auth.service import create_key

    async with committed_site(pool_size=4, max_overflow=0) as site:
        async with site.app.state.sessionmaker() as session:
            assert await seed_demo(session, synthetic=40) > 0
            _, admin = await create_key(session, "contract admin", "admin")
            await session.commit()
        torkham = incident(
            place_name="Torkham border crossing",
            location={"type": "Point", "coordinates": [71.09, 34.107]},
            district="khyber",
            crossing="torkham",
            fatality_range=None,
        )
        r = await site.client.post("/v1/incidents", json=torkham, headers=site.analyst)
        assert r.status_code == 201, r.text
        incident_id = r.json()["id"]
        r = await site.client.patch(
            f"/v1/incidents/{incident_id}",
            json={"description": "Corrected.", "tags": ["border"]},
            headers={
                **site.analyst,
                "If-Match": r.headers["ETag"],
                "Content-Type": "application/merge-patch+json",
            },
        )
        assert r.status_code == 200, r.text
        r = await site.client.post("/v1/incidents", json=incident(), headers=site.analyst)
        assert r.status_code == 201, r.text
        r = await site.client.delete(
            f"/v1/incidents/{r.json()['id']}", headers={**site.editor, "If-Match": '"1"'}
        )
        assert r.status_code == 204, r.text
        yield Seeded(site.client, {"Authorization": f"Bearer {admin}"}, incident_id)


async def get(site: Seeded, path: str, **params: Any) -> Response:
    r = await site.client.get(path, params=params, headers=site.admin)
    assert r.status_code == 200, (path, r.text)
    return r


async def openapi(site: Seeded) -> dict[str, Any]:
    return (await site.client.get("/openapi.json")).json()


def declared(doc: dict[str, Any], path: str, media: str) -> dict[str, Any]:
    """The schema the OpenAPI document declares for a GET's 200 answer in a media type."""
    content = doc["paths"][path]["get"]["responses"]["200"]["content"]
    return content[media]["schema"]


def refers_to(schema: dict[str, Any], model: type[BaseModel]) -> bool:
    return schema.get("$ref") == f"#/components/schemas/{model.__name__}"


READS: list[tuple[str, str, dict[str, Any], type[BaseModel]]] = [
    ("/v1/incidents", "/v1/incidents", {"limit": 5}, IncidentList),
    ("/v1/incidents", "/v1/incidents", {"limit": 500}, IncidentList),
    ("/v1/incidents/{incident_id}", "/v1/incidents/{id}", {}, IncidentOut),
    ("/v1/incidents/{incident_id}/history", "/v1/incidents/{id}/history", {}, HistoryOut),
    ("/v1/stats/fatalities", "/v1/stats/fatalities", {}, FatalitiesOut),
    (
        "/v1/stats/fatalities",
        "/v1/stats/fatalities",
        {"group_by": "category", "category": "police,civilians", "cumulative": "true"},
        FatalitiesOut,
    ),
    ("/v1/stats/fatalities", "/v1/stats/fatalities", {"group_by": "none"}, FatalitiesOut),
    ("/v1/stats/summary", "/v1/stats/summary", {}, SummaryOut),
    ("/v1/changes", "/v1/changes", {"limit": 1000}, ChangeFeed),
    ("/v1/changes", "/v1/changes", {"limit": 2}, ChangeFeed),
    ("/v1/crossings", "/v1/crossings", {}, CrossingList),
    ("/v1/crossings/{slug}", "/v1/crossings/torkham", {}, CrossingDetail),
    ("/v1/crossings/{slug}/status", "/v1/crossings/torkham/status", {}, StatusHistory),
    ("/v1/crossings/{slug}/incidents", "/v1/crossings/torkham/incidents", {}, CrossingIncidents),
    (
        "/v1/crossings/{slug}/incidents",
        "/v1/crossings/torkham/incidents",
        {"radius_km": 300},
        CrossingIncidents,
    ),
    ("/v1/provinces", "/v1/provinces", {}, ProvinceList),
    ("/v1/districts", "/v1/districts", {}, DistrictList),
    ("/v1/groups", "/v1/groups", {}, GroupList),
    ("/v1/vocabularies", "/v1/vocabularies", {}, Vocabularies),
    ("/v1/api-keys", "/v1/api-keys", {}, KeyList),
    ("/v1/exports/incidents", "/v1/exports/incidents", {"format": "json"}, IncidentArray),
]


@pytest.mark.parametrize(
    ("template", "path", "params", "model"),
    READS,
    ids=[f"{r[1]}?{'&'.join(f'{k}={v}' for k, v in r[2].items())}" for r in READS],
)
async def test_every_json_read_validates_against_its_declared_model(
    site: Seeded, template: str, path: str, params: dict[str, Any], model: type[BaseModel]
) -> None:
    assert refers_to(declared(await openapi(site), template, JSON), model)
    r = await get(site, path.format(id=site.incident_id), **params)
    assert r.headers["content-type"].startswith(JSON)
    check(model, r.content)


async def test_the_bodies_are_not_trivially_empty(site: Seeded) -> None:
    """The seeded data reaches every list, so the checks above saw real items."""
    page = await get(site, "/v1/incidents", limit=5)
    assert len(page.json()["items"]) == 5 and page.json()["next_cursor"]
    near = await get(site, "/v1/crossings/torkham/incidents")
    assert near.json()["items"]
    feed = (await get(site, "/v1/changes", limit=1000)).json()["items"]
    assert {c["op"] for c in feed} == {"created", "updated", "deleted"}
    history = (await get(site, f"/v1/incidents/{site.incident_id}/history")).json()
    assert len(history["items"]) == 2
    summary = (await get(site, "/v1/stats/summary")).json()
    assert summary["deadliest"] and summary["by_province"]


async def test_geojson_list_pages_validate_against_the_feature_collection(site: Seeded) -> None:
    assert refers_to(
        declared(await openapi(site), "/v1/incidents", GEOJSON), IncidentFeatureCollection
    )
    r = await get(site, "/v1/incidents", format="geojson", limit=5)
    assert r.headers["content-type"].startswith(GEOJSON)
    page = check(IncidentFeatureCollection, r.content)
    assert isinstance(page, IncidentFeatureCollection) and page.links and page.next_cursor
    last = await get(site, "/v1/incidents", format="geojson", limit=500)
    assert check(IncidentFeatureCollection, last.content).next_cursor is None


async def test_exports_validate_line_by_line_and_as_documents(site: Seeded) -> None:
    doc = await openapi(site)
    assert refers_to(declared(doc, "/v1/exports/incidents", GEOJSON), ExportFeatureCollection)
    assert declared(doc, "/v1/exports/incidents", NDJSON)["type"] == "string"
    ndjson = await get(site, "/v1/exports/incidents", format="ndjson")
    lines = ndjson.text.splitlines()
    assert len(lines) > 40
    for line in lines:
        check(IncidentOut, line)
    geojson = await get(site, "/v1/exports/incidents", format="geojson")
    collection = check(ExportFeatureCollection, geojson.content)
    assert len(collection.features) == len(lines)


async def test_csv_answers_are_declared_as_text(site: Seeded) -> None:
    doc = await openapi(site)
    for path, media in [
        ("/v1/stats/fatalities", "text/csv"),
        ("/v1/exports/incidents", "text/csv; charset=utf-8"),
    ]:
        assert declared(doc, path, media)["type"] == "string"
    assert (await get(site, "/v1/stats/fatalities", format="csv")).text.startswith("key,label")
    assert (await get(site, "/v1/exports/incidents", format="csv")).text.startswith("id,")


async def test_every_200_answer_has_a_schema_for_each_media_type(site: Seeded) -> None:
    doc = await openapi(site)
    schemas = doc["components"]["schemas"]
    missing = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            answer = operation["responses"].get("200")
            if answer is None:
                continue
            assert answer.get("content"), (method, path)
            for media, spec in answer["content"].items():
                schema = spec.get("schema") or {}
                if "$ref" in schema:
                    assert schema["$ref"].rsplit("/", 1)[1] in schemas, (path, schema)
                elif not {"type", "anyOf", "oneOf", "allOf"} & schema.keys():
                    missing.append(f"{method.upper()} {path} {media}")
    assert not missing, missing


def test_strict_twins_refuse_unknown_members_at_any_depth() -> None:
    """The checker itself: an extra member deep inside an incident is caught."""
    body = json.loads(incident_document_example())
    check(IncidentOut, json.dumps(body))
    body["casualties"][0]["extra"] = 1
    with pytest.raises(ValueError, match="extra"):
        check(IncidentOut, json.dumps(body))


def incident_document_example() -> str:
    return json.dumps(
        {
            **incident(),
            "id": "0b0b3c2e-6a8f-4a57-9d8e-6ad7c33c7a21",
            "killed_total": 84,
            "injured_total": 217,
            "is_synthetic": False,
            "version": 1,
            "created_by": None,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00+00:00",
        }
    )
