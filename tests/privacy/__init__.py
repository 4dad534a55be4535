"""Tests of privacy/ (``tests/privacy``)."""
