"""Every ORM model, imported once so that foreign keys between packages resolve."""

from app.auth import ApiKey
from app.crossings.models import CrossingPoint, CrossingStatusEvent
from app.db import Base
from app.incidents.models import Casualty, Incident, IncidentRevision, IncidentSource, IncidentTag
from app.reference.models import Actor, District, Province

__all__ = [
    "Actor",
    "ApiKey",
    "Base",
    "Casualty",
    "CrossingPoint",
    "CrossingStatusEvent",
    "District",
    "Incident",
    "IncidentRevision",
    "IncidentSource",
    "IncidentTag",
    "Province",
]
