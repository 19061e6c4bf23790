"""campus-hub core: wiring, ingest, store, API and command line of the campus security edge hub."""
