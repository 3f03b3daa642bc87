"""Every error is RFC 9457 problem+json, documented so in the OpenAPI description."""

from __future__ import annotations

from httpx import AsyncClient

PROBLEM = "application/problem+json"


def assert_problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


async def test_unknown_route_is_a_404_problem(client: AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/no-such-thing"), 404)
    assert body["instance"] == "/v1/no-such-thing"


async def test_wrong_method_is_a_405_problem(client: AsyncClient) -> None:
    r = await client.delete("/v1/provinces")
    assert_problem(r, 405)
    assert "GET" in r.headers["allow"]


async def test_bad_path_parameter_is_a_422_problem_naming_the_field(client: AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/crossings/Not A Slug"), 422)
    assert body["type"].endswith("/validation-error")
    assert [e["field"] for e in body["errors"]] == ["slug"]


async def test_overlong_query_parameter_is_a_422_problem(client: AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/districts", params={"province": "P" * 600}), 422)
    assert body["errors"][0]["field"] == "province"


async def test_problem_types_are_documented(client: AsyncClient) -> None:
    r = await client.get("/problems/validation-error")
    assert r.status_code == 200
    assert "422" in r.text
    assert_problem(await client.get("/problems/no-such-problem"), 404)


async def test_openapi_documents_every_error_as_problem_json(client: AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "Problem" in doc["components"]["schemas"]
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            errors = {c: r for c, r in op["responses"].items() if c[0] in "45"}
            assert {"4XX", "5XX"} <= set(errors), (path, method)
            for response in errors.values():
                assert list(response["content"]) == [PROBLEM], (path, method)
                checked += 1
    assert checked > 10


async def test_docs_page_is_served(client: AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert "swagger" in r.text.lower()
