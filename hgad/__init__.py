"""hgad-bench: a reproducible benchmark pipeline for HGAD (ECCV 2024).

The package is a set of plain functions with files in and files out; the Snakemake workflow
under ``workflow/`` calls them, but nothing here depends on Snakemake.
"""

__version__ = "0.1.0"
