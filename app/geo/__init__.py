"""Geography: boundaries, vector tiles, OGC API Features."""
