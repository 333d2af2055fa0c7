"""The web demo (``adain-demo``): a gradio page around :func:`adain_jax.stylize`.

:mod:`.limits` holds the upload limits, :mod:`.service` turns uploaded files into a stylized
image (no gradio), :mod:`.app` lays out the page and exposes the ``stylize`` API endpoint.
gradio is imported only by :mod:`.app` (the ``[demo]`` extra).
"""
from adain_jax.demo.limits import Limits
from adain_jax.demo.service import Request, Result, run

__all__ = ["Limits", "Request", "Result", "run"]
