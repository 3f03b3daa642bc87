"""Tests of app/stats."""
