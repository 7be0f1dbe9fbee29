"""Side-by-side benchmark of persist against its peers; run it with ``bash benchmarks/run``."""
