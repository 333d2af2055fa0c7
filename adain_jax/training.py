"""Training the AdaIN decoder: a pure, jit-compiled, data-parallel step and the loop.

The step ``(state, vgg_params, batch) -> (state, metrics)`` differentiates the loss
only w.r.t. the decoder params in ``state``; the VGG params are a separate argument
that is never differentiated nor updated (frozen by construction). It is compiled once
with ``jax.jit`` over a 1-D mesh ``('data',)`` of every device of every host: the batch
is sharded on ``'data'``, params and optimizer state are replicated (XLA inserts the
gradient all-reduce), and the train state is donated.

Loss (Huang & Belongie 2017): ``t = AdaIN(f(c), f(s))``, ``g = decoder(t)``,
``content = MSE(f(g), t)``, ``style = sum_l MSE(mu(phi_l(g)), mu(phi_l(s))) +
MSE(sigma(phi_l(g)), sigma(phi_l(s)))``, ``loss = content + style_weight * style``.
Adam with ``lr_t = lr / (1 + lr_decay * t)``, t = number of updates done (as the authors'
``adjust_learning_rate`` called before update t).

Stopping: SIGTERM/SIGINT finish the current step, save a checkpoint, wait for it and
raise :class:`TrainingInterrupted` (the CLI exits 0 for SIGTERM, 130 for SIGINT).
A non-finite loss raises :class:`TrainingDiverged` without saving (the last good
checkpoint stays; the CLI exits 3).
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from . import models, ops
from .checkpoint import Checkpoints, abstract_like, atomic_write_text, export_decoder, gather_json
from .errors import AdainError, ConfigError

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
SAMPLE_COUNT = 4  # batch items shown in a sample grid


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


# ---------------------------------------------------------------------------- config

@dataclasses.dataclass
class TrainConfig:
    content_data: str = ""
    style_data: str = ""
    workdir: str = ""
    steps: int = 160_000
    batch_size: int = 8          # global, over all devices of all hosts
    crop_size: int = 256
    resize: int = 512
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    dtype: str = "float32"       # compute dtype of encoder/decoder; params stay float32
    vgg: str | None = None       # None: the shipped normalised VGG
    seed: int = 0
    workers: int = 2
    checkpoint_every: int = 1000
    keep: int = 3
    log_every: int = 100
    sample_every: int = 1000     # 0 disables sample grids
    tpu: bool = False            # jax.distributed.initialize() first (multi-host)

    def validate(self) -> None:
        if not self.workdir:
            raise ConfigError("a --workdir is required")
        if self.dtype not in DTYPES:
            raise ConfigError(f"--dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        positive = ("steps", "batch_size", "crop_size", "resize", "checkpoint_every", "keep",
                    "log_every")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, "
                                  f"got {getattr(self, name)}")
        if self.sample_every < 0 or self.workers < 0:
            raise ConfigError("--sample-every and --workers must not be negative")
        if self.crop_size % models.DOWNSCALE:
            raise ConfigError(f"--crop-size must be a multiple of {models.DOWNSCALE}, "
                              f"got {self.crop_size}")
        if self.crop_size > self.resize:
            raise ConfigError(f"--crop-size {self.crop_size} is larger than --resize {self.resize}")
        for name in ("lr", "lr_decay", "style_weight"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0 or (name == "lr" and v == 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite "
                                  f"{'positive' if name == 'lr' else 'non-negative'} number, got {v}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def architecture() -> dict:
    """What a checkpoint's params must match (JSON-comparable)."""
    return {
        "encoder": [list(x) for x in models.ENCODER_LAYERS],
        "decoder": [list(x) for x in models.DECODER_LAYERS],
        "decoder_shapes": {k: list(v) for k, v in sorted(models.expected_shapes("decoder").items())},
        "optimizer": "adam",
    }


def stored_config(config: TrainConfig) -> dict:
    return {"train": config.to_json(), "arch": architecture(),
            "process_count": jax.process_count(), "device_count": jax.device_count()}


# These change the trajectory of a resumed run (a warning is printed when they differ).
_TRAJECTORY_FIELDS = ("batch_size", "crop_size", "resize", "lr", "lr_decay", "style_weight",
                      "dtype", "vgg", "seed", "content_data", "style_data")


