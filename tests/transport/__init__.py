"""Tests of transport/ (``tests/transport``)."""
