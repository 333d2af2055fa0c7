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
The lite model (``nn.lite``, ``lite_config`` given) trains its encoder, decoder and a
distillation head together against the frozen VGG, which is teacher and loss network
(:func:`lite_loss_fn`): AdaIN runs on the lite features, the content target is the full
model's AdaIN target in relu4_1, and the head ties the lite features to relu4_1.
Adam with ``lr_t = lr / (1 + lr_decay * t)``, t = number of updates done (as the authors'
``adjust_learning_rate`` called before update t).
"""
from __future__ import annotations

import functools
from typing import Any, Mapping, NamedTuple

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
    params: Any          # decoder params, or the lite tree with its head (float32)
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
    """A fresh state: the main decoder, or the lite model of ``lite_config`` (encoder,
    decoder and distillation head: :func:`adain_jax.nn.lite.init_train_params`)."""
    params = (models.init_decoder(rng) if lite_config is None
              else lite.init_train_params(rng, lite_config))
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


class Teacher(NamedTuple):
    """The frozen VGG's side of the lite loss, shared by every lite variant on a batch."""

    content_feat: Any    # relu4_1 of the content
    style_feats: Any     # relu1_1..relu4_1 of the style
    target: Any          # AdaIN(relu4_1(c), relu4_1(s)): the full model's target


def lite_teacher(vgg_params, content, style, dtype=jnp.float32) -> Teacher:
    vgg_params = jax.lax.stop_gradient(vgg_params)
    vc = models.encode(vgg_params, content, dtype)[-1]
    s_feats = models.encode(vgg_params, style, dtype)
    return Teacher(vc, s_feats, ops.adain(vc, s_feats[-1]))


def lite_student_loss(params, vgg_params, content, style, teacher: Teacher,
                      style_weight: float = 10.0, dtype=jnp.float32, *,
                      config: lite.LiteConfig, distill_weight: float = 1.0):
    """The lite model's loss given the teacher's features (:func:`lite_loss_fn`)."""
    vgg_params = jax.lax.stop_gradient(vgg_params)
    enc = params[lite.ENCODER_KEY]
    fc, fs = lite.encode(enc, content, dtype)[-1], lite.encode(enc, style, dtype)[-1]
    g = lite.decode(params["decoder"], ops.adain(fc, fs), config, dtype)
    g_feats = models.encode(vgg_params, g, dtype)
    lc = ops.content_loss(g_feats[-1], teacher.target)
    ls = ops.style_loss(g_feats, teacher.style_feats)
    head = params[lite.HEAD_KEY]
    ld = 0.5 * (ops.mse(lite.distill_head(head, fc), teacher.content_feat)
                + ops.mse(lite.distill_head(head, fs), teacher.style_feats[-1]))
    return lc + style_weight * ls + distill_weight * ld, {"content": lc, "style": ls, "distill": ld}


def lite_loss_fn(params, vgg_params, content, style, style_weight: float = 10.0,
                 dtype=jnp.float32, *, config: lite.LiteConfig, distill_weight: float = 1.0):
    """The lite model's loss (its whole tree is trained; the VGG is frozen).

    ``t = AdaIN(E(c), E(s))``, ``g = D(t)``; content: MSE(relu4_1(g), AdaIN(relu4_1(c),
    relu4_1(s))), the full model's target; style: as :func:`loss_fn`, through the VGG;
    distill: MSE(head(E(x)), relu4_1(x)) over content and style. Returns
    (content + style_weight * style + distill_weight * distill, parts)."""
    teacher = lite_teacher(vgg_params, content, style, dtype)
    return lite_student_loss(params, vgg_params, content, style, teacher, style_weight, dtype,
                             config=config, distill_weight=distill_weight)


def train_step(state: TrainState, vgg_params, batch: Mapping, *, tx: optax.GradientTransformation,
               style_weight: float, dtype=jnp.float32,
               lite_config: lite.LiteConfig | None = None,
               distill_weight: float = 1.0) -> tuple[TrainState, dict]:
    """One Adam update of the trained params (the decoder; the lite tree with
    ``lite_config``). Pure; ``vgg_params`` is only read."""
    loss = loss_fn if lite_config is None else functools.partial(
        lite_loss_fn, config=lite_config, distill_weight=distill_weight)
    (loss, parts), grads = jax.value_and_grad(loss, argnums=0, has_aux=True)(
        state.params, vgg_params, batch["content"], batch["style"], style_weight, dtype)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new = TrainState(step=state.step + 1, params=params, opt_state=opt_state)
    return new, {"loss": loss, **parts}


def make_mesh(devices=None) -> Mesh:
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))


@functools.lru_cache(maxsize=16)
def compiled_step(mesh: Mesh, lr: float, lr_decay: float, style_weight: float, dtype: str,
                  lite_config: lite.LiteConfig | None = None, distill_weight: float = 1.0):
    """The jitted, sharded, donating step (cached so repeated train() calls reuse it)."""
    tx = make_optimizer(lr, lr_decay)
    repl = NamedSharding(mesh, P())
    data = NamedSharding(mesh, P("data"))
    fn = functools.partial(train_step, tx=tx, style_weight=float(style_weight),
                           dtype=backends.resolve_dtype(dtype), lite_config=lite_config,
                           distill_weight=float(distill_weight))
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

