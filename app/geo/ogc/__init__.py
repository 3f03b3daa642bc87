"""OGC API – Features (Part 1 Core, GeoJSON, OpenAPI 3.0) at /ogc, as GDAL and QGIS read it."""
