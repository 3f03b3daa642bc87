"""Tests of app/exports."""
