"""Multi-scale feature extraction (method.md section 1) into the cache.

The same backbone stage is applied to the image at ``levels`` scales: scale s resizes the input
tensor by 1/2**s (bilinear, align_corners=True). At img_size 1024 with stride 16 the levels are
64x64, 32x32 and 16x16 maps.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from hgad.data.images import load_image
from hgad.data.manifest import manifest_hash, read_manifest, select_split
from hgad.features.backbone import create_backbone
from hgad.features.cache import CacheMeta, CacheWriter, assemble_cache


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
        std=tuple(settings.std), dtype="float16", manifest_hash=manifest_hash(manifest_path),
        split=split, num_images=num_images,
    )


@torch.inference_mode()
def extract_features(manifest_path: str | os.PathLike, split: str, out_dir: str | os.PathLike,
                     settings, device: torch.device) -> Path:
    """Extract the features of one split of a manifest into the cache folder ``out_dir``."""
    frame = select_split(read_manifest(manifest_path), split)
    if frame.empty:
        raise ValueError(f"{manifest_path}: no images in split {split!r}")
    backbone = create_backbone(settings.backbone, settings.weights, settings.out_index).to(device)
    meta = cache_meta(settings, manifest_path, split, len(frame))
    paths = frame["image"].tolist()

    def batch(start: int) -> torch.Tensor:
        chunk = paths[start:start + settings.batch_size]
        return torch.stack([load_image(p, settings.img_size, settings.mean, settings.std)
                            for p in chunk]).to(device)

    probe = multiscale_features(backbone, batch(0)[:1], settings.levels)
    shapes = [tuple(f.shape[1:]) for f in probe]
    with CacheWriter(out_dir, meta, shapes) as writer:
        progress = tqdm(total=len(paths), desc=f"features {split}", unit="img")
        for start in range(0, len(paths), settings.batch_size):
            for level, features in enumerate(multiscale_features(backbone, batch(start),
                                                                 settings.levels)):
                writer.write(level, start, features.to(torch.float16).cpu().numpy())
            progress.update(min(settings.batch_size, len(paths) - start))
        progress.close()
        return writer.commit()


def assemble_union_features(manifest_path: str | os.PathLike, split: str,
                            out_dir: str | os.PathLike, settings,
                            members: list[tuple[str | os.PathLike, str | os.PathLike]]) -> Path:
    """The Union's cache of one split from its members' caches (each image's features once).

    ``members`` lists (member manifest, member cache folder of ``split``).
    """
    frame = select_split(read_manifest(manifest_path), split)
    parts = [(select_split(read_manifest(member_manifest), split)["image"].tolist(), cache)
             for member_manifest, cache in members]
    meta = cache_meta(settings, manifest_path, split, len(frame))
    return assemble_cache(out_dir, meta, frame["image"].tolist(), parts)
