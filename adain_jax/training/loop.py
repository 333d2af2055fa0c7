"""The training loop: resume, step, log, sample, checkpoint, export, stop cleanly.

Data come from a feed (:mod:`.feed`: image packs sampled on the device, or the grain loader
over folders and tfds). With a time budget (``config.seconds``) the loop stops when it is
spent, saves and exports; ``config.export_every_s`` exports the weights periodically as well,
so a run killed at its limit leaves its last export. The model-specific choices are
``config.lite_config()`` (the init and the step), :func:`export_path` and
:func:`warm_start_params`.

Stopping: SIGTERM/SIGINT finish the current step, save a checkpoint, wait for it and
raise :class:`TrainingInterrupted` (the CLI exits 0 for SIGTERM, 130 for SIGINT).
A non-finite loss raises :class:`TrainingDiverged` without saving (the last good
checkpoint stays; the CLI exits 3).
"""
from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import jax
import numpy as np

from adain_jax import fs
from adain_jax.errors import AdainError, ConfigError
from adain_jax.model import registry
from adain_jax.nn import models
from adain_jax.training import distributed
from adain_jax.training.feed import HostFeed, host_rows, make_loader, open_feed
from adain_jax.training.checkpoint import Checkpoints, abstract_like, export_decoder, gather_json
from adain_jax.training.config import TrainConfig, check_compatible, stored_config
from adain_jax.training.metrics import MetricsLogger, write_sample
from adain_jax.training.step import (TrainState, compiled_step, global_batch, local_copy,
                                     lr_at, make_mesh, new_state, replicate)


class TrainingInterrupted(Exception):
    """Raised after a signal stopped training and the checkpoint was saved."""

    def __init__(self, signum: int, step: int, state=None):
        self.signum, self.step, self.state = signum, step, state
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        super().__init__(f"stopped by {name} after step {step}; checkpoint saved")


class TrainingDiverged(AdainError):
    """The loss became NaN/inf; nothing was saved after the last good checkpoint."""

# ---------------------------------------------------------------------------- loop helpers

class _StopFlag:
    """SIGTERM/SIGINT set a flag; the loop stops after the current step. A second
    signal gets the previous handler (Ctrl-C twice aborts)."""

    def __init__(self):
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            print(f"\n{signal.Signals(signum).name}: finishing the current step and saving a "
                  "checkpoint (send again to abort)", file=sys.stderr, flush=True)
        old = self._old.get(signum, signal.SIG_DFL)
        signal.signal(signum, old if old is not None else signal.SIG_DFL)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
        return False


