"""Tests of graph/ (``tests/graph``)."""
