"""File-level stylization: files or folders of contents x styles, batched, with one
encoding per style, atomic outputs and per-pair error reporting.

Output names are ``{content stem}_stylized_{style label}{content suffix}``. Contents from
several folders keep their folder structure under the output folder (relative to the folder
that holds them all), and styles whose stems clash (``s.jpg`` and ``s.png``, or ``a/s.png``
and ``b/s.png``) are labelled with their suffix and then their folders, so every job has its
own output. :func:`plan_jobs` and :func:`run` refuse, before anything is written, any plan in
which two jobs share an output (also ignoring case) or an output is an input.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from adain_jax import image_io
from adain_jax.errors import AdainError, ConfigError
from adain_jax.inference import tiling, transfer, validate

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Job:
    """One output: a content image stylized with one style or a mixture of styles."""

    content: Path
    styles: tuple[Path, ...]
    output: Path


@dataclasses.dataclass
class Report:
    written: list[Path] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (what, why)


def output_name(content: Path, styles: Sequence[Path], suffix: str | None = None,
                labels: dict[Path, str] | None = None) -> str:
    """``{content stem}_stylized_{style labels joined by +}{suffix}``; a style's label is its
    stem unless ``labels`` gives one."""
    stem = "+".join((labels or {}).get(s, s.stem) for s in styles)
    return f"{content.stem}_stylized_{stem}{suffix or content.suffix or '.png'}"


def _common_folder(paths: Sequence[Path]) -> Path:
    return Path(os.path.commonpath([os.path.abspath(p.parent) for p in paths]))


def style_labels(styles: Sequence[Path]) -> dict[Path, str]:
    """A label per distinct style path: its stem; where stems clash (ignoring case), the stem
    and suffix (``s-jpg``); where those still clash, also the folders below the clashing
    styles' common folder (``a-s-png``)."""
    by_stem: dict[str, list[Path]] = defaultdict(list)
    for s in dict.fromkeys(styles):
        by_stem[s.stem.casefold()].append(s)
    labels: dict[Path, str] = {}
    for group in by_stem.values():
        if len(group) == 1:
            labels[group[0]] = group[0].stem
            continue
        with_suffix = {s: f"{s.stem}-{s.suffix.lstrip('.')}" for s in group}
        if len({v.casefold() for v in with_suffix.values()}) == len(group):
            labels.update(with_suffix)
            continue
        root = _common_folder(group)
        for s in group:
            rel = Path(os.path.abspath(s)).relative_to(root)
            labels[s] = "-".join((*rel.parent.parts, with_suffix[s]))
    return labels


def alpha_output(path: Path, alpha: float) -> Path:
    """Where one of several strengths goes: ``out.jpg`` -> ``out_alpha0.25.jpg``."""
    return path.with_name(f"{path.stem}_alpha{validate.alpha_tag(alpha)}{path.suffix}")


def plan_jobs(contents: Sequence[Path], style_groups: Sequence[tuple[Path, ...]],
              output: Path | None, suffix: str | None = None) -> list[Job]:
    """Every content x style group, each with its own output.

    ``output`` is a file (one job only) or a folder (default: the current folder). Contents
    in different folders are written to the same relative folders under it (the input tree
    mirrored from the contents' common folder); ``suffix`` (``'.jpg'``) sets the format of
    names made here (default: the content's). Raises :class:`ConfigError` before anything is
    written if two jobs would still share an output or an output is an input.
    """
    suffix = validate.save_ext(suffix)
    many = len(contents) * len(style_groups) > 1
    inputs = [*contents, *(s for g in style_groups for s in g)]
    if output is not None and output.suffix and not output.is_dir():
        if many:
            raise ConfigError(f"--output {output} is a file name but there are "
                              f"{len(contents) * len(style_groups)} outputs; pass a folder")
        jobs = [Job(contents[0], style_groups[0], output)]
        validate.outputs([output], inputs)
        return jobs
    folder = output if output is not None else Path.cwd()
    labels = style_labels([s for g in style_groups for s in g])
    root = _common_folder(contents) if contents else Path.cwd()
    jobs = []
    for c in contents:
        sub = Path(os.path.abspath(c.parent)).relative_to(root)
        for g in style_groups:
            jobs.append(Job(c, g, folder / sub / output_name(c, g, suffix, labels=labels)))
    validate.outputs([j.output for j in jobs], inputs)
    return jobs


