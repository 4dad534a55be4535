"""Tests of ingest/ (``tests/ingest``)."""
