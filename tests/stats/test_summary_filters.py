"""The summary takes the filters of the fatality series, and agrees with them."""

from __future__ import annotations

from httpx import AsyncClient

from tests.core.test_errors import assert_problem
from tests.support.keys import Keys
from tests.support.payloads import incident


async def _post(client: AsyncClient, keys: Keys, **over: object) -> None:
    r = await client.post("/v1/incidents", json=incident(**over), headers=keys.analyst)
    assert r.status_code == 201, r.text


async def test_summary_filters_change_its_totals_as_fatalities_do(
    client: AsyncClient, keys: Keys
) -> None:
    await _post(client, keys)
    await _post(
        client,
        keys,
        province="PK-BA",
        district="quetta",
        location={"type": "Point", "coordinates": [66.99, 30.18]},
        kind="security_operation",
        perpetrator="bla",
        casualties=[{"category": "militants", "killed": 7, "injured": 0}],
        fatality_range=None,
    )
    for params in (
        {"province": "PK-BA"},
        {"kind": "attack"},
        {"perpetrator": "bla"},
        {"category": "police"},
        {"since": "2023-01-01", "until": "2023-12-31", "province": "PK-KP,PK-BA"},
    ):
        summary = (await client.get("/v1/stats/summary", params=params)).json()
        series = await client.get(
            "/v1/stats/fatalities", params={**params, "group_by": "none", "period": "year"}
        )
        assert summary["totals"] == series.json()["totals"], params
        assert summary["filters"] == series.json()["filters"], params
    everything = (await client.get("/v1/stats/summary")).json()
    balochistan = (await client.get("/v1/stats/summary", params={"province": "PK-BA"})).json()
    assert balochistan["totals"]["killed"] < everything["totals"]["killed"]
    assert {e["key"] for e in balochistan["by_province"]} == {"PK-BA"}
    assert balochistan["deadliest"]["province"] == "PK-BA"


async def test_summary_refuses_bad_filters_by_name(client: AsyncClient) -> None:
    for params, field in (
        ({"province": "PK-XX"}, "province"),
        ({"kind": "raid"}, "kind"),
        ({"status": "retracted"}, "status"),
        ({"since": "2024-02-01", "until": "2024-01-01"}, "until"),
    ):
        body = assert_problem(await client.get("/v1/stats/summary", params=params), 422)
        assert [e["field"] for e in body["errors"]] == [field], body
