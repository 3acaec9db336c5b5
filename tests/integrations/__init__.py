"""Tests of the front-door integrations (Optuna, Ray Tune)."""
