"""Tests of projection/ (``tests/projection``)."""
