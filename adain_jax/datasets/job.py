"""``stylize_dataset``: the dataset job from its options to a complete manifest, on one process
or on every process of a ``jax.distributed`` runtime (each does its own share; process 0
merges the manifest once all have finished)."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import jax

from adain_jax.datasets import manifest, plan
from adain_jax.datasets.run import (VERSION, DatasetJob, Devices, Summary, encode_styles,
                                    stylize_items, sweep_temporaries)
from adain_jax.errors import ConfigError
from adain_jax.inference import validate
from adain_jax.model import registry
from adain_jax.nn import backends
from adain_jax.training import distributed


def job_record(job: DatasetJob, contents, styles: list[tuple[str, Path]]) -> dict:
    """What identifies the job (a rerun with the same record resumes)."""
    return {
        "version": VERSION, "source": contents.spec,
        "styles": [[name, path.stat().st_size] for name, path in styles],
        "seed": job.seed, "alpha": [float(a) for a in job.alpha],
        "content_size": job.content_size, "style_size": job.style_size,
        "vgg": str(Path(job.vgg).absolute()) if job.vgg else None,
        "decoder": str(Path(job.decoder).absolute()) if job.decoder else None,
        "dtype": job.dtype, "bucket": job.bucket,
        **({"model": job.model} if job.model != registry.default().name else {}),
    }


def _check_output(job: DatasetJob, contents) -> Path:
    output = Path(job.output).expanduser().absolute()
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {job.output} is a file; pass a folder")
    root = getattr(contents, "root", None)
    if root is not None:
        root = root.absolute()
        if output == root or root in output.parents:
            raise ConfigError(f"--output {job.output} is inside the --content folder")
    return output


def stylize_dataset(job: DatasetJob, params=None, *, progress: bool = False,
                    log: Callable[[str], None] = print) -> Summary:
    """Run (or resume) the job on this process's share.

    Args:
      job: the options (see :class:`DatasetJob`).
      params: a params tree of any registered model; None loads ``job.vgg``/``job.decoder``
        (shipped defaults) for ``job.model``.
      progress: show a progress bar (images, images/s, ETA) on process 0.
      log: where process 0's one-line messages go.
    Returns:
      This process's :class:`Summary`.
    Raises:
      ConfigError: bad options, an empty style folder, a source without images, or an output
        folder holding another job's manifest without ``job.overwrite`` (CLI exit 2).
    """
    validate.dataset_options(alpha_range=job.alpha, seed=job.seed, batch_size=job.batch_size,
                             bucket=job.bucket, workers=job.workers)
    validate.model(job.model, job.vgg)
    dtype = backends.resolve_dtype(job.dtype)
    styles = plan.list_styles(job.styles)
    contents = plan.open_contents(job.content, job.tfds_data_dir)
    output = _check_output(job, contents)
    pid, nproc = jax.process_index(), jax.process_count()
    primary = pid == 0
    say = log if primary else (lambda *_: None)
    if params is None:
        params = registry.get(job.model).load(job.vgg, job.decoder)

    record = job_record(job, contents, styles)
    mode = manifest.check_job(output, record, job.overwrite)
    distributed.barrier("adain-dataset-check")   # every process has read the old record
    items = contents.items
    mine = plan.share(items, pid, nproc)

    def own(out_rel: str) -> bool:     # is this (temporary's target) path this process's?
        key = contents.content_of(out_rel)
        return plan.owner(key, nproc) == pid if key is not None else primary

    # one walk: this process's finished outputs (content key -> output path), temporaries swept
    done = {}
    for rel in sorted(sweep_temporaries(output, own)):
        key = contents.content_of(rel)
        if key is not None and plan.owner(key, nproc) == pid:
            done[key] = rel
    if mode == "takeover":       # outputs of another job would look done: remove ours first
        if primary:
            manifest.forget_merged(output)
        for rel in done.values():
            plan.output_path(output, rel).unlink(missing_ok=True)
        done.clear()
        distributed.barrier("adain-dataset-forget")
    if mode != "resume" and primary:
        manifest.write_job(output, record)
    distributed.barrier("adain-dataset-start")

    todo = [it for it in mine if it.rel not in done]
    say(f"{len(items)} contents, {len(styles)} styles, {nproc} process(es) x "
        f"{jax.local_device_count()} device(s); this process: {len(mine)}, "
        f"{len(mine) - len(todo)} already done")
    devices = Devices()
    params = devices.replicate(params)
    bank = encode_styles(params, [p for _, p in styles], job.style_size, devices,
                         bucket=job.bucket, batch_size=job.batch_size, workers=job.workers,
                         dtype=dtype)
    failed: list[tuple[str, str]] = []
    written = [0]
    lock = threading.Lock()      # the callbacks run on the writer threads

    from tqdm.auto import tqdm

    bar = tqdm(total=len(mine), initial=len(mine) - len(todo), unit="img", dynamic_ncols=True,
               disable=not (progress and primary), smoothing=0.05)

    def on_written(item, rel):
        with lock:
            done[item.rel] = rel
            written[0] += 1
            bar.update(1)

    def on_error(item, message):
        with lock:
            failed.append((item.rel, message))
            bar.update(1)

    def assign(item):
        return (plan.style_index(item.rel, job.seed, len(styles)),
                plan.alpha_for(item.rel, job.seed, job.alpha))

    start = time.perf_counter()
    try:
        stylize_items(params, bank, todo, load=lambda it: contents.read(it, job.content_size),
                      output=output, assign=assign, devices=devices, bucket=job.bucket,
                      batch_size=job.batch_size, workers=job.workers, dtype=dtype,
                      on_error=on_error, on_written=on_written)
    finally:
        bar.close()
    seconds = time.perf_counter() - start

    rows = [(it.rel, styles[a][0], al, done[it.rel]) for it in mine if it.rel in done
            for a, al in [assign(it)]]
    manifest.write_part(output, pid, nproc, rows, sorted(failed))
    distributed.barrier("adain-dataset-parts")
    if primary:
        n_rows, n_err = manifest.merge(output, nproc)
        say(f"manifest: {n_rows} rows in {output / manifest.MANIFEST}"
            + (f"; {n_err} unreadable content(s) listed in {output / manifest.ERRORS}"
               if n_err else ""))
    distributed.barrier("adain-dataset-merged")
    return Summary(total=len(items), share=len(mine), done_before=len(mine) - len(todo),
                   written=written[0], failed=sorted(failed), seconds=seconds)


__all__ = ["stylize_dataset", "job_record", "DatasetJob", "Summary"]
