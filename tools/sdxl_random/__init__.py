"""Seeded random-weight Stable Diffusion XL model in three layouts (make_model.py). Run as
`python3 -m tools.sdxl_random.<module>` from the repository root."""
