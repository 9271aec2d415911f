"""The training loop: intermediate supervision, checkpoints with exact resume, best-by-PCK.

Runs on one CPU, one GPU, or many GPUs under ``torchrun`` (DDP; see ``train.distributed``).
Output directory layout: ``last.pt`` (resumable: weights, optimiser and AMP scaler state, weight
average, epoch, step, best PCK, history, RNG), ``best.pt`` (best validation PCK, with the metrics in
its metadata; the weight average when ``ema_decay`` is set), ``log.csv`` (one row per epoch),
``tensorboard/`` (when the tensorboard package is installed). Every checkpoint's metadata carries
the full training config (``training.config``).
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from engine.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from engine.crop import apply_affine, crop_matrix, heatmap_to_input
from engine.decoding import decode_heatmaps, merge_flipped
from engine.errors import ConfigError, HgposeError
from engine.gpu import ops as torch_ops
from engine.interrupts import graceful_stop
from engine.metadata import ModelMetadata, Normalisation
from engine.model import StackedHourglass, build_model
from engine.skeleton import LSP14, Skeleton, get_skeleton
from train import distributed as dist
from train.augment import AugmentConfig
from train.calibration import calibration_thresholds
from train.config import TrainConfig, config_to_dict
from train.data import PackDataset
from train.face_heads import FaceHeads
from train.metrics import mirrored_mask, pck
from train.pack import FACE_POINTS, Pack, concat_packs, read_pack
from train.run_lock import run_dir_lock
from train.run_log import RunLog
from train.teachers import FACE_FLIP
from train.weight_average import WeightAverage
from train.widen import deepen_state, widen_into


def heatmap_loss(outputs: list[torch.Tensor], target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """MSE summed over stacks (intermediate supervision); unlabelled joints masked by ``weights``.

    ``target`` (N, K, H, W) with ``weights`` (N, K), or (N, T, K, H, W) with (N, T, K): T target
    sets (labels, teacher keypoints) whose weighted losses add up, each against the same output.
    """
    if target.dim() == 4:
        target, weights = target[:, None], weights[:, None]
    w = weights[..., None, None]
    # mean over (N, K, H, W) per set, then the sets' sum: with one set exactly the plain masked MSE.
    return sum(((out.float()[:, None] - target) ** 2 * w).mean(dim=(0, 2, 3, 4)).sum()
               for out in outputs)  # type: ignore[return-value]


def mirrored_in_step(heatmaps: torch.Tensor, labels: torch.Tensor, skeleton: Skeleton, stride: float) -> torch.Tensor:
    """(N,) bool: the people whose heatmaps (N, K, H, W) read mirrored against their labels (N, K, 3,
    input-crop pixels), by each channel's peak (:func:`train.metrics.mirrored_mask`); ``stride``:
    input pixels per heatmap pixel."""
    w = heatmaps.shape[-1]
    index = heatmaps.detach().float().flatten(2).argmax(dim=-1).cpu().numpy()
    peaks = heatmap_to_input(np.stack([index % w, index // w], axis=-1), stride)
    return torch.from_numpy(mirrored_mask(peaks, labels.cpu().numpy(), skeleton)[0])


def flip_consistency_loss(net: Callable[[torch.Tensor], list[torch.Tensor]], x: torch.Tensor,
                          outputs: list[torch.Tensor], flip_permutation: tuple[int, ...]) -> torch.Tensor:
    """Self-distillation of the flip test: MSE of every stack's heatmaps towards the flip-test heatmaps.

    Args:
        net: the network in training mode; it runs once more, without gradient, on the mirrored crops.
        x: (N, 3, S, S) the batch of input crops ``outputs`` came from.
        outputs: per stack, (N, K, H, W) heatmaps of ``x`` (with gradient).
        flip_permutation: (K,) the skeleton's left/right swap.

    The target is what the flip test computes at inference from the last stack (the average of the
    heatmaps of ``x`` and of the mirrored crops, mirrored back with left and right swapped), held
    fixed: the gradient only moves the network towards it. Zero for a network whose answer for a
    mirrored crop is already the mirrored answer. Summed over stacks, like the label loss.
    The mirrored pass runs in training mode, so it normalises with its batch's statistics like
    ``outputs`` did, and BatchNorm's running statistics count it too: mirrored crops are what the
    flip augmentation feeds half the time anyway.
    """
    with torch.no_grad():
        mirrored = net(x.flip(-1))[-1].float()
        target = torch_ops.merge_flipped(outputs[-1].detach().float(), mirrored, flip_permutation)
    return sum(((out.float() - target) ** 2).mean() for out in outputs)  # type: ignore[return-value]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: where bfloat16 autocast speeds CPU training up rather than emulating it."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device cuda was requested but CUDA is not available")
    return torch.device(name)


def lr_at(step: int, total_steps: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """Learning rate after ``step`` optimiser steps: linear warm-up, then the schedule."""
    o = config.optim
    if o.warmup_steps and step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    if o.schedule == "cosine":
        t = min(1.0, (step - o.warmup_steps) / max(1, total_steps - o.warmup_steps))
        return o.lr * 0.5 * (1 + math.cos(math.pi * t))
    if o.schedule == "step":
        epoch = step // max(1, steps_per_epoch)
        return o.lr * o.step_gamma ** sum(epoch >= e for e in o.step_epochs)
    return o.lr


@torch.no_grad()
def predict_pack(model: nn.Module, pack: Pack, meta: ModelMetadata, device: torch.device,
                 batch_size: int = 64, flip: bool = False) -> np.ndarray:
    """Predict joints (N, K, 3) in *input-crop* pixels for the person-centred view of each pack crop."""
    ds = PackDataset(pack, meta.input_size, meta.heatmap_size, AugmentConfig(enabled=False),
                     meta.normalisation)
    model.eval()
    perm = meta.skeleton_spec.flip_permutation()
    preds = []
    for start in range(0, len(ds), batch_size):
        x = torch.stack([ds[i][0] for i in range(start, min(start + batch_size, len(ds)))]).to(device)
        heat = model(x)[-1].float()
        if flip:
            heat_f = model(torch.flip(x, dims=[3]))[-1].float()
            hm = merge_flipped(heat.cpu().numpy(), heat_f.cpu().numpy(), perm)
        else:
            hm = heat.cpu().numpy()
        dec = decode_heatmaps(hm)
        dec[..., :2] = heatmap_to_input(dec[..., :2], meta.input_size / meta.heatmap_size)
        preds.append(dec)
    return np.concatenate(preds)


def validation_joints(pack: Pack, input_size: int) -> np.ndarray:
    """Ground truth (N, K, 3) of a pack in the same un-augmented input-crop frame as predict_pack."""
    m = crop_matrix(pack.person_box, input_size)
    joints = pack.joints.copy()
    joints[..., :2] = apply_affine(m, joints[..., :2])
    return joints


@dataclass
class TrainState:
    epoch: int = 0
    step: int = 0
    best_pck: float = -1.0
    history: list[dict[str, float]] = field(default_factory=list)


StepCallback = Callable[[int, float], None]

# Steps between checks of ``max_minutes`` (each check is a broadcast under DDP).
TIME_CHECK_EVERY = 10


def _optimiser(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    o = config.optim
    if o.name == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)


def _check(config: TrainConfig) -> None:
    """Fail on an inconsistent config before any process group or data is touched."""
    skel = get_skeleton(config.data.skeleton)
    if skel.num_joints != config.model.num_joints:
        raise ConfigError(f"model.num_joints={config.model.num_joints} but skeleton {skel.name} has "
                          f"{skel.num_joints}")
    if config.data.mirror_weight != 1.0 and skel.name != LSP14.name:
        raise ConfigError(f"data.mirror_weight tells mirrored people by LSP-14's torso and limbs; skeleton "
                          f"{skel.name} has other joints")


def _leave_ctrl_c_to_the_main_process(_worker_id: int) -> None:
    """DataLoader worker start-up: ignore SIGINT. A terminal's Ctrl-C reaches every process in the
    group; a worker that died of it would turn the main process's orderly stop (save last.pt at
    the next step) into a "worker exited unexpectedly" error. The main process shuts workers down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _check_pack(pack: Pack, path: str, skeleton: str) -> None:
    if pack.info.get("skeleton") != skeleton:
        raise ConfigError(f"{path} holds {pack.info.get('skeleton')} joints but data.skeleton is {skeleton}")


