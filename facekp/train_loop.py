"""THE training loop, shared by every task: a task supplies data, a model fn, a loss and metrics.

train(cfg, run_dir): load data -> run dir + config.json -> model, optimizer -> restore the latest
checkpoint -> for step in range(start, cfg.steps): train_step, log, evaluate, checkpoint -> a
summary (run dir, best checkpoint, the tensorboard command). A run already at cfg.steps returns
at once with that summary, reading no data and writing nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from facekp import models, tasks
from facekp.checkpoints import RunCheckpoints, init_from_run, load_backbone_weights, saved_state, write_config
from facekp.config import CALIBRATION_FIELDS, RUN_CONTROL_FIELDS, TrainConfig, differing_fields, load
from facekp.errors import InputError, TrainingStopped, first_line
from facekp.fileio import atomic_write_json, writer_lock
from facekp.inference import compiled_predict, predict_in_batches
from facekp.run_records import VALIDATION_FILE, mark_start, trim_metrics, validation_change, validation_record


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then cosine to 1% | constant | x0.1 at 60% and 85% of the steps."""

    def __init__(self, peak, warmup, total, kind):
        self.peak, self.warmup, self.total, self.kind = peak, warmup, total, kind

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        progress = tf.clip_by_value((step - self.warmup) / max(self.total - self.warmup, 1), 0.0, 1.0)
        if self.kind == "cosine":
            factor = 0.01 + 0.99 * 0.5 * (1.0 + tf.cos(math.pi * progress))
        elif self.kind == "step":
            factor = tf.where(progress < 0.6, 1.0, tf.where(progress < 0.85, 0.1, 0.01))
        else:
            factor = tf.constant(1.0)
        warm = tf.minimum(1.0, (step + 1.0) / max(self.warmup, 1))
        return self.peak * factor * warm

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "warmup": self.warmup, "total": self.total, "kind": self.kind}


def make_optimizer(cfg: TrainConfig) -> keras.optimizers.Optimizer:
    """AdamW on the schedule; under --mixed-precision wrapped in dynamic loss scaling."""
    schedule = WarmupSchedule(cfg.lr, cfg.warmup_steps, cfg.steps, cfg.schedule)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay)
    return keras.mixed_precision.LossScaleOptimizer(optimizer) if cfg.mixed_precision else optimizer


class Interrupts:
    """SIGTERM (and Ctrl-C) as KeyboardInterrupt, raised at once, except while `deferred` (the step
    loop): then the first signal waits for the next step boundary (`check`), so that it never lands
    inside TensorFlow's own Python code, where it once left native state corrupt (a heap abort
    instead of a saved checkpoint); a second signal raises at once."""

    def __init__(self):
        self.deferred, self.pending = False, False

    def handle(self, *_):
        if self.deferred and not self.pending:
            self.pending = True
            return
        raise KeyboardInterrupt

    def check(self):
        if self.pending:
            raise KeyboardInterrupt

    def install(self) -> dict:
        """Handle SIGTERM, and SIGINT unless it is ignored (a background job); returns the handlers
        to put back."""
        signals = [signal.SIGTERM] + (
            [signal.SIGINT] if signal.getsignal(signal.SIGINT) is signal.default_int_handler else []
        )
        return {sig: signal.signal(sig, self.handle) for sig in signals}


def check_writable(run_dir: str) -> None:
    """A run dir (or the folder that will hold it) that cannot be written is an error before step 0."""
    folder = run_dir if os.path.isdir(run_dir) else os.path.dirname(os.path.abspath(run_dir))
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise InputError(f"{folder}: cannot write the run there ({e.strerror})")


def out_of_memory(step: int, error: tf.errors.OpError, cfg: TrainConfig, ckpts: RunCheckpoints) -> TrainingStopped:
    """What stops a run that ran out of memory: the step, the batch, and what is kept (a new run
    without a checkpoint leaves no run dir, so a smaller --batch-size can start it again)."""
    return TrainingStopped(
        f"out of memory at step {step + 1} with --batch-size {cfg.batch_size} ({first_line(error)[:120]}); "
        f"{ckpts.kept()}"
    )


