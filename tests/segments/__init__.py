"""Tests of segments/ (``tests/segments``)."""
