"""Datasets: manifests for each on-disk layout, the demo generator, image and mask loading."""