def check_compatible(stored: Mapping, current: Mapping, where: str) -> list[str]:
    """Raise ConfigError if the checkpoint's architecture differs; return warnings."""
    if not isinstance(stored, Mapping):
        raise ConfigError(f"{where} holds a checkpoint with a malformed config record; "
                          "use a new --workdir")
    arch_s, arch_c = stored.get("arch"), current["arch"]
    if arch_s != arch_c:
        if not isinstance(arch_s, Mapping):
            detail = "it has no architecture record"
        else:
            diffs = [k for k in sorted(set(arch_s) | set(arch_c)) if arch_s.get(k) != arch_c.get(k)]
            detail = "different " + ", ".join(diffs)
            if "decoder_shapes" in diffs and isinstance(arch_s.get("decoder_shapes"), Mapping):
                ds, dc = arch_s["decoder_shapes"], arch_c["decoder_shapes"]
                bad = [k for k in sorted(set(ds) | set(dc)) if ds.get(k) != dc.get(k)][:3]
                detail += " (" + "; ".join(f"{k}: {ds.get(k)} vs {dc.get(k)}" for k in bad) + ")"
        raise ConfigError(f"{where} holds a checkpoint of an incompatible model ({detail}); "
                          "use a new --workdir")
    old, new = stored.get("train", {}), current["train"]
    if not isinstance(old, Mapping):
        old = {}
    return [f"{k} was {old.get(k)!r} in the checkpoint, now {new.get(k)!r}"
            for k in _TRAJECTORY_FIELDS if k in old and old.get(k) != new.get(k)]


# ---------------------------------------------------------------------------- state & step

@flax.struct.dataclass
class TrainState:
    step: jax.Array      # int32 scalar: number of updates done
    params: Any          # decoder params (float32)
    opt_state: Any       # optax Adam state (float32)


def lr_schedule(lr: float, decay: float):
    """``lr / (1 + decay * count)``, count = updates done so far (0 for the first)."""
    def schedule(count):
        return lr / (1.0 + decay * count.astype(jnp.float32))
    return schedule


def make_optimizer(lr: float, decay: float) -> optax.GradientTransformation:
    # Adam defaults (0.9, 0.999, eps 1e-8) equal torch.optim.Adam's.
    return optax.adam(lr_schedule(lr, decay))


def init_decoder(rng) -> dict:
    feat = jnp.zeros((1, 2, 2, 512), jnp.float32)
    return models.Decoder().init(rng, feat)["params"]


def init_state(rng, tx: optax.GradientTransformation) -> TrainState:
    params = init_decoder(rng)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def loss_fn(decoder_params, vgg_params, content, style, style_weight: float = 10.0,
            dtype=jnp.float32):
    """(loss, {'content', 'style'}) in float32; differentiate w.r.t. ``decoder_params`` only."""
    vgg_params = jax.lax.stop_gradient(vgg_params)
    c4 = models.encode(vgg_params, content, dtype)[-1]
    s_feats = models.encode(vgg_params, style, dtype)
    t = ops.adain(c4, s_feats[-1])            # float32 target, no gradient path to the decoder
    g = models.decode(decoder_params, t, dtype)
    g_feats = models.encode(vgg_params, g, dtype)
    lc = ops.content_loss(g_feats[-1], t)
    ls = ops.style_loss(g_feats, s_feats)
    return lc + style_weight * ls, {"content": lc, "style": ls}


def train_step(state: TrainState, vgg_params, batch: Mapping, *, tx: optax.GradientTransformation,
               style_weight: float, dtype=jnp.float32) -> tuple[TrainState, dict]:
    """One Adam update of the decoder. Pure; ``vgg_params`` is only read."""
    (loss, parts), grads = jax.value_and_grad(loss_fn, argnums=0, has_aux=True)(
        state.params, vgg_params, batch["content"], batch["style"], style_weight, dtype)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new = TrainState(step=state.step + 1, params=params, opt_state=opt_state)
    return new, {"loss": loss, "content": parts["content"], "style": parts["style"]}


def make_mesh(devices=None) -> Mesh:
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))


@functools.lru_cache(maxsize=16)
def compiled_step(mesh: Mesh, lr: float, lr_decay: float, style_weight: float, dtype: str):
    """The jitted, sharded, donating step (cached so repeated train() calls reuse it)."""
    tx = make_optimizer(lr, lr_decay)
    repl = NamedSharding(mesh, P())
    data = NamedSharding(mesh, P("data"))
    fn = functools.partial(train_step, tx=tx, style_weight=float(style_weight), dtype=DTYPES[dtype])
    return jax.jit(fn, in_shardings=(repl, repl, data), out_shardings=(repl, repl),
                   donate_argnums=(0,))


