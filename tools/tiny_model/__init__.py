"""Builds the embedded tiny-shapes model (README.md). Run as `python3 -m tools.tiny_model.<module>` from the
repository root."""
