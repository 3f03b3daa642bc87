"""fatality_series (migration 0006_stats_answers): blocks of 64 days, weeks or months kept
equal to fatality_dim by its triggers, and the answers read from them: where each point
comes from (app/stats/series.py's layout), the decoding of the blocks, and rows read that do
not grow with the number of incidents. The answers themselves are compared with the
incidents in test_stats_paths.py and test_stats_machine.py."""

from __future__ import annotations

from datetime import date

from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.stats import plan, series
from app.stats.filters import FatalitiesQuery
from app.stats.series import layout, unit
from tests.support.keys import Keys
from tests.support.payloads import incident

# fatality_series unpacked, against fatality_dim's non-zero buckets: rows in either only.
SERIES_DRIFT = text("""
    WITH unpacked AS (
        SELECT dims, grain, province_code, value1, value2, kind, status,
               block * 64 + n::int - 1 AS unit, k, i, c
          FROM fatality_series, unnest(killed, injured, incidents) WITH ORDINALITY AS u(k, i, c, n)
         WHERE k <> 0 OR i <> 0 OR c <> 0
    ), dim AS (
        SELECT dims, grain, province_code, value1, value2, kind, status,
               CASE grain WHEN 'day' THEN start - DATE '2001-01-01'
                          WHEN 'week' THEN (start - DATE '2001-01-01') / 7
                          ELSE (extract(year FROM start)::int - 2001) * 12
                               + extract(month FROM start)::int - 1 END,
               killed, injured, incidents
          FROM fatality_dim WHERE killed <> 0 OR injured <> 0 OR incidents <> 0
    )
    SELECT (SELECT count(*) FROM (SELECT * FROM unpacked EXCEPT SELECT * FROM dim) a)
         + (SELECT count(*) FROM (SELECT * FROM dim EXCEPT SELECT * FROM unpacked) b)""")


def test_units_count_days_weeks_and_months_from_monday_1_january_2001() -> None:
    assert unit(date(2001, 1, 1), "day") == 0
    assert unit(date(2001, 1, 7), "week") == 0
    assert unit(date(2001, 1, 8), "week") == 1
    assert unit(date(2023, 5, 17), "month") == 22 * 12 + 4
    for grain in ("day", "week", "month"):
        n = unit(date(2024, 2, 29), grain)
        assert unit(series.first_day(n, grain), grain) == n
        assert unit(series.first_day(n + 1, grain), grain) == n + 1


def test_whole_weeks_are_runs_of_one_window_and_clipped_ones_their_days() -> None:
    thursday, tuesday = date(2022, 11, 17), date(2023, 1, 3)
    lay = layout(thursday, tuesday, "week")
    week, day = unit(date(2022, 11, 21), "week"), unit(thursday, "day")
    assert lay.windows == (
        ("day", day, day + 4),  # Thursday 17 to Sunday 20 November
        ("day", unit(date(2023, 1, 2), "day"), unit(tuesday, "day") + 1),
        ("week", week, week + 6),  # 21 November to 1 January
    )
    assert lay.pieces == ((False, ((0, 0, 4),)), (True, ((2, 0, 6),)), (False, ((1, 0, 2),)))


def test_a_quarter_clipped_mid_month_is_its_days_and_whole_months() -> None:
    lay = layout(date(2021, 8, 15), date(2022, 6, 30), "quarter")
    aug = unit(date(2021, 8, 15), "day")
    sep = unit(date(2021, 9, 1), "month")
    assert lay.windows == (("day", aug, aug + 17), ("month", sep, sep + 10))
    # Q3 2021: 15-31 August and September; then three whole quarters of three months.
    assert lay.pieces == (
        (False, ((1, 0, 1), (0, 0, 17))),
        (False, ((1, 1, 4),)),
        (False, ((1, 4, 7),)),
        (False, ((1, 7, 10),)),
    )


def test_a_range_inside_one_month_is_read_by_day() -> None:
    lay = layout(date(2023, 3, 5), date(2023, 3, 9), "month")
    assert lay.windows == (("day", unit(date(2023, 3, 5), "day"), unit(date(2023, 3, 10), "day")),)
    assert lay.pieces == ((False, ((0, 0, 5),)),)


