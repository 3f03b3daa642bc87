"""Fatality statistics: rollups kept exact by every write, and the queries that read them."""
