"""Demo data: the real sample incidents shipped with the package, and flagged synthetic ones."""

from __future__ import annotations

import csv
import random
import uuid
from datetime import date, timedelta
from importlib import resources

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import BASELINE, today_karachi
from app.incidents.reads import existing_ids
from app.incidents.writes import NewIncident, Source, insert_incidents
from app.reference.models import District
from app.reference.vocab import VOCABULARIES

# Ids derived from the row itself, so that seeding twice stores each incident once.
DEMO_NAMESPACE = uuid.UUID("5b0c1f3e-6a55-4f7e-9d0c-2d1f0b6a7c11")
CATEGORIES = VOCABULARIES["casualty_category"]
# Synthetic incidents cluster around the crossings (read by table name: the crossings
# package sits above this one).
_CROSSING_ANCHORS = text(
    "SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat, province_code, district_slug "
    "FROM crossing_points ORDER BY slug"
)


def sample_incidents() -> list[NewIncident]:
    """The real attacks of app/incidents/data/sample_incidents.csv."""
    text = (
        resources.files("app.incidents")
        .joinpath("data/sample_incidents.csv")
        .read_text(encoding="utf-8")
    )
    out = []
    for row in csv.DictReader(text.splitlines()):
        casualties = {
            c: (int(row[f"killed_{c}"]), int(row[f"injured_{c}"]))
            for c in CATEGORIES
            if int(row[f"killed_{c}"]) or int(row[f"injured_{c}"])
        }
        out.append(
            NewIncident(
                id=uuid.uuid5(DEMO_NAMESPACE, f"sample:{row['date']}:{row['place']}"),
                occurred_on=date.fromisoformat(row["date"]),
                lon=float(row["lon"]),
                lat=float(row["lat"]),
                place_name=row["place"],
                province=row["province"],
                district=row["district"] or None,
                attack_type=row["attack_type"],
                target_type=row["target_type"],
                perpetrator=row["perpetrator"],
                attribution=row["attribution"],
                casualties=casualties,
                sources=[Source(url=row["source_url"])],
                description=row["notes"] or None,
                geo_precision="town",
            )
        )
    return out


async def synthetic_incidents(session: AsyncSession, n: int, seed: int = 1) -> list[NewIncident]:
    """`n` random incidents near real districts and crossings, flagged `is_synthetic`.

    They are tagged `synthetic` as well, so that no one mistakes them for reported events.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    places = [
        (r.slug, r.province_code)
        for r in (
            await session.execute(
                select(District.slug, District.province_code).where(
                    District.province_code.in_(["PK-KP", "PK-BA"])
                )
            )
        )
    ]
    anchors = [
        (r.lon, r.lat, r.province_code, r.district_slug)
        for r in await session.execute(_CROSSING_ANCHORS)
    ]
    days = (today_karachi() - BASELINE).days
    items = []
    for i in range(n):
        lon, lat, province, district = rng.choice(anchors)
        if rng.random() < 0.5:
            district, province = rng.choice(places)
        killed = {c: rng.choice([0, 0, 1, 2, 3, 5, 8]) for c in rng.sample(CATEGORIES, 2)}
        items.append(
            NewIncident(
                id=uuid.uuid5(DEMO_NAMESPACE, f"synthetic:{seed}:{i}"),
                occurred_on=BASELINE + timedelta(days=rng.randrange(days + 1)),
                lon=round(lon + rng.uniform(-0.3, 0.3), 5),
                lat=round(lat + rng.uniform(-0.3, 0.3), 5),
                province=province,
                district=district,
                geo_precision="district",
                attack_type=rng.choice(VOCABULARIES["attack_type"]),
                target_type=rng.choice(VOCABULARIES["target_type"]),
                perpetrator=rng.choice(
                    ["ttp", "ttp", "ttp", "iskp", "bla", "hafiz-gul-bahadur", "unknown"]
                ),
                casualties={c: (k, rng.randrange(0, 3 * k + 2)) for c, k in killed.items()},
                sources=[Source(url="https://example.org/synthetic")],
                description="Synthetic demo incident; not a real event.",
                tags=["synthetic"],
                is_synthetic=True,
            )
        )
    return items


async def seed_demo(session: AsyncSession, synthetic: int = 0, batch: int = 2000) -> int:
    """Store the sample (and synthetic) incidents not yet stored; returns how many were added."""
    items = sample_incidents() + (
        await synthetic_incidents(session, synthetic) if synthetic else []
    )
    added = 0
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        present = await existing_ids(session, [n.id for n in chunk])
        fresh = [n for n in chunk if n.id not in present]
        await insert_incidents(session, fresh)
        await session.commit()
        added += len(fresh)
    return added
