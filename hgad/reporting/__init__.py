"""Reporting: tables, figures and the README's results from the evaluation's files."""