def _initialise(model: StackedHourglass, path: Path, config: TrainConfig) -> None:
    """Load the weights of checkpoint ``path`` (``init_from``) into a freshly built ``model``."""
    trained, source = load_checkpoint(path)
    # Width and stacks may grow (the weights are widened and deepened exactly, see train.widen) and
    # the input size may change (a fully convolutional network's weights do not depend on it);
    # nothing else may.
    m = config.model
    same = replace(source.config, width=m.width, input_size=m.input_size, num_stacks=m.num_stacks)
    if (same != m or source.config.width > m.width or source.config.num_stacks > m.num_stacks
            or source.skeleton != config.data.skeleton):
        raise ConfigError(f"init_from {path} holds {source.skeleton} {source.config}, which cannot start the "
                          f"configured {config.data.skeleton} {m} (only a wider or deeper model or another "
                          "input size can)")
    widen_into(model, deepen_state(trained.state_dict(), m.num_stacks))


def _check_resumable(ck: dict[str, Any], path: Path, config: TrainConfig, ctx: dist.DistContext) -> None:
    """Refuse to resume ``last.pt`` under another batch size or process count: the position in the
    epoch and the learning rate are counted in steps, which would then mean other samples. (A longer
    ``optim.epochs`` is fine: the schedule stretches.)"""
    saved = ModelMetadata.from_json(ck["metadata"]).training.get("config", {})
    batch = saved.get("optim", {}).get("batch_size", config.optim.batch_size)
    world = ck.get("world_size", ctx.world_size)
    if (batch, world) != (config.optim.batch_size, ctx.world_size):
        raise ConfigError(f"{path} was trained with batch size {batch} on {world} process(es), this run has "
                          f"{config.optim.batch_size} on {ctx.world_size}; resuming needs the same. To go on "
                          f"from its weights with new settings, start a new run: --set init_from={path} "
                          "--set out_dir=<another directory>")


