"""Geography: boundaries, vector tiles and OGC API Features over the incidents."""
