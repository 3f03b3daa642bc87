"""Tests of app/reference."""
