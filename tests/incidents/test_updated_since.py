"""`updated_since` is a time with an offset, as the parameter says: a time without one
would be read in the server's own time zone, and a number as a Unix timestamp."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from tests.core.test_errors import assert_problem

PATHS = ["/v1/incidents", "/v1/exports/incidents", "/v1/crossings/torkham/incidents"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01T00:00:00",  # no offset: was taken, in the server process's local zone
        "2024-01-01",  # a bare date: was taken as local midnight
        "0",  # was taken as 1970-01-01T00:00:00Z
        "1700000000",  # was taken as a Unix timestamp
        "-99999999999",
        "2024-01-01T00:00:00 ",
    ],
)
async def test_an_updated_since_without_an_offset_or_as_a_number_is_a_422(
    client: AsyncClient, path: str, value: str
) -> None:
    body = assert_problem(await client.get(path, params={"updated_since": value}), 422)
    assert [e["field"] for e in body["errors"]] == ["updated_since"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "value",
    ["2024-01-01T00:00:00Z", "2024-01-01T05:00:00+05:00", "2024-01-01T00:00:00.5-00:30"],
)
async def test_an_updated_since_with_an_offset_is_taken(
    client: AsyncClient, path: str, value: str
) -> None:
    r = await client.get(path, params={"updated_since": value})
    assert r.status_code == 200, r.text
