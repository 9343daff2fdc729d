"""Reliability suites: hostile endpoints, SSRF, faults, fuzzing, secrets and soak."""
