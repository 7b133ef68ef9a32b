"""Training batches: the device-resident path and the streamed (prefetch) path agree exactly."""

from __future__ import annotations

import numpy as np
import torch

from hgad.features.batches import CacheBatches, fits_on_device
from hgad.features.cache import open_cache

CPU = torch.device("cpu")


def test_resident_and_streamed_batches_are_identical(caches):
    arrays = open_cache(caches.train)
    count = len(arrays[0])
    labels = torch.arange(count) % 2
    order = torch.randperm(count, generator=torch.Generator().manual_seed(0)).numpy()
    batches = [np.sort(order[i:i + 3]) for i in range(0, count, 3)]  # the last one is shorter
    streamed = list(CacheBatches(arrays, labels, CPU, resident=False)(batches))
    resident = list(CacheBatches(arrays, labels, CPU, resident=True)(batches))
    assert len(streamed) == len(resident) == len(batches)
    for rows, (features_a, classes_a), (features_b, classes_b) in zip(batches, streamed, resident,
                                                                        strict=True):
        assert torch.equal(classes_a, labels[rows]) and torch.equal(classes_b, labels[rows])
        for level, array in enumerate(arrays):
            expected = torch.from_numpy(array[rows]).float()
            assert features_a[level].dtype == features_b[level].dtype == torch.float32
            assert torch.equal(features_a[level], expected)
            assert torch.equal(features_b[level], expected)


def test_resident_only_on_cuda(caches):
    assert not fits_on_device(open_cache(caches.train), CPU, fraction=1.0)
