"""Dates as Borderwatch counts them: calendar days in Asia/Karachi."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

KARACHI = ZoneInfo("Asia/Karachi")
BASELINE = date(2021, 8, 15)  # the Taliban took Kabul


def today_karachi() -> date:
    """Today's date in Pakistan, the day that "not in the future" is measured against."""
    return datetime.now(KARACHI).date()
