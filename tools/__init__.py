"""Model-building tools (Python with Debian's torch); never used at run time.

A package tree so the tools import each other without sys.path edits: run them as modules from the
repository root, e.g. `python3 -m tools.tiny_model.train --unet-minutes 90`.
"""
