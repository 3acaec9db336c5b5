"""Audit log: the append-only event log that is also the engine's state."""
