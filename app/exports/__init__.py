"""Bulk reads for researchers: the change feed (exports come next)."""