def test_pairs_of_fine_dimensions_by_day_are_not_in_the_blocks() -> None:
    def by_week(since: date) -> FatalitiesQuery:
        return FatalitiesQuery(
            period="week",
            group_by="district",
            perpetrator=["ttp"],
            since=since,
            until=date(2023, 1, 1),
        )

    whole, clipped = by_week(date(2022, 11, 21)), by_week(date(2022, 11, 17))
    single = FatalitiesQuery(period="day", group_by="district", since=date(2023, 1, 1))
    assert series.usable(whole, plan.fine(whole))
    assert not series.usable(clipped, plan.fine(clipped))
    assert series.usable(single, plan.fine(single))


async def test_blocks_decode_as_postgresql_sends_them(db: AsyncSession) -> None:
    values = [[0, 7, 2**40], [1, 0, 2**62], [3, 9, 0]]
    sent = (
        await db.execute(
            text(
                "SELECT array_send(CAST(:k AS bigint[])) || array_send(CAST(:i AS bigint[]))"
                " || array_send(CAST(:c AS bigint[]))"
            ),
            {"k": values[0], "i": values[1], "c": values[2]},
        )
    ).scalar_one()
    assert series._counts(sent) == (3, (0, 7, 2**40, 1, 0, 2**62, 3, 9, 0))


async def test_the_blocks_follow_fatality_dim_through_statements_of_many_buckets(
    db: AsyncSession,
) -> None:
    """Several positions of one block in one statement (a batch, a date moved), a new block
    and an existing one, then an update that takes buckets down to zero."""
    await db.execute(text("DELETE FROM fatality_series"))
    await db.execute(text("DELETE FROM fatality_dim"))
    rows = ", ".join(
        f"('district', 'day', DATE '{day}', 'PK-KP', 'peshawar', 'attack', 'reported', {k}, 1, 1)"
        for day, k in (("2023-05-17", 3), ("2023-05-18", 4), ("2023-05-20", 0), ("2024-01-02", 9))
    )
    await db.execute(
        text(
            "INSERT INTO fatality_dim (dims, grain, start, province_code, value1, kind, status,"
            f" killed, injured, incidents) VALUES {rows}"
        )
    )
    assert (await db.execute(SERIES_DRIFT)).scalar_one() == 0
    await db.execute(
        text(
            "UPDATE fatality_dim SET killed = killed + 2, injured = 0, incidents = 0"
            " WHERE start IN ('2023-05-17', '2023-05-20')"
        )
    )
    assert (await db.execute(SERIES_DRIFT)).scalar_one() == 0
    n = unit(date(2023, 5, 17), "day")
    killed, injured = (
        await db.execute(
            text("SELECT killed, injured FROM fatality_series WHERE block = :b"), {"b": n // 64}
        )
    ).one()
    assert killed[n % 64 : n % 64 + 4] == [5, 4, 0, 2]
    assert injured[n % 64 : n % 64 + 4] == [0, 1, 0, 0]


async def test_a_big_answer_reads_as_many_rows_however_many_incidents_it_counts(
    client: AsyncClient, db: AsyncSession, keys: Keys
) -> None:
    """Week x district: a row per district and block, not per non-zero week and district
    (the weeks from 30 January to 25 June 2023 are all in block 18)."""
    q = FatalitiesQuery(
        period="week", group_by="district", since=date(2023, 1, 30), until=date(2023, 6, 25)
    )
    sql, args = series.statement(q, plan.fine(q))

    async def rows_read() -> int:
        conn = await db.connection()
        raw = await conn.get_raw_connection()
        return len(await raw.driver_connection.fetch(sql, *args))

    async def post(days: list[str]) -> None:
        body = {"incidents": [incident(occurred_on=d) for d in days]}
        r = await client.post("/v1/incidents:batch", json=body, headers=keys.editor)
        assert r.status_code == 201, r.text

    await post(["2023-02-01"])
    few = await rows_read()
    await post([f"2023-{m:02d}-{d:02d}" for m in range(2, 7) for d in (3, 11, 19, 24)])
    assert await rows_read() == few == 2  # the data version, and peshawar's block
