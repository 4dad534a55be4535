"""Tests of customers/ (``tests/customers``)."""