def make_strategy(cfg: TrainConfig) -> tf.distribute.Strategy:
    """The --strategy; made before any other TF op (a multi-worker one must be)."""
    if cfg.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if cfg.strategy == "multiworker":
        check_tf_config(os.environ.get("TF_CONFIG", ""))
        return tf.distribute.MultiWorkerMirroredStrategy()  # cluster from TF_CONFIG
    return tf.distribute.get_strategy()


def check_tf_config(text: str) -> None:
    """Refuse, in one line, a TF_CONFIG that TensorFlow fails on with a traceback: text that is not a
    JSON object, or a task that its cluster has not (none at all: one worker, as TensorFlow takes it)."""
    try:
        spec = json.loads(text or "{}")
    except ValueError as e:
        raise InputError(f"TF_CONFIG: not JSON ({e})")
    cluster, task = (spec.get("cluster") or {}, spec.get("task") or {}) if isinstance(spec, dict) else (0, 0)
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise InputError('TF_CONFIG: not {"cluster": {TYPE: [ADDRESS, ...]}, "task": {"type": TYPE, "index": I}}')
    kind, index = task.get("type"), task.get("index", 0)
    if cluster and kind not in cluster:
        raise InputError(f"TF_CONFIG: task type {kind!r} is not in its cluster ({', '.join(map(str, cluster))})")
    count = len(cluster.get(kind) or ())
    if cluster and not (str(index).isdigit() and int(index) < count):  # TensorFlow reads int(index)
        raise InputError(
            f"TF_CONFIG: task {kind} {index} is not in its cluster ({count} {kind} tasks: index 0 to {count - 1})"
        )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process keeps the run (its checkpoints, logs, config): every process but a
    multi-worker run's other workers (the chief is worker 0, or the task named "chief")."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type in (None, "chief"):
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def distributable(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Workers split each global batch (AutoShardPolicy.DATA): every worker builds the whole
    step-indexed stream, so one worker or many train on the same batches (not FILE sharding,
    which would give each worker other shards and other batches)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def agreed(strategy: tf.distribute.Strategy, value: float) -> float:
    """`value` as every replica's mean: the same number on every worker of a multi-worker run,
    so all take the same (collective) decisions on it, such as saving a best checkpoint."""
    if strategy.num_replicas_in_sync == 1:
        return value
    per_replica = strategy.run(lambda: tf.constant(value, tf.float64))
    return float(strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None))


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss_fn: Callable[[tf.Tensor, dict[str, tf.Tensor]], tf.Tensor],
    strategy: tf.distribute.Strategy,
    cfg: TrainConfig,
) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """The compiled update: forward, loss, gradients, clipping, AdamW; on every replica."""

    # Mixed precision: gradients of the loss times the loss scale, which the LossScaleOptimizer
    # divides out (skipping the step and lowering the scale when they overflow); clip accordingly.
    # The optimizer judges only its own replica's gradients, so an overflow on any replica is
    # made an overflow on every one: all skip the step together.
    def replica_step(batch):
        with tf.GradientTape() as tape:
            outputs = model(batch["image"], training=True)
            loss = loss_fn(outputs, batch)
            scaled = loss / strategy.num_replicas_in_sync  # the optimizer sums replicas' gradients
            differentiated = optimizer.scale_loss(scaled) if cfg.mixed_precision else scaled
        grads = tape.gradient(differentiated, model.trainable_variables)
        scale = tf.identity(optimizer.dynamic_scale) if cfg.mixed_precision else 1.0  # before it changes
        if cfg.mixed_precision and strategy.num_replicas_in_sync > 1:
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            overflows = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32)
            )
            grads = [tf.where(overflows == 0, g, tf.constant(math.nan, g.dtype)) for g in grads]
        grad_norm = tf.linalg.global_norm(grads)
        if cfg.grad_clip > 0:
            clip = cfg.grad_clip / strategy.num_replicas_in_sync * scale
            grads, _ = tf.clip_by_global_norm(grads, clip, grad_norm)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return {"loss": scaled, "grad_norm": grad_norm / scale}

    @tf.function(jit_compile=cfg.jit_compile and strategy.num_replicas_in_sync == 1)
    def train_step(batch):
        out = strategy.run(replica_step, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}

    return train_step


