"""A cursor of a crossing's incidents that carries a position this API never makes (a
distance that is not a finite number) is a 400, never a 500 or a silent restart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.core.config import cursor_key
from app.crossings.service import NearQuery
from tests.core.test_errors import assert_problem

SOME_ID = "01890000-0000-7000-8000-000000000000"


def signed(app: FastAPI, payload: str) -> str:
    """A cursor with this exact JSON payload, signed with the app's own key (what anyone
    holding that key, or a bug that made such a position, could send)."""
    secret = cursor_key(app.state.settings)
    key = hashlib.sha256(b"borderwatch-cursor\x00" + secret).digest()
    raw = payload.encode()
    mac = hmac.new(key, raw, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(raw + mac).decode().rstrip("=")


SCOPE = json.dumps("torkham:" + NearQuery().scope())


@pytest.mark.parametrize(
    ("distance", "incident_id"),
    [
        # An integer no float can hold: float() raised OverflowError, a 500. (Its digits
        # leave no room for a whole id within the 500 characters a cursor may have.)
        ("1" + "0" * 309, "x"),
        ("NaN", SOME_ID),  # was taken: every comparison with NaN is false, an empty page
        ("-Infinity", SOME_ID),  # was taken: the walk started over from the nearest
        ("Infinity", SOME_ID),
        ("true", SOME_ID),  # a bool is an int in Python
        ("-1", SOME_ID),
    ],
)
async def test_a_cursor_with_a_distance_that_is_not_a_finite_number_is_a_400(
    app: FastAPI, client: AsyncClient, distance: str, incident_id: str
) -> None:
    cursor = signed(app, f'[{distance},"{incident_id}",{SCOPE}]')
    assert len(cursor) <= 500  # within the parameter's own bound
    r = await client.get("/v1/crossings/torkham/incidents", params={"cursor": cursor})
    body = assert_problem(r, 400)
    assert body["type"].endswith("/bad-request")


async def test_a_well_formed_signed_position_is_still_taken(
    app: FastAPI, client: AsyncClient
) -> None:
    cursor = signed(app, f'[12.5,"{SOME_ID}",{SCOPE}]')
    r = await client.get("/v1/crossings/torkham/incidents", params={"cursor": cursor})
    assert r.status_code == 200, r.text
