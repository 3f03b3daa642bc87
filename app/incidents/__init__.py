"""Incidents: attacks, operations, clashes and strikes with their casualties and sources."""