def run(params, jobs: Sequence[Job], *, alpha: float | Sequence[float] = 1.0, style_weights=None,
        mask_paths=(),
        preserve_color: bool = False, content_size: int = 512, style_size: int = 512,
        crop: bool = False, overwrite: bool = False, batch_size: int = 4, dtype=None,
        optimize_steps: int = 0, progress: Callable | None = None, tile: int | None = None) -> Report:
    """Runs the jobs; a bad input or an existing output fails its jobs only.

    ``optimize_steps > 0`` replaces the decoder by Gatys et al. optimisation (reference mode).
    ``tile``: None stylizes contents larger than ``tiling.AUTO_TILE_PIXELS`` tile by tile
    (``tiling.stylize_tiled``, bounded memory), 0 never tiles, N > 0 tiles with N-pixel tiles
    any content with a side longer than N. Several ``alpha`` values (``[0.25, 0.5, 1]``) give
    one output per value (``alpha_output``), decoded from one encoding of each content.
    """
    validate.job_options(alpha_value=alpha, weights=style_weights,
                         n_styles=len(jobs[0].styles) if jobs else 1, n_masks=len(mask_paths),
                         optimize=optimize_steps > 0, preserve_color=preserve_color,
                         tile=tile, overlap=tiling.DEFAULT_OVERLAP)
    alphas = validate.alphas(alpha)
    outputs = ((lambda job: [alpha_output(job.output, a) for a in alphas]) if len(alphas) > 1
               else (lambda job: [job.output]))
    validate.outputs([o for j in jobs for o in outputs(j)],
                     [*(j.content for j in jobs), *(s for j in jobs for s in j.styles),
                      *mask_paths])
    report = Report()
    todo = []
    for job in jobs:
        existing = [o for o in outputs(job) if o.exists()] if not overwrite else []
        if existing and len(existing) == len(outputs(job)):
            report.failed.extend((str(o), "exists; pass --overwrite to replace it")
                                 for o in existing)
        else:
            todo.append(job)
    style_cache: dict[Path, object] = {}
    bad_styles: dict[Path, str] = {}

    def style_input(path: Path):
        """The style image (for colour preservation) or its cached statistics."""
        if path in bad_styles:
            raise AdainError(bad_styles[path])
        if path not in style_cache:
            try:
                img = image_io.load_image(path, size=style_size or None, crop=crop)
                style_cache[path] = img if preserve_color else transfer.style_stats(params, img, dtype=dtype)
            except AdainError as e:
                bad_styles[path] = str(e)
                raise
        return style_cache[path]

    bar = progress(total=len(todo)) if progress else None
    # Group by (content, styles) so each content is read once per batch of its jobs.
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        groups: dict[tuple, list[tuple[Job, np.ndarray, list]]] = {}
        for job in chunk:
            try:
                content = image_io.load_image(job.content, size=content_size or None, crop=crop)
                masks = ([image_io.load_mask(m, content.shape[:2]) for m in mask_paths]
                         if mask_paths else None)
                if masks is not None and len(masks) == 1 and len(job.styles) == 2:
                    masks = [masks[0], 1.0 - masks[0]]
                validate.mask_count(len(masks or ()), len(job.styles))
                if masks is not None:
                    validate.mask_coverage(np.stack(masks))
                styles = [style_input(p) for p in job.styles]
            except AdainError as e:
                report.failed.append((str(job.output), str(e)))
                if bar:
                    bar.update(1)
                continue
            key = (content.shape, job.styles, masks is not None)
            groups.setdefault(key, []).append((job, content, masks))
        for (shape, style_paths, has_masks), items in groups.items():
            if not optimize_steps and tiling.should_tile(shape, tile):
                _run_tiled(params, items, style_paths, style_input, alphas=alphas, outputs=outputs,
                           style_weights=style_weights, preserve_color=preserve_color, dtype=dtype,
                           tile=tile, overwrite=overwrite, report=report, bar=bar)
                continue
            batch = np.stack([c for _, c, _ in items])
            if optimize_steps:
                from adain_jax.inference.gatys import gatys

                style_img = image_io.load_image(style_paths[0], size=style_size or None, crop=crop)
                out = np.stack([gatys(params["vgg"], c, style_img, steps=optimize_steps)
                                for _, c, _ in items])
                _save_all(items, out[None], outputs, overwrite, report, bar)
                continue
            styles = [style_input(p) for p in style_paths]
            if preserve_color:  # one recoloured style per content
                styles = [np.broadcast_to(s, (len(items),) + s.shape) for s in styles]
            masks = np.stack([np.stack(m) for _, _, m in items]) if has_masks else None
            out = np.asarray(transfer.stylize_alphas(
                params, batch, styles, alphas,
                style_weights=None if has_masks else style_weights, masks=masks,
                preserve_color=preserve_color, dtype=dtype))
            _save_all(items, out, outputs, overwrite, report, bar)
    if bar:
        bar.close()
    return report


def _run_tiled(params, items, style_paths, style_input, *, alphas, outputs, style_weights,
               preserve_color, dtype, tile, overwrite, report, bar) -> None:
    """Large contents one at a time, tile by tile (no full-size batch copy); each alpha
    is a separate tiled pass."""
    styles = [style_input(p) for p in style_paths]
    size = tile if tile else tiling.DEFAULT_TILE
    for i, (job, content, masks) in enumerate(items):
        outs = [tiling.stylize_tiled(
            params, content, styles, tile=size, alpha=a,
            style_weights=None if masks is not None else style_weights,
            masks=np.stack(masks) if masks is not None else None,
            preserve_color=preserve_color, dtype=dtype) for a in alphas]
        items[i] = (job, None, None)  # drop the content before saving
        del content
        _save_all([(job, None, None)], [[o] for o in outs], outputs, overwrite, report, bar)
        del outs


def _save_all(items, images, outputs, overwrite: bool, report: Report, bar) -> None:
    """``images[a][i]``: item i at the a-th alpha, written to ``outputs(job)[a]``."""
    for i, (job, _, _) in enumerate(items):
        for target, per_alpha in zip(outputs(job), images):
            try:
                image_io.save_image(target, per_alpha[i], overwrite=overwrite)
                report.written.append(target)
            except AdainError as e:
                report.failed.append((str(target), str(e)))
        if bar:
            bar.update(1)
