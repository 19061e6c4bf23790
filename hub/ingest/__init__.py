"""Ingest: inbound messages queued, parsed, committed in batches and only then acknowledged."""