def _any_process(*flags: bool) -> tuple[bool, ...] | bool:
    """Whether any process has each flag set (one all-gather for all flags)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        got = multihost_utils.process_allgather(np.array(flags, np.int32))
        flags = tuple(bool(x) for x in np.any(np.asarray(got).reshape(-1, len(flags)), axis=0))
    return flags if len(flags) > 1 else bool(flags[0])


def export_path(workdir: Path, config: TrainConfig) -> Path:
    """Where the trained weights are exported: ``config.export``, else the model's
    export file (``decoder.npz``, or ``lite.npz`` for the lite model) in the workdir."""
    if config.export:
        return Path(config.export).absolute()
    return workdir / registry.get(config.model).export_file


def load_vgg_params(config: TrainConfig):
    from adain_jax.weights import load_vgg

    return load_vgg(config.vgg)


def warm_start_params(config: TrainConfig, fresh):
    """The model-specific part of a warm start (``config.init``): the weights read from the
    file, in the layout of the fresh train tree ``fresh`` (the lite tree keeps its fresh
    distillation head)."""
    from adain_jax import weights

    lite_config = config.lite_config()
    if lite_config is None:
        return weights.load_decoder(config.init)
    loaded = weights.load_lite(config.init)
    if lite.config_of(loaded) != lite_config:
        raise ConfigError(f"{config.init} holds the lite model {lite.config_of(loaded)}, not "
                          f"the {lite_config} trained")
    return {**fresh, **loaded}


# ---------------------------------------------------------------------------- train()

def train(config: TrainConfig, *, loader: Iterator | None = None, feed=None, vgg_params=None,
          progress: bool | None = None, verbose: bool = True,
          report: dict | None = None) -> TrainState:
    """Train (or resume, if ``<workdir>/checkpoints`` has one) and return the final state.

    Data: ``feed`` (:mod:`adain_jax.training.feed`: gives each step's global batch), or
    ``loader``, an iterator of host batches ``{'content', 'style'}`` (this process's rows,
    float32 in [0, 1]) with ``get_state()``/``set_state()``; by default the feed
    :func:`adain_jax.training.feed.open_feed` picks for ``config.content_data``/``style_data``
    (image packs sampled on the device, or the grain ``PairLoader`` over folders or tfds).
    ``vgg_params``: host VGG tree; by default ``weights.load_vgg(config.vgg)``.
    ``progress``: tqdm bar (default: when stderr is a TTY). ``report``: a dict filled with
    the run's record (start and last step, compile and loop seconds, what stopped it, the last
    logged values).
    ``config.seconds`` bounds the run's time (counted from this call): the loop stops, saves
    and exports when it is spent; ``config.export_every_s`` exports the weights periodically.
    Raises :class:`TrainingInterrupted` after a signal (checkpoint saved) and
    :class:`TrainingDiverged` on a non-finite loss.
    """
    t_begin = time.perf_counter()
    config.validate()
    distributed.initialize(config.coordinator, config.num_processes, config.process_id,
                           auto=config.tpu)
    mesh = make_mesh()
    n_dev, n_proc = jax.device_count(), jax.process_count()
    if config.batch_size % n_dev:
        raise ConfigError(f"--batch-size {config.batch_size} is not divisible by the number of "
                          f"devices ({n_dev})")
    local_batch = config.batch_size // n_proc
    primary = jax.process_index() == 0
    say = (lambda *a: print(*a, flush=True)) if (verbose and primary) else (lambda *a: None)
    report = {} if report is None else report

    if vgg_params is None:
        vgg_params = load_vgg_params(config)   # before touching the workdir
    if models.param_shapes(vgg_params) != models.expected_shapes("vgg"):
        raise ConfigError("the VGG params do not have the encoder's keys/shapes")
    vgg = replicate(vgg_params, mesh)

    workdir = Path(config.workdir).absolute()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create --workdir {workdir}: {e.strerror or e}") from None
    current = stored_config(config)

    ckpts = Checkpoints(workdir, keep=config.keep)
    own_feed = feed is None and loader is None
    logger = None
    try:
        state = new_state(mesh, config.lr, config.lr_decay, config.seed, config.lite_config())

        def compatible(stored) -> None:
            for w in check_compatible(stored, current, str(workdir)):
                say(f"warning: resuming with a changed setting: {w}")

        # The newest intact checkpoint (checksums, finite values); damaged ones are skipped.
        restored = ckpts.restore_newest(abstract_like(state), compatible, say)
        latest = restored[0] if restored is not None else None
        data_state = None
        if restored is not None:
            _, _, state, data = restored
            states = data.get("states") or []
            if data.get("process_count") == n_proc and isinstance(states, list) \
                    and len(states) == n_proc:
                data_state = states[jax.process_index()]
            else:
                say(f"warning: the checkpoint's data position is for {data.get('process_count')} "
                    f"processes, not {n_proc}; the data stream restarts from its seed")
        elif config.init:
            fresh = local_copy(state.params)
            state = state.replace(params=replicate(warm_start_params(config, fresh), mesh))
        start = int(jax.device_get(local_copy(state.step)))

        say("config: " + json.dumps(config.to_json(), sort_keys=True))
        say(f"devices: {n_dev} ({jax.devices()[0].platform}) on {n_proc} process(es); "
            f"global batch {config.batch_size}, {local_batch} per process")
        if latest is not None:
            say(f"resuming from {ckpts.directory / str(latest)} at step {start}")
        elif config.init:
            say(f"warm start from {config.init}")
        if primary:
            fs.atomic_write(workdir / "config.json", json.dumps(current, indent=2, sort_keys=True))

        if feed is None:
            feed = HostFeed(loader, mesh, config.batch_size) if loader is not None \
                else open_feed(config, mesh)
        if data_state is not None:
            feed.set_state(data_state)

        report.update(start=start, steps=start, compile_s=None, loop_s=0.0, stopped="steps",
                      last_log=None)
        if start >= config.steps:
            say(f"already trained {start} steps (--steps {config.steps}); nothing to do")
            if primary:
                export_decoder(export_path(workdir, config), state.params)
            return state

        step_fn = compiled_step(mesh, float(config.lr), float(config.lr_decay),
                                float(config.style_weight), config.dtype, config.lite_config(),
                                float(config.distill_weight))
        show_bar = sys.stderr.isatty() if progress is None else progress
        logger = MetricsLogger(workdir, start, enabled=primary,
                         echo=verbose and not sys.stdout.isatty())
        deadline = t_begin + config.seconds if config.seconds else math.inf
        run = LoopContext(config, vgg, step_fn, feed, ckpts, logger, mesh, workdir,
                          show_bar and primary, say, deadline, report)
        return run_loop(run, state, start)
    finally:
        if logger is not None:
            logger.close()
        ckpts.close()
        if own_feed and feed is not None:
            feed.close()


@dataclasses.dataclass
class LoopContext:
    """What the loop works with, besides the state it updates."""

    config: TrainConfig
    vgg: Any                 # replicated VGG params
    step_fn: Callable        # compiled_step(...)
    feed: Any                # batch(step) -> (global batch, host rows or None); get/set_state
    ckpts: Checkpoints
    logger: MetricsLogger
    mesh: Any
    workdir: Path
    show_bar: bool
    say: Callable
    deadline: float = math.inf    # perf_counter time at which the loop stops and saves
    report: dict = dataclasses.field(default_factory=dict)


class _NoBar:
    def update(self, n): pass
    def set_postfix(self, **kw): pass
    def close(self): pass


def run_loop(run: LoopContext, state: TrainState, start: int) -> TrainState:
    """Steps from ``start`` to ``run.config.steps`` or ``run.deadline``: log, sample,
    checkpoint, export, stop on a signal (:class:`TrainingInterrupted`) or a non-finite loss
    (:class:`TrainingDiverged`)."""
    config, vgg, step_fn, feed, ckpts, logger, workdir = (
        run.config, run.vgg, run.step_fn, run.feed, run.ckpts, run.logger, run.workdir)
    say, report = run.say, run.report
    if run.show_bar:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=start, unit="step", dynamic_ncols=True,
                   smoothing=0.1)
    else:
        bar = _NoBar()
    primary = jax.process_index() == 0
    samples_dir = workdir / "samples"
    vgg_local = None
    window: list[dict[str, float]] = []
    t_loop = t_window = t_export = time.perf_counter()

    def checked(pending, final: bool = False) -> None:
        """Fetch a finished step's metrics; stop on NaN/inf; log."""
        nonlocal t_window
        step, metrics, batch, host = pending
        m = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if report["compile_s"] is None:
            report["compile_s"] = round(time.perf_counter() - t_loop, 3)
        # Host batches are checked too: XLA:CPU's max (ReLU, pooling) may drop a NaN, so a bad
        # batch does not always show in the loss.
        bad_input = host is not None and not all(np.isfinite(np.asarray(host[k])).all()
                                                 for k in ("content", "style"))
        if bad_input or not all(math.isfinite(v) for v in m.values()):
            if not bad_input:   # device-fed batches: their rows are fetched only now
                rows = host_rows(batch, host)
                bad_input = not all(np.isfinite(np.asarray(rows[k])).all()
                                    for k in ("content", "style"))
            ckpts.wait()
            good = ckpts.latest_step()
            where = (f"the last good checkpoint is step {good} in {ckpts.directory}" if good is not None
                     else "no checkpoint was saved yet")
            cause = ("the input batch contains NaN/inf pixels" if bad_input else
                     "try a lower --lr, a lower --style-weight or --dtype float32")
            report.update(steps=step - 1, stopped="diverged")
            raise TrainingDiverged(
                f"loss became non-finite at step {step} (loss={m['loss']}, content={m['content']}, "
                f"style={m['style']}); {cause}; {where}")
        window.append(m)
        bar.update(1)
        bar.set_postfix(loss=f"{m['loss']:.3f}", content=f"{m['content']:.3f}",
                        style=f"{m['style']:.3f}", refresh=False)
        if step % config.log_every == 0 or step == config.steps or final:
            now = time.perf_counter()
            values = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            values.update({"lr": lr_at(config.lr, config.lr_decay, step - 1),
                      "steps_per_s": len(window) / max(now - t_window, 1e-9)})
            logger.log(step, values, config.steps)
            report["last_log"] = {"step": step, **values}
            window.clear()
            t_window = now

    def export(step: int) -> None:
        if primary:
            export_decoder(export_path(workdir, config), state.params)

    def save(step: int) -> None:
        if config.checkpoint_every:
            data_states = gather_json(feed.get_state())
            ckpts.save(step, state, data_states, stored_config(config))
        export(step)

    pending = None
    step = start
    with _StopFlag() as stop:
        try:
            while step < config.steps:
                batch, host = feed.batch(step)
                state, metrics = step_fn(state, vgg, batch)
                step += 1
                if pending is not None:
                    checked(pending)     # the previous step, while this one runs
                pending = (step, metrics, batch, host)
                now = time.perf_counter()
                stopping, out_of_time = _any_process(stop.signum is not None, now > run.deadline)
                every = config.checkpoint_every
                want_ckpt = (bool(every) and step % every == 0) or step == config.steps \
                    or stopping or out_of_time
                want_sample = bool(config.sample_every) and step % config.sample_every == 0
                want_export = (bool(config.export_every_s) and not want_ckpt
                               and now - t_export >= config.export_every_s)
                if want_ckpt or want_sample or want_export:
                    checked(pending, final=out_of_time)
                    pending = None
                if want_sample and primary:
                    if vgg_local is None:
                        vgg_local = local_copy(vgg)
                    write_sample(samples_dir / f"step_{step:07d}.jpg", host_rows(batch, host),
                                 local_copy(state.params), vgg_local)
                if want_ckpt:
                    save(step)
                elif want_export:
                    export(step)
                if want_ckpt or want_export:
                    t_export = time.perf_counter()
                report.update(steps=step, loop_s=round(time.perf_counter() - t_loop, 3))
                if stopping:
                    ckpts.wait()
                    bar.close()
                    signum = stop.signum if stop.signum is not None else signal.SIGTERM
                    report["stopped"] = "signal"
                    say(f"saved checkpoint at step {step} in {ckpts.directory}")
                    raise TrainingInterrupted(signum, step, state)
                if out_of_time:
                    report["stopped"] = "seconds"
                    say(f"time budget of {config.seconds:g} s spent after step {step}")
                    break
            if pending is not None:
                checked(pending)
        finally:
            bar.close()
    ckpts.wait()
    report["loop_s"] = round(time.perf_counter() - t_loop, 3)
    say(f"done: {step} steps; weights exported to {export_path(workdir, config)}")
    return state


__all__ = ["TrainingInterrupted", "TrainingDiverged", "train", "make_loader", "run_loop",
           "LoopContext", "export_path", "warm_start_params"]
