"""Tests of schema/ (``tests/schema``)."""
