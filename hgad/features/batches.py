"""Training batches gathered from a feature cache onto the training device.

Two paths give identical batches (float32 [B, C, H_l, W_l] per level, rows in the order given):
- resident: every level array is copied to the device once (float16) and a batch is one
  ``index_select`` there; the default on CUDA when the cache fits in a fraction of free memory;
- streamed: the rows are gathered on the host from the memory-mapped arrays and copied to the
  device; on CUDA from pinned memory on a side stream, the next batch while the current one trains
  (on other devices, e.g. MPS, by a plain copy).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def fits_on_device(arrays: list[np.ndarray], device: torch.device, fraction: float) -> bool:
    """Whether the arrays take at most ``fraction`` of the free memory of a CUDA device."""
    if device.type != "cuda" or fraction <= 0:
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return sum(array.nbytes for array in arrays) <= fraction * free


class CacheBatches:
    """Batches of the level arrays ``arrays[l]`` [N, C, H_l, W_l] (float16) and of ``labels``
    [N] (int64) on ``device``."""

    def __init__(self, arrays: list[np.ndarray], labels: torch.Tensor, device: torch.device,
                 resident: bool):
        self.host = [*arrays, labels.numpy()]
        self.device = device
        self.resident = [torch.from_numpy(np.array(array)).to(device)
                         for array in self.host] if resident else None
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" and not resident else None

    def __call__(self, batches: list[np.ndarray]) -> Iterator[tuple[list[torch.Tensor],
                                                                    torch.Tensor]]:
        """For each index array [B] of ``batches``: (float32 features of every level, labels [B])
        on the device."""
        if self.resident is not None:
            # one copy of every index to the device, then no host-to-device traffic per batch
            everything = torch.from_numpy(np.concatenate(batches)).to(self.device)
            for index in everything.split([len(rows) for rows in batches]):
                yield self._split([part.index_select(0, index) for part in self.resident])
            return
        ahead = self._start(batches[0]) if batches else None
        for following in [*batches[1:], None]:
            current = ahead
            ahead = None if following is None else self._start(following)
            yield self._split(self._finish(current))

    def _start(self, rows: np.ndarray) -> list[torch.Tensor]:
        """Gather ``rows`` on the host and start their copy to the device."""
        host = [torch.from_numpy(array[rows]) for array in self.host]
        if self.stream is None:
            return [part.to(self.device) for part in host]  # the CPU: no copy
        with torch.cuda.stream(self.stream):
            return [part.pin_memory().to(self.device, non_blocking=True) for part in host]

    def _finish(self, moved: list[torch.Tensor]) -> list[torch.Tensor]:
        """Make the compute stream wait for the copy of :meth:`_start` (CUDA)."""
        if self.stream is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_stream(self.stream)
            for part in moved:
                part.record_stream(current)
        return moved

    @staticmethod
    def _split(parts: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        return [features.float() for features in parts[:-1]], parts[-1]
