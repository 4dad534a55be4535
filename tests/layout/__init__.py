"""Tests of the layout of cdp/ itself (``tests/layout``)."""
