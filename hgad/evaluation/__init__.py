"""Evaluation: anomaly maps, class conditioning, metrics, the kNN baseline."""
