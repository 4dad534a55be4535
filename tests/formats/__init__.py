"""Tests of formats/ (``tests/formats``)."""
