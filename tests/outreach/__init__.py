"""Tests of outreach/ (``tests/outreach``)."""
