"""Tests of app/ (``tests/app``)."""
