"""Tests of models/ (``tests/models``)."""
