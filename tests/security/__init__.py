"""Tests of security/ (``tests/security``)."""
