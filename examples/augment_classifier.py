"""Style augmentation inside a classifier's jit-compiled training step.

A small flax CNN learns to tell two kinds of synthetic images apart (horizontal vs vertical
stripes); in every step, ``adain_jax.augment`` restyles a random half of the batch with a
random style of a bank at a random strength, inside the same ``jax.jit`` as the forward and
backward pass (the AdaIN networks are frozen: no gradient flows into them).

    python examples/augment_classifier.py                  # shipped AdaIN weights
    python examples/augment_classifier.py --random-weights --steps 5   # a quick smoke run
"""
from __future__ import annotations

import argparse
import functools
import time

import adain_jax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


class Classifier(nn.Module):
    """Two conv layers, global average pooling, a linear head."""

    classes: int = 2

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(16, (3, 3), strides=2)(x))
        x = nn.relu(nn.Conv(32, (3, 3), strides=2)(x))
        return nn.Dense(self.classes)(x.mean(axis=(1, 2)))


def make_batch(key, n: int, size: int):
    """Striped images: label 0 horizontal, 1 vertical, random colours and phases."""
    k1, k2, k3 = jax.random.split(key, 3)
    labels = jax.random.bernoulli(k1, 0.5, (n,)).astype(jnp.int32)
    coords = jnp.arange(size, dtype=jnp.float32)
    phase = jax.random.uniform(k2, (n, 1, 1), maxval=6.28)
    rows = jnp.sin(coords[None, :, None] * 0.8 + phase) * jnp.ones((1, 1, size))
    stripes = jnp.where(labels[:, None, None] == 0, rows, jnp.swapaxes(rows, 1, 2))
    colour = jax.random.uniform(k3, (n, 1, 1, 3), minval=0.3)
    return (0.5 + 0.5 * stripes[..., None]) * colour, labels


@functools.partial(jax.jit, static_argnames=("tx",))
def train_step(params, opt_state, adain_params, bank, key, images, labels, *, tx):
    """Augment (frozen AdaIN), then one Adam step of the classifier."""
    images = adain_jax.augment(adain_params, key, images, bank, alpha=(0.3, 1.0), p=0.5)

    def loss_fn(p):
        logits = Classifier().apply({"params": p}, images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--random-weights", action="store_true", help="random AdaIN weights (fast)")
    args = p.parse_args(argv)

    key = jax.random.PRNGKey(0)
    adain_params = (adain_jax.init_params(key) if args.random_weights
                    else adain_jax.load_default())
    # the style bank: statistics of a few style images, computed once outside the step
    from adain_jax import image_io
    from pathlib import Path

    style_dir = Path(__file__).resolve().parent / "style"
    styles = jnp.stack([image_io.load_image(p, size=64, crop=True)
                        for p in sorted(style_dir.glob("*.jpg"))])
    bank = adain_jax.style_bank(adain_params, styles)

    params = Classifier().init(key, jnp.zeros((1, args.size, args.size, 3)))["params"]
    tx = optax.adam(3e-3)
    opt_state = tx.init(params)
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        key, k_data, k_aug = jax.random.split(key, 3)
        images, labels = make_batch(k_data, args.batch, args.size)
        params, opt_state, loss = train_step(params, opt_state, adain_params, bank, k_aug,
                                             images, labels, tx=tx)
        if step == 1 or step % 10 == 0 or step == args.steps:
            print(f"step {step}: loss {float(loss):.4f} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
