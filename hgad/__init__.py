"""hgad-bench: a reproducible benchmark pipeline for HGAD (ECCV 2024).

The package is a set of plain functions with files in and files out; the Snakemake workflow
under ``workflow/`` calls them, but nothing here depends on Snakemake.
"""

import os
import sys

__version__ = "0.1.0"

# Operators Apple's MPS backend lacks run on the CPU (torch warns once per operator) instead of
# failing. torch reads this once, when it is imported, so it is set here, before hgad imports
# torch; the workflow's jobs inherit it from the Snakemake process, which imports hgad first.
# hgad.runtime.device warns on MPS when torch was imported before (the fallback is then off).
torch_imported_first = "torch" in sys.modules and "PYTORCH_ENABLE_MPS_FALLBACK" not in os.environ
os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
