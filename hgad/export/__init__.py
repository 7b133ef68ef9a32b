"""Exports of anomaly maps in the formats of external evaluation servers."""
