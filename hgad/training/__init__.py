"""Training from the feature cache: the loop, the optimisers, the learning-rate schedule."""
