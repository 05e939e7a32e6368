"""The project folder, the SQLite store, domain records and JSONL import/export (no Qt, no torch)."""
