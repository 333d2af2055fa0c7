"""Whole datasets stylized (the Stylized-ImageNet recipe) over every device of every host, and
style augmentation inside a jit-compiled step: the plan (:mod:`.plan`), the records
(:mod:`.manifest`), the device loop (:mod:`.run`), the job (:mod:`.job`), the augmentation
(:mod:`.augment`)."""
from adain_jax.datasets.job import DatasetJob, Summary, stylize_dataset

__all__ = ["DatasetJob", "Summary", "stylize_dataset"]
