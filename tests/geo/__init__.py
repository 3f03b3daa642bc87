"""Tests of app/geo."""
