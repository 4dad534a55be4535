"""Tests of cli/ (``tests/cli``)."""
