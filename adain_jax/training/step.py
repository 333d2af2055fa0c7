"""The training step: a pure, jit-compiled, data-parallel Adam update of the decoder.

``(state, vgg_params, batch) -> (state, metrics)`` differentiates the loss only w.r.t. the
decoder params in ``state``; the VGG params are a separate argument that is never
differentiated nor updated (frozen by construction). It is compiled once with ``jax.jit`` over
a 1-D mesh ``('data',)`` of every device of every host: the batch is sharded on ``'data'``,
params and optimizer state are replicated (XLA inserts the gradient all-reduce), and the train
state is donated.

Loss (Huang & Belongie 2017): ``t = AdaIN(f(c), f(s))``, ``g = decoder(t)``,
``content = MSE(f(g), t)``, ``style = sum_l MSE(mu(phi_l(g)), mu(phi_l(s))) +
MSE(sigma(phi_l(g)), sigma(phi_l(s)))``, ``loss = content + style_weight * style``.
The lite model (``nn.lite``, ``lite_config`` given): ``frozen`` is ``{'vgg', 'lite_encoder'}``;
AdaIN and the content loss use the (frozen) lite encoder's features, the style loss the VGG's,
which stays the loss network (:func:`lite_loss_fn`).
Adam with ``lr_t = lr / (1 + lr_decay * t)``, t = number of updates done (as the authors'
``adjust_learning_rate`` called before update t).
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from adain_jax import ops
from adain_jax.errors import ConfigError
from adain_jax.nn import backends, lite, models


@flax.struct.dataclass
class TrainState:
    step: jax.Array      # int32 scalar: number of updates done
    params: Any          # decoder params (float32)
    opt_state: Any       # optax Adam state (float32)



def lr_at(lr: float, decay: float, count):
    """The learning rate after ``count`` updates: ``lr / (1 + decay * count)`` (numbers or
    arrays); the one definition the optimizer and the logs share."""
    return lr / (1.0 + decay * count)


def lr_schedule(lr: float, decay: float):
    """``lr / (1 + decay * count)``, count = updates done so far (0 for the first)."""
    def schedule(count):
        return lr_at(lr, decay, count.astype(jnp.float32))
    return schedule


def make_optimizer(lr: float, decay: float) -> optax.GradientTransformation:
    # Adam defaults (0.9, 0.999, eps 1e-8) equal torch.optim.Adam's.
    return optax.adam(lr_schedule(lr, decay))


def init_state(rng, tx: optax.GradientTransformation,
               lite_config: lite.LiteConfig | None = None) -> TrainState:
    """A fresh state: the main decoder, or the lite one of ``lite_config``."""
    params = models.init_decoder(rng) if lite_config is None else lite.init_decoder(rng, lite_config)
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


def lite_loss_fn(decoder_params, frozen, content, style, style_weight: float = 10.0,
                 dtype=jnp.float32, *, config: lite.LiteConfig):
    """The lite decoder's loss: AdaIN and content loss on the lite encoder's 1/8 features,
    style loss (relu1_1..relu4_1) through the VGG; ``frozen``: ``{'vgg', 'lite_encoder'}``."""
    frozen = jax.lax.stop_gradient(frozen)
    enc = frozen[lite.ENCODER_KEY]
    t = ops.adain(lite.encode(enc, content, dtype)[-1], lite.encode(enc, style, dtype)[-1])
    g = lite.decode(decoder_params, t, config, dtype)
    lc = ops.content_loss(lite.encode(enc, g, dtype)[-1], t)
    ls = ops.style_loss(models.encode(frozen["vgg"], g, dtype),
                        models.encode(frozen["vgg"], style, dtype))
    return lc + style_weight * ls, {"content": lc, "style": ls}


def train_step(state: TrainState, vgg_params, batch: Mapping, *, tx: optax.GradientTransformation,
               style_weight: float, dtype=jnp.float32,
               lite_config: lite.LiteConfig | None = None) -> tuple[TrainState, dict]:
    """One Adam update of the decoder. Pure; ``vgg_params`` (the frozen tree: the VGG, or
    ``{'vgg', 'lite_encoder'}`` with ``lite_config``) is only read."""
    loss = loss_fn if lite_config is None else functools.partial(lite_loss_fn, config=lite_config)
    (loss, parts), grads = jax.value_and_grad(loss, argnums=0, has_aux=True)(
        state.params, vgg_params, batch["content"], batch["style"], style_weight, dtype)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new = TrainState(step=state.step + 1, params=params, opt_state=opt_state)
    return new, {"loss": loss, "content": parts["content"], "style": parts["style"]}


def make_mesh(devices=None) -> Mesh:
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))


@functools.lru_cache(maxsize=16)
def compiled_step(mesh: Mesh, lr: float, lr_decay: float, style_weight: float, dtype: str,
                  lite_config: lite.LiteConfig | None = None):
    """The jitted, sharded, donating step (cached so repeated train() calls reuse it)."""
    tx = make_optimizer(lr, lr_decay)
    repl = NamedSharding(mesh, P())
    data = NamedSharding(mesh, P("data"))
    fn = functools.partial(train_step, tx=tx, style_weight=float(style_weight),
                           dtype=backends.resolve_dtype(dtype), lite_config=lite_config)
    return jax.jit(fn, in_shardings=(repl, repl, data), out_shardings=(repl, repl),
                   donate_argnums=(0,))


@functools.lru_cache(maxsize=4)
def _init_fn(mesh: Mesh, lr: float, lr_decay: float, lite_config=None):
    tx = make_optimizer(lr, lr_decay)
    return jax.jit(lambda key: init_state(key, tx, lite_config),
                   out_shardings=NamedSharding(mesh, P()))


def new_state(mesh: Mesh, lr: float, lr_decay: float, seed: int = 0,
              lite_config: lite.LiteConfig | None = None) -> TrainState:
    """A fresh train state (decoder init from ``seed``; the lite decoder with
    ``lite_config``), replicated over ``mesh``."""
    return _init_fn(mesh, float(lr), float(lr_decay), lite_config)(jax.random.PRNGKey(seed))


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



def local_copy(tree):
    """Single-device (first local device) copies of replicated arrays."""
    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)

