"""Tests of limits/ (``tests/limits``)."""
