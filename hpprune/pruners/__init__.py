"""Pruning policies, one module per family."""
