"""Multi-scale feature extraction (docs/method.md#features) into the cache.

The same backbone stage is applied to the image at ``levels`` scales: scale s resizes the input
tensor by 1/2**s (bilinear, align_corners=True). At img_size 1024 with stride 16 the levels are
64x64, 32x32 and 16x16 maps.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from hgad.data.images import load_rgb
from hgad.data.manifest import manifest_hash, read_manifest, select_split
from hgad.features.backbone import create_backbone, weights_digest
from hgad.features.cache import CacheMeta, CacheWriter, write_union_cache
from hgad.runtime.device import precision_autocast


def multiscale_features(backbone: torch.nn.Module, images: torch.Tensor,
                        levels: int) -> list[torch.Tensor]:
    """Images [B, 3, S, S] -> ``levels`` tensors [B, C, S/(16*2**l), S/(16*2**l)]."""
    outputs = []
    for level in range(levels):
        scaled = images if level == 0 else F.interpolate(
            images, scale_factor=1 / 2**level, mode="bilinear", align_corners=True
        )
        outputs.append(backbone(scaled)[0])
    return outputs


def cache_meta(settings, manifest_path: str | os.PathLike, split: str,
               num_images: int) -> CacheMeta:
    """The metadata a cache made with ``settings`` (a FeatureSettings) must carry."""
    return CacheMeta(
        backbone=settings.backbone, weights=settings.weights, out_index=settings.out_index,
        img_size=settings.img_size, levels=settings.levels, mean=tuple(settings.mean),
        std=tuple(settings.std), precision=settings.precision, dtype="float16",
        manifest_hash=manifest_hash(manifest_path), split=split, num_images=num_images,
        resize=settings.resize,
    )


def load_image(path: str, img_size: int, mean: Sequence[float], std: Sequence[float],
               resize: str = "crop") -> torch.Tensor:
    """Load an image file as the backbone's input: float32 [3, img_size, img_size], normalised
    with ``mean``/``std`` (:func:`hgad.data.images.load_rgb`, then the normalisation)."""
    tensor = torch.from_numpy(load_rgb(path, img_size, resize)).permute(2, 0, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (tensor - mean_t) / std_t


class ImageFiles(Dataset):
    """The images of ``paths``, loaded with the paper's transforms (or the whole image,
    ``settings.resize``): item i is [3, S, S]."""

    def __init__(self, paths: list[str], settings):
        self.paths, self.settings = paths, settings

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        s = self.settings
        return load_image(self.paths[index], s.img_size, s.mean, s.std, s.resize)


@torch.inference_mode()
def extract_features(manifest_path: str | os.PathLike, split: str, out_dir: str | os.PathLike,
                     settings, device: torch.device) -> Path:
    """Extract the features of one split of a manifest into the cache folder ``out_dir``.

    Images are decoded and resized by ``settings.num_workers`` loader processes while the
    backbone runs, in ``settings.precision`` (bf16: under autocast, its bfloat16 outputs stored as
    float16 like fp32's).
    """
    frame = select_split(read_manifest(manifest_path), split)
    if frame.empty:
        raise ValueError(f"{manifest_path}: no images in split {split!r}")
    backbone = create_backbone(settings.backbone, settings.weights, settings.out_index,
                               settings.precision)
    digest = weights_digest(backbone, settings.weights)
    backbone = backbone.to(device)
    meta = cache_meta(settings, manifest_path, split, len(frame))
    loader = DataLoader(ImageFiles(frame["image"].tolist(), settings),
                        batch_size=settings.batch_size, num_workers=settings.num_workers,
                        pin_memory=device.type == "cuda")
    with precision_autocast(device, settings.precision):
        outputs = (multiscale_features(backbone, images.to(device), settings.levels)
                   for images in loader)
        first = next(outputs)
        with CacheWriter(out_dir, meta, [tuple(f.shape[1:]) for f in first],
                         weights_digest=digest) as writer:
            start = 0
            for features in tqdm(chain([first], outputs), total=len(loader),
                                 desc=f"features {split}", unit="batch"):
                for level, level_features in enumerate(features):
                    writer.write(level, start, level_features.to(torch.float16).cpu().numpy())
                start += len(features[0])
            return writer.commit()


def assemble_union_features(manifest_path: str | os.PathLike, split: str,
                            out_dir: str | os.PathLike, settings,
                            members: list[tuple[str | os.PathLike, str | os.PathLike]]) -> Path:
    """The Union's cache of one split: an index into its members' caches, which hold each
    image's features once (nothing is copied).

    ``members`` lists (member manifest, member cache folder of ``split``).
    """
    frame = select_split(read_manifest(manifest_path), split)
    parts = [(select_split(read_manifest(member_manifest), split)["image"].tolist(), cache)
             for member_manifest, cache in members]
    meta = cache_meta(settings, manifest_path, split, len(frame))
    return write_union_cache(out_dir, meta, frame["image"].tolist(), parts)
