"""Tests of app/incidents."""