@functools.lru_cache(maxsize=4)
def _init_fn(mesh: Mesh, lr: float, lr_decay: float):
    tx = make_optimizer(lr, lr_decay)
    return jax.jit(lambda key: init_state(key, tx), out_shardings=NamedSharding(mesh, P()))


def new_state(mesh: Mesh, lr: float, lr_decay: float, seed: int = 0) -> TrainState:
    """A fresh train state (decoder init from ``seed``), replicated over ``mesh``."""
    return _init_fn(mesh, float(lr), float(lr_decay))(jax.random.PRNGKey(seed))


def replicate(tree, mesh: Mesh):
    """Host arrays -> arrays replicated on every device of the mesh (works multi-host)."""
    sharding = NamedSharding(mesh, P())

    def one(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])
    return jax.tree.map(one, tree)


def global_batch(host: Mapping, mesh: Mesh, global_size: int) -> dict:
    """This process's rows -> global arrays sharded on 'data'."""
    sharding = NamedSharding(mesh, P("data"))
    local = global_size // jax.process_count()
    out = {}
    for k in ("content", "style"):
        x = np.asarray(host[k], np.float32)
        if x.ndim != 4 or x.shape[0] != local or x.shape[-1] != 3:
            raise ConfigError(f"data loader gave '{k}' of shape {x.shape}, expected "
                              f"({local}, H, W, 3)")
        out[k] = jax.make_array_from_process_local_data(
            sharding, x, (global_size,) + x.shape[1:])
    return out


@jax.jit
def _stylize_sample(decoder_params, vgg_params, content, style):
    t = ops.adain(models.encode(vgg_params, content)[-1], models.encode(vgg_params, style)[-1])
    return jnp.clip(models.decode(decoder_params, t), 0.0, 1.0)


def _local_copy(tree):
    """Single-device (first local device) copies of replicated arrays."""
    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)


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


def _any_process(flag: bool) -> bool:
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.array([flag], np.int32))))


