"""Video: stylize clips frame by frame with temporal consistency, streamed in bounded memory.

Modules: :mod:`.io` (PyAV decode/encode, audio copy, atomic output), :mod:`.stylize` (the
``stylize_video`` generator), :mod:`.temporal` (EMA of content statistics, flow-guided
blending), :mod:`.flow` (DIS optical flow, warping, occlusion masks), :mod:`.files` (one
file in, one file out, with progress and partial-input reporting), :mod:`.metrics`
(warping error, sharpness) and :mod:`.synthetic` (clips with exactly known motion).
PyAV and OpenCV are imported only when a file is read or a flow is computed.
"""
from adain_jax.video.stylize import stylize_video

__all__ = ["stylize_video"]
