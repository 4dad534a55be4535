"""The cdp benchmark: bulk load, full customer view over HTTP, and references.

Run with ``make bench`` (1,000,000 customers) or ``make bench-small``;
``bench/run.py`` orchestrates, the other modules each measure one thing.
"""
