"""Tests of identity/ (``tests/identity``)."""
