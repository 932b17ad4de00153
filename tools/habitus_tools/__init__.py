"""Offline tools for Habitus: the ``habitus`` command (datasets, demo, benchmarks, assets)."""
