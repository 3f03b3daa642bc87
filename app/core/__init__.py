"""Cross-cutting code that knows no domain: config, database, errors, HTTP helpers."""
