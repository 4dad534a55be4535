"""Tests of ops/ (``tests/ops``)."""
