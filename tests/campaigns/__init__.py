"""Tests of campaigns/ (``tests/campaigns``)."""
