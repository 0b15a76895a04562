"""Seeded random-weight Stable Diffusion 1.5 model for the scale tests (README.md). Run as
`python3 -m tools.sd15_random.<module>` from the repository root."""
