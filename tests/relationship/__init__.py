"""Tests of relationship/ (``tests/relationship``)."""
