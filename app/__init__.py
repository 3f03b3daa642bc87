"""Borderwatch: an open incident-tracking API for Pakistan's border regions since August 2021."""

__version__ = "0.1.0"
