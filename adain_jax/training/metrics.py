"""What a training run reports: metrics.csv, TensorBoard, stdout lines and sample grids
(process 0 only)."""
from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path
from typing import Mapping

import numpy as np

from adain_jax import fs, image_io
from adain_jax.inference.transfer import stylize
from adain_jax.model import registry

SAMPLE_COUNT = 4  # batch items shown in a sample grid


class MetricsLogger:
    """metrics.csv + TensorBoard + stdout lines (when stdout is not a TTY); process 0 only."""

    FIELDS = ("step", "loss", "content", "style", "distill", "lr", "steps_per_s", "wall_time")

    def __init__(self, workdir: Path, start: int, enabled: bool, echo: bool):
        self.enabled, self.echo = enabled, echo
        self.tb = None
        if not enabled:
            return
        # A resumed run keeps the complete rows up to its step (fs.read_complete_lines drops
        # a row a kill cut short), rewritten atomically; each new row is one fs.append_line.
        self.csv_path = workdir / "metrics.csv"
        lines = fs.read_complete_lines(self.csv_path)
        rows = [r for r in csv.DictReader(lines) if _int(r.get("step")) <= start]
        fs.atomic_write(self.csv_path, self._csv(rows, header=True))
        try:
            from tensorboardX import SummaryWriter

            self.tb = SummaryWriter(str(workdir / "tb"), purge_step=start if start else None)
        except ImportError:  # pragma: no cover
            print("warning: tensorboardX missing; no TensorBoard logs", file=sys.stderr)

    def log(self, step: int, values: Mapping[str, float], total_steps: int):
        if not self.enabled:
            return
        row = {"step": step, **{k: f"{v:.8g}" for k, v in values.items()}, "wall_time": f"{time.time():.3f}"}
        fs.append_line(self.csv_path, self._csv([row]))
        if self.tb is not None:
            for k in ("loss", "content", "style", "distill", "lr", "steps_per_s"):
                if k in values:
                    self.tb.add_scalar(f"train/{k}", values[k], step)
            self.tb.flush()
        if self.echo:
            sps = values.get("steps_per_s", 0.0)
            eta = (total_steps - step) / sps if sps > 0 else float("nan")
            distill = f"  distill {values['distill']:.4f}" if "distill" in values else ""
            print(f"step {step}/{total_steps}  loss {values['loss']:.4f}  content "
                  f"{values['content']:.4f}  style {values['style']:.4f}{distill}  lr "
                  f"{values['lr']:.3g}  {sps:.2f} steps/s  eta {_fmt_eta(eta)}", flush=True)

    def _csv(self, rows, header: bool = False) -> str:
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, self.FIELDS, extrasaction="ignore")
        if header:
            w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

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



def write_sample(path: Path, host: Mapping, params_local, vgg_local) -> None:
    """A grid of content | style | stylized for the first items of a host batch."""
    n = min(SAMPLE_COUNT, len(host["content"]))
    content = np.asarray(host["content"][:n], np.float32)
    style = np.asarray(host["style"][:n], np.float32)
    entry = registry.of_trained(params_local)
    model = {**({entry.encoder_key: vgg_local} if not entry.trains_encoder else {}),
             **entry.shipped(params_local)}
    out = np.asarray(stylize(model, content, style))
    image_io.save_grid(path, [[content[i], style[i], out[i]] for i in range(n)], pad=4,
                       overwrite=True)