def train(config: TrainConfig, resume: bool = True, progress: bool = True,
          on_step: StepCallback | None = None) -> Path:
    """Run (or resume from ``out_dir/last.pt``) training; returns the path of the best checkpoint.

    Args:
        resume: continue from ``last.pt`` when it exists (exactly: same batches, same augmentation,
            same optimiser state), else start afresh.
        on_step: called on every rank after each optimiser step with (global step, loss).

    Raises:
        ConfigError: a bad config, or another run is using ``out_dir`` (train.run_lock).
    """
    _check(config)
    ctx = dist.init(config.device)
    try:
        with run_dir_lock(Path(config.out_dir), ctx):
            return _train(config, ctx, resume, progress, on_step)
    finally:
        dist.cleanup(ctx)


def _train(config: TrainConfig, ctx: dist.DistContext, resume: bool, progress: bool,
           on_step: StepCallback | None) -> Path:
    device = resolve_device(config.device) if not ctx.enabled else ctx.device
    seed_everything(config.seed + ctx.rank)
    out_dir = Path(config.out_dir)
    skel = get_skeleton(config.data.skeleton)
    meta = ModelMetadata(skeleton=skel.name, config=config.model, name=config.name,
                         normalisation=Normalisation(stretch=config.data.contrast_stretch),
                         training={"config": config_to_dict(config)})

    train_names = (config.data.train_pack, *config.data.more_train_packs)
    train_pack = concat_packs([read_pack(Path(n), progress=progress and ctx.is_main) for n in train_names],
                              train_names)
    val_pack = read_pack(Path(config.data.val_pack), progress=progress and ctx.is_main)
    _check_pack(train_pack, config.data.train_pack, skel.name)
    _check_pack(val_pack, config.data.val_pack, skel.name)
    if config.data.distill_weight > 0 and train_pack.teacher is None:
        raise ConfigError(f"data.distill_weight is {config.data.distill_weight} but {config.data.train_pack} holds no "
                          "teacher keypoints (make it with `hgpose prepare --teachers ...`)")
    if config.data.face_weight > 0 and train_pack.face is None:
        raise ConfigError(f"data.face_weight is {config.data.face_weight} but {config.data.train_pack} holds no face "
                          "targets (make it with `hgpose prepare --teachers ...`)")
    if config.data.back_view_weight != 1.0 and train_pack.teacher is None:
        raise ConfigError(f"data.back_view_weight is {config.data.back_view_weight} but {config.data.train_pack} "
                          "holds no teacher keypoints to tell back views by (make it with `hgpose prepare "
                          "--teachers ...`)")
    ds = PackDataset(train_pack, config.model.input_size, config.model.heatmap_size, config.augment,
                     meta.normalisation, sigma=config.data.sigma, seed=config.seed,
                     distill_weight=config.data.distill_weight, back_view_weight=config.data.back_view_weight,
                     face_weight=config.data.face_weight)
    workers = config.data.num_workers if config.data.num_workers >= 0 else (4 if device.type == "cuda" else 0)
    sampler = dist.EpochSampler(ds, ctx, seed=config.seed)
    batch_size = config.optim.batch_size
    steps_per_epoch = sampler.num_samples // batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"optim.batch_size={batch_size} is larger than the {sampler.num_samples} training "
                          f"crops each of the {ctx.world_size} process(es) gets")
    loader = DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                        worker_init_fn=_leave_ctrl_c_to_the_main_process if workers > 0 else None)
    total_steps = steps_per_epoch * config.optim.epochs

    model: StackedHourglass = build_model(config.model)
    cuda = device.type == "cuda"
    autocast_dtype = torch.float16 if cuda else torch.bfloat16
    use_autocast = config.amp if cuda else config.cpu_bf16
    if use_autocast and not cuda and ctx.is_main and progress and not cpu_has_native_bf16():
        tqdm.write("note: cpu_bf16 is on but this CPU has no native bfloat16; training will be slower")
    state = TrainState()
    last = out_dir / "last.pt"
    ck = read_checkpoint(last) if ctx.is_main and resume and last.is_file() else None
    ck = dist.broadcast_object(ck, ctx)
    # What the optimiser trains: the network, plus the auxiliary face heads when they are on.
    face_heads = FaceHeads(model, FACE_POINTS) if config.data.face_weight > 0 else None
    trained: nn.Module = model if face_heads is None else face_heads
    if ck is not None:
        _check_resumable(ck, last, config, ctx)  # every rank holds ck, so every rank agrees
        model.load_state_dict(ck["state_dict"])
        if face_heads is not None:
            if ck.get("face_heads") is None:
                raise ConfigError(f"{last} was trained without face heads (data.face_weight 0); resuming needs "
                                  "the same; start a new run from its weights with --set init_from=...")
            face_heads.heads.load_state_dict(ck["face_heads"])
    elif config.init_from:
        # Rank 0 alone reads the file (no shared filesystem needed): DDP copies its weights to the
        # other ranks when it wraps the model. Its verdict is shared, so a bad file stops every
        # rank rather than leaving the others waiting in a collective.
        error: HgposeError | None = None
        if ctx.is_main:
            try:
                _initialise(model, Path(config.init_from), config)
            except HgposeError as exc:
                error = exc
        error = dist.broadcast_object(error, ctx)
        if error is not None:
            raise error
    trained = trained.to(device)
    if config.channels_last:
        trained = trained.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    # Only rank 0 validates and saves, and every rank holds the same weights, so only it averages.
    average = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 and ctx.is_main else None
    opt = _optimiser(trained, config)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and config.amp)
    if ck is not None:
        opt.load_state_dict(ck["optimizer"])
        scaler.load_state_dict(ck.get("scaler", {}) or scaler.state_dict())
        state = TrainState(epoch=ck["epoch"], step=ck["step"], best_pck=ck.get("best_pck", -1.0),
                           history=list(ck.get("history", [])))
        torch.set_rng_state(ck["rng"]["torch"])
        if average is not None and ck.get("weight_average"):
            average.load_state_dict(ck["weight_average"])  # absent: averaging starts at this resume
    net = dist.wrap(trained, ctx)
    flip_permutation = skel.flip_permutation()
    if face_heads is not None:  # the face channels follow the joints' (FaceHeads)
        flip_permutation = (*flip_permutation, *(skel.num_joints + i for i in FACE_FLIP))
    truth = validation_joints(val_pack, config.model.input_size)
    stride = config.model.input_size / config.model.heatmap_size
    log = RunLog(out_dir, tensorboard=config.tensorboard) if ctx.is_main else None
    if log is not None and progress and log.tensorboard_dir is not None:
        tqdm.write(f"TensorBoard logs: {log.tensorboard_dir}")

    def save_last() -> None:
        if not ctx.is_main:
            return
        save_checkpoint(last, model, meta, optimizer=opt.state_dict(), scaler=scaler.state_dict(),
                        epoch=state.epoch, step=state.step, best_pck=state.best_pck,
                        history=state.history, rng={"torch": torch.get_rng_state()},
                        world_size=ctx.world_size,
                        weight_average=average.state_dict() if average is not None else None,
                        face_heads=face_heads.heads.state_dict() if face_heads is not None else None)
        assert log is not None
        log.epoch(state.history)

    steps_this_run = 0
    run_start = time.perf_counter()
    stop = False

    def out_of_budget() -> bool:
        """Whether this process's step or time budget is spent (every rank reaches the same answer)."""
        if config.max_steps and steps_this_run >= config.max_steps:
            return True
        if config.max_minutes <= 0 or steps_this_run % TIME_CHECK_EVERY:
            return False
        # Clocks differ between ranks, so rank 0 decides and tells the others: a rank that stopped
        # alone would leave the rest waiting in DDP's gradient all-reduce.
        return bool(dist.broadcast_object(time.perf_counter() - run_start >= 60 * config.max_minutes, ctx))

    # Ctrl-C (or SIGTERM) stops at the next step boundary, saving last.pt like a budget stop, so an
    # interrupted run resumes exactly instead of losing its partial epoch; a second Ctrl-C aborts.
    # Under DDP every rank gets the signal at a different step and would wait for its peers in the
    # next all-reduce, so there torchrun's own handling stays (the last epoch's last.pt remains).
    signals = contextlib.ExitStack()
    stop_requested = (lambda: False) if ctx.enabled else signals.enter_context(graceful_stop(
        lambda: tqdm.write("stopping after this step, saving last.pt (Ctrl-C again to abort)")))
    try:
        while state.epoch < config.optim.epochs and not stop:
            epoch = state.epoch
            done_in_epoch = state.step - epoch * steps_per_epoch  # > 0 when resuming mid-epoch
            ds.set_epoch(epoch)
            sampler.set_epoch(epoch, start=done_in_epoch * batch_size)
            net.train()
            t0 = time.perf_counter()
            loss_sum, loss_n = 0.0, 0
            hard_seen = 0  # people read mirrored this epoch (with data.mirror_weight)
            batches = tqdm(loader, desc=f"epoch {epoch + 1}/{config.optim.epochs}", unit="batch",
                           disable=not (progress and ctx.is_main), initial=done_in_epoch, total=steps_per_epoch)
            for x, target, weights, labels in batches:
                lr = lr_at(state.step, total_steps, steps_per_epoch, config)
                for group in opt.param_groups:
                    group["lr"] = lr
                x = x.to(device, non_blocking=True)
                if config.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                target, weights = target.to(device, non_blocking=True), weights.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_autocast):
                    outputs = net(x)
                    consistency = (flip_consistency_loss(net, x, outputs, flip_permutation)
                                   if config.data.flip_consistency_weight > 0 else None)
                if config.data.mirror_weight != 1.0:  # hard left/right examples weigh more
                    hard = mirrored_in_step(outputs[-1][:, :skel.num_joints], labels, skel, stride).to(device)
                    hard_seen += int(hard.sum())
                    scale = torch.where(hard, config.data.mirror_weight, 1.0)
                    weights = weights * scale.view(-1, *([1] * (weights.dim() - 1)))
                loss = heatmap_loss(outputs, target, weights)
                if consistency is not None:
                    loss = loss + config.data.flip_consistency_weight * consistency
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.optim.grad_clip > 0:
                    scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(trained.parameters(), config.optim.grad_clip)
                scaler.step(opt)
                scaler.update()
                if average is not None:
                    average.update(model)
                state.step += 1
                steps_this_run += 1
                value = float(loss.detach())
                loss_sum += value
                loss_n += 1
                if on_step is not None:
                    on_step(state.step, value)
                if log is not None:
                    log.step(state.step, value, lr)
                postfix = {"loss": f"{loss_sum / loss_n:.2e}", "lr": f"{lr:.1e}"}
                if config.data.mirror_weight != 1.0:
                    postfix["mirrored"] = str(hard_seen)
                batches.set_postfix(postfix)
                if out_of_budget() or stop_requested():
                    stop = True
                    break
            batches.close()
            epoch_done = state.step >= (epoch + 1) * steps_per_epoch
            row: dict[str, float] = {"epoch": state.step / steps_per_epoch, "step": state.step,
                                     "loss": dist.mean(loss_sum / max(loss_n, 1), ctx),
                                     "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
            if epoch_done:
                state.epoch += 1
            if epoch_done and (state.epoch % config.val_every == 0 or state.epoch == config.optim.epochs):
                # Rank 0 validates the whole set on the unwrapped model; the others wait.
                # With ema_decay the average is the model validated and kept; the raw weights'
                # figures are logged beside it, so the log shows what the averaging bought.
                if ctx.is_main:
                    kept = average.model if average is not None else model
                    preds = predict_pack(kept, val_pack, meta, device, flip=config.flip_test_val)
                    res = pck(preds, truth, skel)
                    row.update({"val_pck": res.overall, "val_pck_limbs": res.limbs})
                    if average is not None:
                        raw = pck(predict_pack(model, val_pack, meta, device, flip=config.flip_test_val), truth, skel)
                        row.update({"val_pck_raw": raw.overall, "val_pck_limbs_raw": raw.limbs})
                    if res.overall > state.best_pck:
                        state.best_pck = res.overall
                        # Both thresholds, so the file serves the flip test as well as plain crops.
                        other = predict_pack(kept, val_pack, meta, device, flip=not config.flip_test_val)
                        plain, flipped = (other, preds) if config.flip_test_val else (preds, other)
                        best_meta = meta.with_updates(
                            metrics={"val_pck@0.2": res.overall, "val_pck@0.2_limbs": res.limbs,
                                     "epoch": float(state.epoch)},
                            calibration=calibration_thresholds(plain, flipped, truth, skel))
                        save_checkpoint(out_dir / "best.pt", kept, best_meta)
                dist.barrier(ctx)
            state.history.append(row)
            save_last()
            stop = stop or stop_requested()  # also when it came during validation
            if progress and ctx.is_main:
                tqdm.write(" ".join(f"{k}={v:.4g}" for k, v in row.items()))
    finally:
        signals.close()
        if log is not None:
            log.close()
    if stop_requested() and state.epoch < config.optim.epochs:
        if progress and ctx.is_main:
            tqdm.write(f"stopped at step {state.step}; {last} is saved and the same command resumes from there")
        raise KeyboardInterrupt
    return out_dir / "best.pt"
