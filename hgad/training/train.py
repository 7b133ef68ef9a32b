"""Training from the feature cache only: schedule, loss log, checkpoint/resume.

Definition: docs/method.md#optimisation.

Every meta-epoch ends with a checkpoint (written to a temporary file, then renamed) holding the
model, the optimiser states and the number of loss-log rows. A rerun resumes from it only when
its fingerprint is unchanged: settings, seed, classes, the feature cache's metadata and content
digest, the digest of the training code (:func:`hgad.runtime.fingerprint.training_code_digest`:
this module and every module of hgad it imports) and the warm start's sha256; anything else
trains from scratch, warning which part differs. The order of the training images in
each sub-epoch is a pure function of (seed, meta-epoch, sub-epoch), so a resumed run ends with the
same weights as an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import math
import os
import pickle
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from hgad.data.manifest import class_names, read_manifest, select_split
from hgad.features.batches import CacheBatches, fits_on_device
from hgad.features.cache import open_cache, read_digest, read_meta
from hgad.model.model_file import save_model_file
from hgad.model.network import HGADModel
from hgad.model.prior import hgad_losses
from hgad.runtime.atomic import replace_atomically
from hgad.runtime.compilation import compile_decision
from hgad.runtime.config import Settings
from hgad.runtime.device import float32_matmuls
from hgad.runtime.fingerprint import training_code_digest
from hgad.runtime.result_warnings import ResultWarning
from hgad.training.inference import inference_record
from hgad.training.schedule import learning_rate
from hgad.training.warm_start import file_sha256, load_init

LOG_FIELDS = ["meta_epoch", "sub_epoch", "iteration", "level", "lr", "total", "g", "mi", "e",
              "g_intra", "z"]


class SubEpochHook(Protocol):
    """What training calls after every sub-epoch with the weights it holds (e.g. the test scoring
    of :mod:`hgad.evaluation.sub_epoch_scoring`, wired in by the caller: training imports no
    evaluation code). Its rows are kept in the checkpoint, so a resumed run keeps those of the
    sub-epochs before the interruption."""

    fingerprint: str
    """What the rows depend on beyond training's inputs: part of the training fingerprint."""

    def __call__(self, epochs_done: int, model: HGADModel) -> list[dict]:
        """The rows of ``model`` after ``epochs_done`` sub-epochs. It may change the model's
        mode and precision (training sets its own back), never its weights."""

    def done(self, records: list[dict]) -> None:
        """Called once training ends, with every sub-epoch's rows in order."""


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def epoch_order(seed: int, meta_epoch: int, sub_epoch: int, count: int) -> torch.Tensor:
    """The order of the ``count`` training images in one sub-epoch, int64 [count]: a pure
    function of (seed, meta-epoch, sub-epoch), so a resumed run sees the same batches."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + meta_epoch * 1_009 + sub_epoch)
    return torch.randperm(count, generator=generator)


def make_optimisers(model: HGADModel, settings: Settings,
                    compiled: bool = False) -> list[torch.optim.Adam]:
    """One Adam per level: each level's step changes only that level's parameters.

    Eager fp32 keeps torch's reference Adam (bit for bit the previous arithmetic); bf16 or
    ``compiled`` training (see :func:`hgad.runtime.compilation.compile_decision`), which give
    that up anyway, use the fused kernel (5x faster here, equal to 1 ulp) on the devices that
    have it.
    """
    fused = ((settings.train.precision != "fp32" or compiled)
             and next(model.parameters()).device.type in ("cpu", "cuda"))
    optimisers = []
    for level in range(model.levels):
        flow_params, prior_params = model.level_parameters(level)
        optimisers.append(torch.optim.Adam(
            [{"params": flow_params, "weight_decay": settings.train.weight_decay},
             {"params": prior_params, "weight_decay": 0.0}],
            lr=settings.train.lr, betas=settings.train.betas, fused=fused or None,
        ))
    return optimisers


def _truncate_log(path: Path, rows: int) -> None:
    """Keep the header and the first ``rows`` rows (those covered by the checkpoint), bytes
    untouched: their CRLF endings (the csv module's) stay those of the rows appended next."""
    if not path.exists():
        return
    lines = path.read_bytes().splitlines(keepends=True)[: rows + 1]
    path.write_bytes(b"".join(lines))


def train_step(model: HGADModel, level: int, optimiser: torch.optim.Optimizer,
                features: torch.Tensor, classes: torch.Tensor, lr: float, intra: bool,
                settings: Settings, flow: torch.nn.Module | None = None):
    """One optimiser step of one level on features [B, D, H, W] with image classes [B], through
    ``flow`` (``model.flows[level]`` or its compiled wrapper).

    No host synchronisation: a non-finite loss is stepped on too (the weights go NaN) and found
    by :func:`_sub_epoch_rows` before anything is saved.
    """
    tr = settings.train
    for group in optimiser.param_groups:
        group["lr"] = lr
    height, width = features.shape[2:]
    z, logdet = model.encode(level, features, flow)
    terms = hgad_losses(model.priors[level], z, logdet, classes.repeat_interleave(height * width),
                        lambda1=tr.lambda1, lambda2=tr.lambda2,
                        label_smoothing=tr.label_smoothing, intra=intra)
    optimiser.zero_grad(set_to_none=True)
    terms.total.backward()
    optimiser.step()
    return terms


def training_fingerprint(settings: Settings, seed: int, train_cache: str | os.PathLike,
                         names: list[str], hook: SubEpochHook | None = None) -> str:
    """What a checkpoint must have been made from to be resumed (canonical JSON)."""
    cache = {**asdict(read_meta(train_cache)), "digest": read_digest(train_cache)}
    hooked = {"sub_epoch_hook": hook.fingerprint} if hook is not None else {}
    return json.dumps({"model": asdict(settings.model), "train": asdict(settings.train),
                       "seed": seed, "cache": cache, "classes": names,
                       "code": training_code_digest(),
                       "init_sha256": file_sha256(settings.train.init) if settings.train.init
                       else None, **hooked}, sort_keys=True)


def _sub_epoch_rows(losses: torch.Tensor, lrs: list[float], meta_epoch: int, sub_epoch: int,
                    checkpoint_path: Path) -> list[list]:
    """Loss-log rows of one sub-epoch from its device log ``losses`` [steps, levels, 6].

    The one host synchronisation of a sub-epoch. Raises :class:`TrainingDivergedError` naming the
    first (iteration, level) whose total loss is not finite.
    """
    values = losses.cpu()
    bad = (~torch.isfinite(values[:, :, 0])).nonzero()
    if len(bad):
        step, level = bad[0].tolist()
        raise TrainingDivergedError(
            f"loss is {values[step, level, 0].item()} at meta-epoch {meta_epoch}, sub-epoch "
            f"{sub_epoch}, iteration {step}, level {level}; the last good checkpoint "
            f"{checkpoint_path} is kept")
    return [[meta_epoch, sub_epoch, step, level, lr, *terms]
            for step, (lr, per_level) in enumerate(zip(lrs, values.tolist(), strict=True))
            for level, terms in enumerate(per_level)]


def train(train_cache: str | os.PathLike, manifest_path: str | os.PathLike,
          model_path: str | os.PathLike, log_path: str | os.PathLike,
          checkpoint_dir: str | os.PathLike, settings: Settings, seed: int,
          device: torch.device,
          on_meta_epoch_end: Callable[[int], None] | None = None,
          on_sub_epoch_end: SubEpochHook | None = None) -> Path:
    """Train one unified HGAD model on a dataset's cached training features.

    Writes ``checkpoint_dir/last.pt`` and appends that meta-epoch's loss-log rows (one per
    iteration and level) to ``checkpoint_dir/train_log.csv`` after every meta-epoch, and a
    snapshot ``checkpoint_dir/snapshots/epoch<NNNN>.pt`` every ``snapshot_every`` sub-epochs (NNNN
    = sub-epochs done). At the end it copies the log to ``log_path`` (CSV) and writes the final
    model to ``model_path``, listing the snapshots, with what ``hgad predict`` needs
    (:mod:`hgad.training.inference`). With ``train.init`` training starts from that model file's
    weights (:mod:`hgad.training.warm_start`). ``on_meta_epoch_end(meta_epoch)`` is called
    after each checkpoint; ``on_sub_epoch_end`` (:class:`SubEpochHook`) after each sub-epoch, and
    its ``done`` with all its rows before the model file is written.
    """
    model_path, log_path, checkpoint_dir = Path(model_path), Path(log_path), Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = checkpoint_dir / "last.pt"
    running_log = checkpoint_dir / "train_log.csv"  # log_path is only written when training ends
    snapshot_dir = checkpoint_dir / "snapshots"
    manifest = read_manifest(manifest_path)
    names = class_names(manifest)
    train_rows = select_split(manifest, "train")
    labels = torch.tensor([names.index(c) for c in train_rows["category"]])
    arrays = open_cache(train_cache)
    if len(arrays[0]) != len(train_rows):
        raise ValueError(f"{train_cache}: {len(arrays[0])} cached images but {manifest_path} "
                         f"lists {len(train_rows)} training images")
    tr = settings.train
    fingerprint = training_fingerprint(settings, seed, train_cache, names, on_sub_epoch_end)

    torch.manual_seed(seed)
    model = HGADModel([a.shape[1] for a in arrays], names, **asdict(settings.model)).to(device)
    if tr.init:
        load_init(tr.init, model)
    count = len(train_rows)
    steps_per_sub = math.ceil(count / tr.batch_size)
    steps_per_meta = steps_per_sub * tr.sub_epochs
    # decided from the whole run's length, so that a resumed run steps as an uninterrupted one
    compiled, why = compile_decision(tr.compile, device.type, tr.meta_epochs * steps_per_meta)
    if why:
        print(f"train.compile auto: {why}", file=sys.stderr)
    optimisers = make_optimisers(model, settings, compiled)
    start_meta, log_rows, hook_rows = _resume(checkpoint_path, fingerprint, model, optimisers,
                                              device)
    if start_meta == tr.meta_epochs:
        warnings.warn(f"{checkpoint_path} is a finished run of the same settings, features and "
                      "training code: reused, nothing left to train", ResultWarning, stacklevel=2)
    if start_meta == 0:
        shutil.rmtree(snapshot_dir, ignore_errors=True)
        with open(running_log, "w", newline="") as handle:
            csv.writer(handle).writerow(LOG_FIELDS)
    else:
        _truncate_log(running_log, log_rows)
    snapshot_dir.mkdir(exist_ok=True)

    model.set_precision(tr.precision)
    # compiled wrappers for the training steps only: the model (saved, scored) stays eager
    flows = [torch.compile(flow) if compiled else flow for flow in model.flows]
    batches = CacheBatches(arrays, labels, device,
                           resident=fits_on_device(arrays, device, tr.resident_fraction))
    progress = tqdm(total=(tr.meta_epochs - start_meta) * steps_per_meta,
                    desc=f"train seed {seed}", unit="it")
    for meta_epoch in range(start_meta, tr.meta_epochs):
        rows, meta_hook_rows = [], []
        intra = meta_epoch >= tr.intra_start_epoch
        for sub_epoch in range(tr.sub_epochs):
            order = epoch_order(seed, meta_epoch, sub_epoch, count).numpy()
            lrs = [learning_rate(tr, meta_epoch, sub_epoch * steps_per_sub + step, steps_per_meta)
                   for step in range(steps_per_sub)]
            losses = torch.empty(steps_per_sub, model.levels, len(LOG_FIELDS) - 5, device=device)
            with float32_matmuls(device, tr.allow_tf32):
                for step, (features, classes) in enumerate(batches([
                        np.sort(order[step * tr.batch_size:(step + 1) * tr.batch_size])
                        for step in range(steps_per_sub)])):
                    for level, optimiser in enumerate(optimisers):
                        terms = train_step(model, level, optimiser, features[level], classes,
                                            lrs[step], intra, settings, flows[level])
                        losses[step, level] = terms.stacked()
                    progress.update(1)
            try:
                rows += _sub_epoch_rows(losses, lrs, meta_epoch, sub_epoch, checkpoint_path)
            except TrainingDivergedError:
                progress.close()
                raise
            progress.set_postfix(meta_epoch=meta_epoch, loss=f"{rows[-1][5]:.3f}")
            epochs_done = meta_epoch * tr.sub_epochs + sub_epoch + 1
            if tr.snapshot_every and epochs_done % tr.snapshot_every == 0:
                save_model_file(snapshot_dir / f"epoch{epochs_done:04d}.pt", model,
                                json.loads(fingerprint), epoch=epochs_done)
            if on_sub_epoch_end is not None:
                meta_hook_rows += on_sub_epoch_end(epochs_done, model)
                model.train().set_precision(tr.precision)
        log_rows += len(rows)
        hook_rows += meta_hook_rows
        checkpoint = {"fingerprint": fingerprint, "model": model.state_dict(),
                      "optimisers": [o.state_dict() for o in optimisers],
                      "meta_epochs_done": meta_epoch + 1, "log_rows": log_rows,
                      "sub_epoch_hook_rows": hook_rows}
        replace_atomically(checkpoint_path, partial(torch.save, checkpoint))
        with open(running_log, "a", newline="") as handle:
            csv.writer(handle).writerows(rows)
        if on_meta_epoch_end is not None:
            on_meta_epoch_end(meta_epoch)
    progress.close()
    if on_sub_epoch_end is not None:
        on_sub_epoch_end.done(hook_rows)
    for path in (model_path, log_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(running_log, log_path)
    snapshots = [os.path.relpath(p, model_path.parent) for p in sorted(snapshot_dir.glob("*.pt"))]
    inference = inference_record(model, arrays, labels.numpy(), train_cache, settings.evaluate,
                                 device)
    save_model_file(model_path, model, json.loads(fingerprint),
                    epoch=tr.meta_epochs * tr.sub_epochs, snapshots=snapshots,
                    inference=inference)
    return model_path


def _differences(old: dict, new: dict) -> list[str]:
    """The fingerprint parts that differ, one level deep: ``train.lr``, ``cache.digest``."""
    parts = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            parts += [f"{key}.{sub}" for sub in sorted(before.keys() | after.keys())
                      if before.get(sub) != after.get(sub)]
        elif before != after:
            parts.append(key)
    return parts


def _resume(checkpoint_path: Path, fingerprint: str, model: HGADModel,
            optimisers: list[torch.optim.Adam],
            device: torch.device) -> tuple[int, int, list[dict]]:
    """Load ``checkpoint_path`` if it was made from the same inputs (``fingerprint``).

    Returns (meta-epochs done, loss-log rows written, the sub-epoch hook's rows); (0, 0, []) to
    train from scratch. An unreadable (e.g. truncated) checkpoint is set aside as
    ``last.pt.bad``.
    """
    if not checkpoint_path.exists():
        return 0, 0, []
    try:
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as error:
        bad = checkpoint_path.with_name(checkpoint_path.name + ".bad")
        os.replace(checkpoint_path, bad)
        warnings.warn(f"{checkpoint_path} is unreadable ({error}); set aside as {bad}, training "
                      "from scratch", ResultWarning, stacklevel=3)
        return 0, 0, []
    if state["fingerprint"] != fingerprint:
        differing = _differences(json.loads(state["fingerprint"]), json.loads(fingerprint))
        warnings.warn(f"{checkpoint_path} was made with other settings or inputs (differing: "
                      f"{', '.join(differing)}); training from scratch", ResultWarning,
                      stacklevel=3)
        return 0, 0, []
    model.load_state_dict(state["model"])
    for optimiser, optimiser_state in zip(optimisers, state["optimisers"], strict=True):
        optimiser.load_state_dict(optimiser_state)
    return state["meta_epochs_done"], state["log_rows"], state["sub_epoch_hook_rows"]
