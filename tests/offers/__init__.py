"""Tests of offers/ (``tests/offers``)."""
