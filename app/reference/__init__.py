"""Reference data: provinces, districts, actors and the controlled vocabularies."""
