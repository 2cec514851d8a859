"""Connectors: each normalises its channel's input and hands it to `ingest`."""
