"""Vigil's service spine: event models, ingest adapters, correlation, the Faust app and the CLI."""
