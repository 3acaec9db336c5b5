"""Tests of the audit tooling: replay/backtest, SPECs, importers, HTML report."""