def train(cfg: TrainConfig, run_dir: str, new_validation: bool = False) -> dict[str, float]:
    """Train (or resume) the run in `run_dir` up to cfg.steps; returns the last validation metrics.
    One process trains a run at a time (another is refused at once, naming its pid). A resume on
    data that gives another validation set is refused, or with `new_validation` starts a new best
    checkpoint. SIGTERM is Ctrl-C throughout: one line, exit 130, the newest checkpoint saved."""
    task = tasks.get(cfg.task)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(cfg)
    chief = is_chief(strategy)
    check_writable(run_dir)
    with writer_lock(run_dir) if chief else contextlib.nullcontext():  # a worker's writes are its own
        step = finished_step(task, cfg, run_dir)
        if step is not None:  # nothing to do: no data read, no validation; only new run-control values recorded
            record_run_controls(run_dir, cfg)
            steps = f"of --steps {cfg.steps}" if step == cfg.steps else f"past --steps {cfg.steps}"
            print(f"{run_dir}: already at its last step ({step} {steps}); a larger --steps continues it")
            results = last_validation(run_dir)
            print(summary(task, run_dir, step, results))
            return results
        # A multi-worker run's other workers restore the chief's checkpoints, and save and log into
        # a folder of their own (their part of each collective save), removed when they stop.
        log_dir = run_dir if chief else tempfile.mkdtemp(prefix="facekp-worker-")
        interrupts = Interrupts()
        previous = interrupts.install()
        try:
            return _train(cfg, run_dir, task, strategy, log_dir, interrupts, new_validation)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if log_dir != run_dir:
                shutil.rmtree(log_dir, ignore_errors=True)


def finished_step(task: tasks.Task, cfg: TrainConfig, run_dir: str) -> int | None:
    """The step of `run_dir` when it is this config's run, its newest checkpoint (read whole) is at
    cfg.steps or beyond, and its after-training work is saved; else None (there is work to do)."""
    if not os.path.isfile(os.path.join(run_dir, "config.json")):
        return None
    latest = saved_state(os.path.join(run_dir, "ckpt"))
    if latest is None or latest[0] < cfg.steps:
        return None
    try:
        changed = set(differing_fields(load(run_dir), cfg)) - set(RUN_CONTROL_FIELDS)
    except InputError:  # an unreadable config.json: training says what is wrong
        return None
    return latest[0] if not changed and task.after_training_done(cfg, run_dir) else None


def record_run_controls(run_dir: str, cfg: TrainConfig) -> None:
    """Write a new run's config.json, or a resumed run's when this command changed its run-control
    values (RUN_CONTROL_FIELDS: --steps, --refine-margin, ...), so that it says what the run now is;
    calibrations (CALIBRATION_FIELDS) stay as they were written."""
    if not os.path.isfile(os.path.join(run_dir, "config.json")):
        write_config(run_dir, cfg)
        return
    saved = load(run_dir)
    cfg = dataclasses.replace(cfg, **{f: getattr(saved, f) for f in CALIBRATION_FIELDS if hasattr(cfg, f)})
    if differing_fields(saved, cfg):
        write_config(run_dir, cfg)


def last_validation(run_dir: str) -> dict[str, float]:
    """The metrics of the last validation in the run's metrics.jsonl ({} if there is none)."""
    rows = []
    try:
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:  # a line cut by a kill
                    continue
    except OSError:
        return {}
    last = [row for row in rows if isinstance(row, dict) and row.get("split") == "val"][-1:]
    return {k: v for row in last for k, v in row.items() if k not in ("step", "split", "elapsed_s")}


def summary(task: tasks.Task, run_dir: str, step: int, results: dict[str, float]) -> str:
    """What ends a run: its validation metrics, its dir, its best checkpoint, how to look at it."""
    best = saved_state(os.path.join(run_dir, "best"))
    sign = -1.0 if task.higher_is_better else 1.0  # the best checkpoint holds sign * metric
    lines = [f"validation: {', '.join(f'{k}={v:.4f}' for k, v in results.items())}"] if results else []
    lines.append(f"run: {run_dir} (step {step})")
    lines.append(
        f"best checkpoint: val {task.best_metric} {sign * best[1]:.4f} at step {best[0]}"
        if best
        else "best checkpoint: none (no validation yet)"
    )
    parent = os.path.dirname(os.path.normpath(run_dir)) or "."
    lines.append(f"look at it: tensorboard --logdir {shlex.quote(parent)}")
    return "\n".join(lines)


