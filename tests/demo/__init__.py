"""Tests of demo/ (``tests/demo``)."""
