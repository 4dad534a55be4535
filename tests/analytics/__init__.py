"""Tests of analytics/ (``tests/analytics``)."""
