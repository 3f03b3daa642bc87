"""The parameters of the statistics, declared once: a query-parameter model per endpoint
(OpenAPI, validation) with the rules that need the reference tables or the calendar."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from app.core.clock import BASELINE, today_karachi
from app.core.errors import Invalid
from app.core.params import Codes, IsoDate, split_codes, unknown_codes
from app.reference.vocab import AttackType, CasualtyCategory, Kind, live_statuses
from app.stats.periods import MIN_DAYS, Period

GroupBy = Literal["province", "district", "perpetrator", "category", "attack_type", "kind", "none"]
EARLIEST = date(2001, 1, 1)
MAX_FUTURE_DAYS = 366
# Bounds on one answer: at most MAX_POINTS points (periods × the series a grouping can have).
MAX_POINTS = 200_000
MAX_SERIES = {
    "province": 20,
    "district": 150,
    "perpetrator": 60,
    "category": 5,
    "attack_type": 10,
    "kind": 4,
    "none": 1,
}
# Rollup column of each dimension filter.
FILTER_COLUMNS = {
    "province": "province_code",
    "district": "district_slug",
    "perpetrator": "perpetrator_slug",
    "attack_type": "attack_type",
    "kind": "kind",
    "status": "status",
}


class StatsRange(BaseModel):
    """The date range of a statistics answer, with its rules (every statistic takes it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: IsoDate = Field(BASELINE, description="First day (inclusive)")
    until: IsoDate | None = Field(
        None, description="Last day (inclusive); default today, Asia/Karachi"
    )

    @property
    def last_day(self) -> date:
        """`until`, or today when it was left out."""
        return self.until or today_karachi()

    def range_errors(self) -> list[dict[str, str]]:
        """Rules on the date range."""
        errors = []
        if self.since < EARLIEST:
            errors.append({"field": "since", "message": "must be 2001-01-01 or later"})
        if self.last_day > today_karachi() + timedelta(days=MAX_FUTURE_DAYS):
            errors.append({"field": "until", "message": "must be within a year from today"})
        if self.last_day < self.since:
            errors.append({"field": "until", "message": "must not be before since"})
        return errors


def too_many_points(q: StatsRange, period: Period, series: int) -> list[dict[str, str]]:
    """An error on `period` when `series` series of q's periods would pass MAX_POINTS."""
    periods = (q.last_day - q.since).days // MIN_DAYS[period] + 1
    if periods * series <= MAX_POINTS:
        return []
    return [
        {
            "field": "period",
            "message": f"too many points ({periods} periods x up to "
            f"{series} series); use a coarser period or a shorter range",
        }
    ]


class StatsFilters(StatsRange):
    """What the figures count: a date range and dimension filters. Multi-valued filters take
    comma-separated values, and a repeated parameter adds up."""

    province: Codes = Field([], description="Province codes, e.g. `PK-KP,PK-BA`")
    district: Codes = Field([], description="District slugs")
    perpetrator: Codes = Field([], description="Group slugs (see /v1/groups)")
    category: Annotated[list[CasualtyCategory], BeforeValidator(split_codes)] = Field(
        [], description="Count only these casualty categories"
    )
    attack_type: Annotated[list[AttackType], BeforeValidator(split_codes)] = []
    kind: Annotated[list[Kind], BeforeValidator(split_codes)] = []
    status: Annotated[list[str], BeforeValidator(split_codes), AfterValidator(live_statuses)] = (
        Field([], description="reported, verified, disputed")
    )

    def dimension_filters(self) -> dict[str, list[str]]:
        """The dimension filters that are set, by rollup column."""
        return {
            column: list(getattr(self, name))
            for name, column in FILTER_COLUMNS.items()
            if getattr(self, name)
        }


class FatalitiesQuery(StatsFilters):
    """The query of `GET /v1/stats/fatalities`."""

    period: Period = "month"
    group_by: GroupBy = "province"
    cumulative: bool = Field(False, description="Running totals instead of per-period figures")
    format: Literal["json", "csv"] = "json"

    def size_errors(self) -> list[dict[str, str]]:
        """Refuse answers of more than MAX_POINTS points."""
        return too_many_points(self, self.period, MAX_SERIES[self.group_by])


def named_codes(q: StatsFilters) -> dict[str, set[str]]:
    """The reference codes q names, by kind (province, district, perpetrator)."""
    return {kind: set(getattr(q, kind)) for kind in ("province", "district", "perpetrator")}


def check(q: StatsFilters, known: Mapping[str, Collection[str]]) -> None:
    """Invalid naming every parameter that breaks a rule; `known` holds the codes that exist,
    by kind."""
    errors = q.range_errors()
    if isinstance(q, FatalitiesQuery) and not errors:
        errors += q.size_errors()
    for kind in ("province", "district", "perpetrator"):
        if getattr(q, kind):
            errors += unknown_codes(kind, getattr(q, kind), known[kind])
    if errors:
        raise Invalid(errors)