class _Logger:
    """metrics.csv + TensorBoard + stdout lines (when stdout is not a TTY); process 0 only."""

    FIELDS = ("step", "loss", "content", "style", "lr", "steps_per_s", "wall_time")

    def __init__(self, workdir: Path, start: int, enabled: bool, echo: bool):
        self.enabled, self.echo = enabled, echo
        self.tb = None
        if not enabled:
            return
        self.csv_path = workdir / "metrics.csv"
        rows = []
        if self.csv_path.exists():
            with open(self.csv_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if _int(r.get("step")) <= start]
        with open(self.csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, self.FIELDS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        try:
            from tensorboardX import SummaryWriter

            self.tb = SummaryWriter(str(workdir / "tb"), purge_step=start if start else None)
        except ImportError:  # pragma: no cover
            print("warning: tensorboardX missing; no TensorBoard logs", file=sys.stderr)

    def log(self, step: int, values: Mapping[str, float], total_steps: int):
        if not self.enabled:
            return
        row = {"step": step, **{k: f"{v:.8g}" for k, v in values.items()}, "wall_time": f"{time.time():.3f}"}
        with open(self.csv_path, "a", newline="") as f:
            csv.DictWriter(f, self.FIELDS, extrasaction="ignore").writerow(row)
        if self.tb is not None:
            for k in ("loss", "content", "style", "lr", "steps_per_s"):
                if k in values:
                    self.tb.add_scalar(f"train/{k}", values[k], step)
            self.tb.flush()
        if self.echo:
            sps = values.get("steps_per_s", 0.0)
            eta = (total_steps - step) / sps if sps > 0 else float("nan")
            print(f"step {step}/{total_steps}  loss {values['loss']:.4f}  content "
                  f"{values['content']:.4f}  style {values['style']:.4f}  lr {values['lr']:.3g}  "
                  f"{sps:.2f} steps/s  eta {_fmt_eta(eta)}", flush=True)

    def close(self):
        if self.tb is not None:
            self.tb.close()


def _int(x) -> int:
    try:
        return int(x)
    except (TypeError, ValueError):
        return 1 << 62


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _init_distributed() -> None:
    """``jax.distributed.initialize()`` (auto-detects TPU pods / cluster envs), once."""
    is_init = getattr(jax.distributed, "is_initialized", None)
    if is_init is not None and is_init():
        return
    try:
        jax.distributed.initialize()
    except (RuntimeError, ValueError) as e:
        msg = " ".join(str(e).split())[:300]
        raise ConfigError(f"--tpu: jax.distributed.initialize() failed ({msg}); "
                          "drop --tpu on a single host") from None


def make_loader(config: TrainConfig, local_batch: int):
    from .data import PairLoader

    return PairLoader(config.content_data, config.style_data, batch_size=local_batch,
                      crop_size=config.crop_size, resize=config.resize, seed=config.seed,
                      workers=config.workers, shard_index=jax.process_index(),
                      shard_count=jax.process_count())


def load_vgg_params(config: TrainConfig):
    from .convert import load_vgg

    return load_vgg(config.vgg)


def _write_sample(path: Path, host: Mapping, params_local, vgg_local) -> None:
    n = min(SAMPLE_COUNT, len(host["content"]))
    content = np.asarray(host["content"][:n], np.float32)
    style = np.asarray(host["style"][:n], np.float32)
    out = np.asarray(_stylize_sample(params_local, vgg_local, content, style))
    from .image_io import save_grid

    save_grid(path, [[content[i], style[i], out[i]] for i in range(n)], pad=4, overwrite=True)


# ---------------------------------------------------------------------------- train()

def train(config: TrainConfig, *, loader: Iterator | None = None, vgg_params=None,
          progress: bool | None = None, verbose: bool = True) -> TrainState:
    """Train (or resume, if ``<workdir>/checkpoints`` has one) and return the final state.

    ``loader``: an iterator of host batches ``{'content', 'style'}`` (this process's
    rows, float32 in [0, 1]) with ``get_state()``/``set_state()``; by default a
    :class:`adain_jax.data.PairLoader` over ``config.content_data``/``style_data``.
    ``vgg_params``: host VGG tree; by default ``convert.load_vgg(config.vgg)``.
    ``progress``: tqdm bar (default: when stderr is a TTY).
    Raises :class:`TrainingInterrupted` after a signal (checkpoint saved) and
    :class:`TrainingDiverged` on a non-finite loss.
    """
    config.validate()
    if config.tpu:
        _init_distributed()
    mesh = make_mesh()
    n_dev, n_proc = jax.device_count(), jax.process_count()
    if config.batch_size % n_dev:
        raise ConfigError(f"--batch-size {config.batch_size} is not divisible by the number of "
                          f"devices ({n_dev})")
    local_batch = config.batch_size // n_proc
    primary = jax.process_index() == 0
    say = (lambda *a: print(*a, flush=True)) if (verbose and primary) else (lambda *a: None)

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
    own_loader = loader is None
    logger = None
    try:
        latest = ckpts.latest_step()
        stored = None
        if latest is not None:
            stored = ckpts.restore_config(latest)
            for w in check_compatible(stored, current, str(workdir)):
                say(f"warning: resuming with a changed setting: {w}")

        state = new_state(mesh, config.lr, config.lr_decay, config.seed)
        data_state = None
        if latest is not None:
            state, data = ckpts.restore(latest, abstract_like(state))
            states = data.get("states") or []
            if data.get("process_count") == n_proc and isinstance(states, list) \
                    and len(states) == n_proc:
                data_state = states[jax.process_index()]
            else:
                say(f"warning: the checkpoint's data position is for {data.get('process_count')} "
                    f"processes, not {n_proc}; the data stream restarts from its seed")
        start = int(jax.device_get(_local_copy(state.step)))

        say("config: " + json.dumps(config.to_json(), sort_keys=True))
        say(f"devices: {n_dev} ({jax.devices()[0].platform}) on {n_proc} process(es); "
            f"global batch {config.batch_size}, {local_batch} per process")
        if latest is not None:
            say(f"resuming from {ckpts.directory / str(latest)} at step {start}")
        if primary:
            atomic_write_text(workdir / "config.json", json.dumps(current, indent=2, sort_keys=True))

        if loader is None:
            loader = make_loader(config, local_batch)
        if data_state is not None:
            loader.set_state(data_state)

        if start >= config.steps:
            say(f"already trained {start} steps (--steps {config.steps}); nothing to do")
            if primary:
                export_decoder(workdir / "decoder.npz", state.params)
            return state

        step_fn = compiled_step(mesh, float(config.lr), float(config.lr_decay),
                                float(config.style_weight), config.dtype)
        show_bar = sys.stderr.isatty() if progress is None else progress
        logger = _Logger(workdir, start, enabled=primary,
                         echo=verbose and not sys.stdout.isatty())
        state = _loop(config, state, vgg, step_fn, loader, ckpts, logger, mesh, workdir, start,
                      show_bar and primary, say)
        return state
    finally:
        if logger is not None:
            logger.close()
        ckpts.close()
        if own_loader and loader is not None and hasattr(loader, "close"):
            loader.close()


def _loop(config, state, vgg, step_fn, loader, ckpts, logger, mesh, workdir, start, show_bar, say):
    from tqdm.auto import tqdm

    primary = jax.process_index() == 0
    samples_dir = workdir / "samples"
    vgg_local = None
    bar = tqdm(total=config.steps, initial=start, disable=not show_bar, unit="step",
               dynamic_ncols=True, smoothing=0.1)
    window: list[tuple[float, float, float]] = []
    t_window = time.perf_counter()

    def checked(pending) -> None:
        """Fetch a finished step's metrics; stop on NaN/inf; log."""
        nonlocal t_window
        step, metrics, host = pending
        m = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if not all(math.isfinite(v) for v in m.values()):
            bad_input = not all(np.isfinite(np.asarray(host[k])).all() for k in ("content", "style"))
            ckpts.wait()
            good = ckpts.latest_step()
            where = (f"the last good checkpoint is step {good} in {ckpts.directory}" if good is not None
                     else "no checkpoint was saved yet")
            cause = ("the input batch contains NaN/inf pixels" if bad_input else
                     "try a lower --lr, a lower --style-weight or --dtype float32")
            raise TrainingDiverged(
                f"loss became non-finite at step {step} (loss={m['loss']}, content={m['content']}, "
                f"style={m['style']}); {cause}; {where}")
        window.append((m["loss"], m["content"], m["style"]))
        bar.update(1)
        bar.set_postfix(loss=f"{m['loss']:.3f}", content=f"{m['content']:.3f}",
                        style=f"{m['style']:.3f}", refresh=False)
        if step % config.log_every == 0 or step == config.steps:
            now = time.perf_counter()
            mean = np.mean(np.asarray(window), axis=0)
            values = {"loss": mean[0], "content": mean[1], "style": mean[2],
                      "lr": config.lr / (1.0 + config.lr_decay * (step - 1)),
                      "steps_per_s": len(window) / max(now - t_window, 1e-9)}
            logger.log(step, values, config.steps)
            window.clear()
            t_window = now

    def save(step: int) -> None:
        data_states = gather_json(loader.get_state())
        ckpts.save(step, state, data_states, stored_config(config))
        if primary:
            export_decoder(workdir / "decoder.npz", state.params)

    pending = None
    step = start
    with _StopFlag() as stop:
        try:
            while step < config.steps:
                host = next(loader)
                batch = global_batch(host, mesh, config.batch_size)
                state, metrics = step_fn(state, vgg, batch)
                step += 1
                if pending is not None:
                    checked(pending)     # the previous step, while this one runs
                pending = (step, metrics, host)
                stopping = _any_process(stop.signum is not None)
                want_ckpt = step % config.checkpoint_every == 0 or step == config.steps or stopping
                want_sample = bool(config.sample_every) and step % config.sample_every == 0
                if want_ckpt or want_sample:
                    checked(pending)
                    pending = None
                if want_sample and primary:
                    if vgg_local is None:
                        vgg_local = _local_copy(vgg)
                    _write_sample(samples_dir / f"step_{step:07d}.jpg", host,
                                  _local_copy(state.params), vgg_local)
                if want_ckpt:
                    save(step)
                if stopping:
                    ckpts.wait()
                    bar.close()
                    signum = stop.signum if stop.signum is not None else signal.SIGTERM
                    say(f"saved checkpoint at step {step} in {ckpts.directory}")
                    raise TrainingInterrupted(signum, step, state)
            if pending is not None:
                checked(pending)
        finally:
            bar.close()
    ckpts.wait()
    say(f"done: {step} steps; decoder exported to {workdir / 'decoder.npz'}")
    return state


__all__ = ["TrainConfig", "TrainState", "TrainingInterrupted", "TrainingDiverged", "train",
           "train_step", "loss_fn", "make_optimizer", "lr_schedule", "compiled_step", "make_mesh",
           "init_state", "new_state", "check_compatible", "architecture"]
