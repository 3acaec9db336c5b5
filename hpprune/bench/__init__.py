"""Benchmark harness: learning-curve sources, simulator, baselines and metrics."""
