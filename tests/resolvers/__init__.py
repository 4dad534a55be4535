"""Tests of resolvers/ (``tests/resolvers``)."""
