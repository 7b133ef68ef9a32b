"""Prediction: a model file on new images, with what training records for it."""
