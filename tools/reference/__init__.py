"""Reference fixtures straight from PyTorch (test/fixtures/reference/). Run as
`python3 -m tools.reference.<module>` from the repository root."""