def _train(cfg, run_dir, task, strategy, log_dir, interrupts, new_validation):
    began = time.perf_counter()  # validation rows carry the seconds since, for time-to-accuracy
    chief = log_dir == run_dir
    if cfg.strategy != "default":
        name = "MultiWorkerMirroredStrategy" if cfg.strategy == "multiworker" else type(strategy).__name__
        role = "" if cfg.strategy != "multiworker" else " (the chief)" if chief else " (another worker)"
        print(f"{name} over {strategy.num_replicas_in_sync} replicas{role}")
    # ---- Input pipeline: read and check all data before the run dir exists.
    try:  # reading, and writing the disk cache (whole or absent): no run dir yet
        samples = task.load_samples(cfg)
        cfg = task.prepare(cfg, samples)  # e.g. the identity classifier's people
        train_samples, val_samples = task.split(cfg, samples)
    except KeyboardInterrupt:
        print("interrupted while reading the data; nothing was written")
        raise SystemExit(130)
    del samples  # the two parts are what training keeps (with the disk cache, not the images)
    if not len(train_samples) or not len(val_samples):
        raise InputError(
            f"{cfg.data}: {len(train_samples)} training / {len(val_samples)} validation images after the split "
            f"(--val-fraction {cfg.val_fraction:g}, by person where the data names people): both need some"
        )
    val = task.val_arrays(cfg, val_samples)
    print(
        f"data: {len(train_samples)} training / {len(val_samples)} validation images "
        f"({len(set(val_samples.groups))} validation groups)"
    )
    validation = validation_record(val_samples)
    changed = validation_change(run_dir, validation, cfg, new_validation)

    # ---- Model and optimizer.
    keras.utils.set_random_seed(cfg.seed)  # same seed, same initial weights
    with strategy.scope():
        model = models.build(cfg)
        optimizer = make_optimizer(cfg)
    loss_fn = task.loss_fn(cfg)
    sign = -1.0 if task.higher_is_better else 1.0  # the best checkpoint minimises sign * metric

    # ---- Checkpoint. Resume order: 1) this run's latest checkpoint, 2) --init-from (matching
    # weights only), 3) from scratch.
    with strategy.scope():
        ckpts = RunCheckpoints(run_dir, model, optimizer, cfg.keep_checkpoints, save_dir=log_dir)
    restored = ckpts.resume()
    start = int(ckpts.step.numpy()) if restored else 0
    if restored:
        print(f"resuming {run_dir} from step {start} ({restored})")
    elif cfg.init_from:
        print(init_from_run(model, cfg.init_from))
    elif getattr(cfg, "backbone_weights", ""):
        print(load_backbone_weights(model, cfg.backbone_weights))
    else:
        print(f"starting {run_dir} from scratch: {model.count_params():,} parameters")
    if changed:
        aside = ckpts.restart_best(f"best-until-step-{start}")
        print(
            f"{run_dir}: validation set changed: {changed}; --new-validation: the best checkpoint is chosen "
            "anew" + (f"; the earlier one is kept in {aside}" if aside else "")
        )
    new_run = not os.path.isfile(os.path.join(run_dir, "config.json"))
    if chief:  # only once the start is sound
        record_run_controls(run_dir, cfg)
        atomic_write_json(os.path.join(run_dir, VALIDATION_FILE), validation)
        trim_metrics(os.path.join(run_dir, "metrics.jsonl"), start)

    # ---- Update and evaluation steps.
    train_step = make_train_step(model, optimizer, loss_fn, strategy, cfg)

    predict_step = compiled_predict(model)

    def evaluate(step):
        predictions = predict_in_batches(predict_step, val["image"])
        results = task.evaluate(predictions, val)
        with val_writer.as_default(step=step):
            for name, value in results.items():
                tf.summary.scalar(f"val/{name}", value)
            for name, picture in task.summary_images(predictions, val).items():
                tf.summary.image(name, picture)
        return results

    # ---- Train loop.
    train_writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))
    val_writer = tf.summary.create_file_writer(os.path.join(log_dir, "val"))
    for writer in (train_writer, val_writer):
        mark_start(writer, start)
    log = open(os.path.join(log_dir, "metrics.jsonl"), "a")
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        unit="step",
        dynamic_ncols=True,
        desc="train",
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
        disable=not chief,
    )  # logs get a line every 30 s
    done, results, tick, losses, status = start, {}, time.perf_counter(), [], {}
    interrupts.deferred = True  # from here a signal stops the loop at the next step boundary
    try:
        batches = iter(
            strategy.experimental_distribute_dataset(distributable(task.train_batches(cfg, train_samples, start)))
        )
        for step in range(start, cfg.steps):
            interrupts.check()
            try:
                batch = next(batches)
            except tf.errors.ResourceExhaustedError as e:
                raise out_of_memory(step, e, cfg, ckpts)
            except tf.errors.OpError as e:  # the data went away under the run (a deleted disk cache)
                if done > (ckpts.saved_step or 0):
                    ckpts.save(done)
                raise InputError(
                    f"training data unreadable at step {step + 1} ({first_line(e)}); {ckpts.kept()} in "
                    f"{run_dir}: run the same command to resume"
                )
            try:
                out = train_step(batch)
            except tf.errors.ResourceExhaustedError as e:
                raise out_of_memory(step, e, cfg, ckpts)
            losses.append(float(out["loss"]))
            if not math.isfinite(losses[-1]):
                raise TrainingStopped(f"loss became {losses[-1]} at step {step + 1}; {ckpts.kept()}")
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                seconds, tick = time.perf_counter() - tick, time.perf_counter()
                scalars = {
                    "loss": float(np.mean(losses)),
                    "grad_norm": float(out["grad_norm"]),
                    "lr": float(optimizer.learning_rate),
                    "images_per_s": len(losses) * cfg.batch_size / seconds,
                }
                losses = []
                with train_writer.as_default(step=done):
                    for name, value in scalars.items():
                        tf.summary.scalar(f"train/{name}", value)
                log.write(json.dumps({"step": done, "split": "train", **scalars}) + "\n")
                status.update(loss=f"{scalars['loss']:.3f}", img_s=f"{scalars['images_per_s']:.0f}")
                bar.set_postfix(status)
            if done % cfg.eval_every == 0 or done == cfg.steps:
                results = evaluate(done)
                elapsed = round(time.perf_counter() - began, 1)
                log.write(json.dumps({"step": done, "split": "val", **results, "elapsed_s": elapsed}) + "\n")
                value = agreed(strategy, sign * results[task.best_metric])  # one verdict on every worker
                if value < ckpts.best.numpy():
                    ckpts.save_best(done, value)
                status[task.best_metric] = f"{results[task.best_metric]:.4f}"
                bar.set_postfix(status)
            log.flush()  # before the checkpoint: the rows of every saved step are on disk
            if done % cfg.ckpt_every == 0 or done == cfg.steps:
                ckpts.save(done)
            bar.update(1)
    except KeyboardInterrupt:
        if done > (ckpts.saved_step or 0):  # `done` counts only steps whose loss was checked finite
            ckpts.save(done)
        bar.close()
        print(
            f"interrupted: checkpoint at step {ckpts.saved_step} saved in {run_dir}; run the same command to resume"
            if ckpts.saved_step is not None
            else f"interrupted before step 1; {run_dir} holds no checkpoint"
        )
        raise SystemExit(130)
    except TrainingStopped:
        if new_run and chief and ckpts.saved_step is None:  # nothing worth keeping: leave no run dir behind
            for writer in (train_writer, val_writer, log):
                writer.close()
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        interrupts.deferred = False
        bar.close()
        log.close()
    results = results or evaluate(done)  # a run already at --steps still reports its metrics
    agreed(strategy, 0.0)  # a barrier: no worker reads the best checkpoint before the chief has saved it
    ckpts.restore_weights()  # the best weights serve the task's after-training fits (threshold, SVM)
    if chief:
        task.after_training(cfg, run_dir, predict_step, val)
    print(summary(task, run_dir, done, results))
    return results
