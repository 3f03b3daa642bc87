"""Tests of app/crossings."""
