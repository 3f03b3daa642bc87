"""Response models of the statistics (documents built by app/stats/service.py)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from app.incidents.schemas import IncidentOut
from app.stats.filters import GroupBy
from app.stats.periods import Period


class Exact(BaseModel):
    """Base of the statistics models: they describe the answers exactly."""

    model_config = ConfigDict(extra="forbid")


class Totals(Exact):
    """Killed, injured and incidents counted."""

    killed: int
    injured: int
    incidents: int


class PeriodPoint(Totals):
    """One period of a series; `start` and `end` are clipped to `since` and `until`."""

    period: str = Field(examples=["2023-01", "2023-W05", "2023-Q1"])
    start: date
    end: date


class Series(Exact):
    """One line of the chart: a value of `group_by`, every period zero-filled."""

    key: str | None = Field(description="Code of the group; null for `none` and no district")
    label: str
    totals: Totals
    points: list[PeriodPoint]


class AppliedFilters(Exact):
    """The filters that were applied (only those given)."""

    province: list[str] = []
    district: list[str] = []
    perpetrator: list[str] = []
    category: list[str] = []
    attack_type: list[str] = []
    kind: list[str] = []
    status: list[str] = []


class FatalitiesOut(Exact):
    """Fatalities by period and group (SPEC "GET /v1/stats/fatalities")."""

    since: date
    until: date
    period: Period
    group_by: GroupBy
    cumulative: bool
    filters: AppliedFilters
    totals: Totals
    series: list[Series]


class SummaryEntry(Totals):
    """Totals of one category, province or group."""

    key: str
    label: str


class SummaryOut(Exact):
    """Totals over the range (by default since the baseline), by category, province and group."""

    since: date
    until: date
    filters: AppliedFilters
    totals: Totals
    by_category: list[SummaryEntry]
    by_province: list[SummaryEntry]
    by_perpetrator: list[SummaryEntry]
    deadliest: IncidentOut | None = Field(description="The incident with the most killed")
    latest_incident_on: date | None


FATALITIES_CSV = (
    "One row per series and period, with a header row: "
    "key,label,period,start,end,killed,injured,incidents"
)
