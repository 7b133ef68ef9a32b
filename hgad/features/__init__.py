"""Frozen-backbone features: backbone construction, multi-scale extraction, the on-disk cache."""
