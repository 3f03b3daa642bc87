"""Every ORM model, imported once so that foreign keys between packages resolve."""

from app.audit import AuditEntry
from app.auth import ApiKey
from app.crossings.models import CrossingPoint, CrossingStatusEvent
from app.db import Base
from app.idempotency import IdempotencyKey
from app.incidents.models import Casualty, Incident, IncidentRevision, IncidentSource, IncidentTag
from app.reference.models import Actor, District, Province

__all__ = [
    "Actor",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Casualty",
    "CrossingPoint",
    "CrossingStatusEvent",
    "District",
    "IdempotencyKey",
    "Incident",
    "IncidentRevision",
    "IncidentSource",
    "IncidentTag",
    "Province",
]
