"""Checksums of the shipped models' outputs on every path a request can take, to prove that a
refactor keeps behaviour bit for bit (run before and after; the files must be equal).

    python -m tools.release.output_checksums --out tools/release/results/output_checksums.json

Paths: ``stylize`` (float32 and bfloat16, both models, alpha, style mixing, masks, colour
preservation), ``stylize_tiled``, ``stylize_video`` (temporal smoothing), the dataset job
(the written files) and ``augment``. Images are the shipped demo images at 256 px.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [("astronaut", "swirls"), ("chelsea", "embers")]


def digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(a, np.float32)).tobytes()).hexdigest()[:16]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    import jax
    import jax.numpy as jnp

    import adain_jax
    from adain_jax import image_io

    img = {n: image_io.load_image(ROOT / "examples" / d / f"{n}.jpg", size=256)
           for d, names in (("content", ("astronaut", "chelsea")), ("style", ("swirls", "embers")))
           for n in names}
    res: dict[str, str] = {}
    for model in ("adain", "lite"):
        params = adain_jax.load_default(model)
        for dtype_name, dtype in (("float32", None), ("bfloat16", jnp.bfloat16)):
            for c, s in PAIRS:
                out = adain_jax.stylize(params, img[c], img[s], dtype=dtype)
                res[f"stylize/{model}/{dtype_name}/{c}-{s}"] = digest(out)
        c, s, s2 = img["astronaut"], img["swirls"], img["embers"]
        res[f"stylize/{model}/alpha0.6"] = digest(adain_jax.stylize(params, c, s, alpha=0.6))
        res[f"stylize/{model}/mix"] = digest(adain_jax.stylize(params, c, [s, s2],
                                                                style_weights=[0.3, 0.7]))
        h, w = c.shape[:2]
        left = np.zeros((h, w), np.float32)
        left[:, : w // 2] = 1.0
        res[f"stylize/{model}/masks"] = digest(adain_jax.stylize(params, c, [s, s2],
                                                                  masks=np.stack([left, 1 - left])))
        res[f"stylize/{model}/preserve_color"] = digest(adain_jax.stylize(params, c, s,
                                                                           preserve_color=True))
        res[f"stylize/{model}/max_side"] = digest(adain_jax.stylize(params, c, s, max_side=128))
        res[f"tiled/{model}"] = digest(adain_jax.stylize_tiled(params, c, s, tile=128,
                                                               alpha=0.8))
        frames = [np.roll(c, 3 * i, axis=1) for i in range(5)]
        res[f"video/{model}"] = digest(np.stack(list(adain_jax.stylize_video(
            params, frames, s, batch_size=2))))
        with tempfile.TemporaryDirectory() as tmp:
            job = adain_jax.DatasetJob(str(ROOT / "examples" / "content"),
                                       str(ROOT / "examples" / "style"), f"{tmp}/out",
                                       content_size=128, style_size=128, model=model,
                                       alpha=(0.5, 1.0))
            adain_jax.stylize_dataset(job, params, log=lambda *_: None)
            for f in sorted(Path(tmp, "out").rglob("*")):
                if f.is_file() and f.suffix.lower() in (".jpg", ".png"):
                    res[f"dataset/{model}/{f.relative_to(Path(tmp, 'out'))}"] = \
                        hashlib.sha256(f.read_bytes()).hexdigest()[:16]
        if model == "adain":
            bank = adain_jax.style_bank(params, np.stack([s, s]))
            batch = np.stack([c, img["chelsea"][:h, :w] if img["chelsea"].shape[0] >= h
                              else c])
            res["augment/adain"] = digest(adain_jax.augment(params, jax.random.PRNGKey(0),
                                                            batch, bank, p=1.0))
    text = json.dumps(res, indent=1, sort_keys=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return res


if __name__ == "__main__":
    main()
