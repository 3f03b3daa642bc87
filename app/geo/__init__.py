"""Geography for GIS clients: boundaries, vector tiles and OGC API – Features."""
