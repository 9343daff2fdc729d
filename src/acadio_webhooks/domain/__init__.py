"""The pure domain: topics, patterns, signing, verification, models, retry policy, delivery core.

Nothing in this package performs I/O or imports an HTTP client or database driver.
"""
