"""The gradio page of ``adain-demo`` and its ``stylize`` API endpoint.

Layout: content and style uploads (the shipped examples as presets), an optional second style
with a mix weight, a brush (on the content) marking where the second style goes, alpha, size
and colour controls, the output with a download button and the time ``stylize`` took. The
button's event is the API endpoint ``stylize``: ``(content, style)`` plus optional
``alpha, style2, mix, preserve_color, mask, size, model`` (a model name: ``adain_jax.model.names()``), so ``gradio_client`` can call it with two
files. Every error reaches the page as a one-line ``gr.Error``, never a traceback.
"""
from __future__ import annotations

import logging
import os
import tempfile
import uuid
from pathlib import Path

from adain_jax import image_io
from adain_jax.demo import service
from adain_jax.demo.limits import Limits
from adain_jax.errors import AdainError, one_line
from adain_jax.model import lite as lite_model, registry

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local demo phones no one

import gradio as gr  # noqa: E402

log = logging.getLogger("adain_jax.demo")
TITLE = "adain-jax: arbitrary style transfer (AdaIN)"


def examples_dir() -> Path | None:
    """The repository's ``examples/`` folder (absent from an installed wheel)."""
    folder = Path(__file__).resolve().parents[2] / "examples"
    return folder if (folder / "content").is_dir() and (folder / "style").is_dir() else None


def _presets(kind: str, folder: Path | None) -> list[str]:
    if folder is None or not (folder / kind).is_dir():
        return []
    return [str(p) for p in image_io.list_images(folder / kind)]


def _mask_layers(editor) -> list[str]:
    """The brush layers of an ``ImageEditor`` value (a dict, or None from the API)."""
    if not isinstance(editor, dict):
        return []
    return [layer for layer in editor.get("layers") or () if layer]


def _component_without_stub(define):
    """Runs ``define()`` (which subclasses a gradio component) with gradio's stub writer off:
    gradio otherwise writes a ``.pyi`` file next to this module at import time, and an
    installed package must not write into itself."""
    import gradio.component_meta as meta

    writer = meta.create_or_modify_pyi
    meta.create_or_modify_pyi = lambda *args, **kwargs: None
    try:
        return define()
    finally:
        meta.create_or_modify_pyi = writer


def _upload_class():
    class Upload(gr.Image):
        """``gr.Image`` that hands over the uploaded file's path without opening it, so only the
        library's loader (limit checks first) ever decodes an upload."""

        def get_block_name(self) -> str:
            return "image"

        def preprocess(self, payload):
            return None if payload is None else payload.path

    return Upload


Upload = _component_without_stub(_upload_class)




class Stylizer:
    """The page's callback: a request in, (output file, download file, timing) out.
    ``models``: name -> params tree (``'adain'`` first: the default)."""

    def __init__(self, models: dict, limits: Limits, out_dir: Path):
        self.models, self.limits, self.out_dir = models, limits, out_dir

    def __call__(self, content, style, alpha=1.0, style2=None, mix=0.5, preserve_color=False,
                 mask=None, size=None, model=None):
        request = service.Request(content=content, style=style, alpha=alpha, style2=style2,
                                  mix=mix, preserve_color=bool(preserve_color),
                                  mask_layers=_mask_layers(mask), size=size)
        try:
            name = service.pick_model(model, list(self.models))
            result = service.run(self.models[name], request, self.limits)
            path = self.out_dir / f"stylized-{uuid.uuid4().hex[:12]}.png"
            image_io.save_image(path, result.image)
        except AdainError as exc:
            raise gr.Error(one_line(exc), print_exception=False) from None
        except Exception as exc:  # never a traceback in the page; the log has it
            log.exception("stylize failed")
            raise gr.Error(f"internal error: {one_line(exc, with_type=True)}",
                           print_exception=False) from None
        summary = (f"{registry.get(name).label}, {result.summary}" if len(self.models) > 1
                   else result.summary)
        return str(path), gr.DownloadButton(value=str(path), interactive=True), summary


def build(params=None, limits: Limits = Limits(), examples: Path | None = None,
          out_dir: Path | None = None, lite_params=None) -> gr.Blocks:
    """The demo page.

    Args:
      params: the main model's ``{'vgg': ..., 'decoder': ...}``; None loads the shipped one,
        and then the shipped lite model too (a model choice on the page).
      lite_params: a lite model to offer beside ``params`` (None: none, unless ``params``
        is None).
      limits: upload and size limits.
      examples: a folder with ``content/`` and ``style/`` presets (default: the repository's;
        a folder without them: no presets, empty inputs).
      out_dir: where stylized PNGs are written (default: a new temporary folder).
    """
    if params is None:
        params = registry.default().load()
        lite_params = registry.get(lite_model.NAME).load() if lite_params is None else lite_params
    models = {registry.of(p).name: p for p in (params, lite_params) if p is not None}
    examples = examples if examples is not None else examples_dir()
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="adain-demo-"))
    contents, styles = _presets("content", examples), _presets("style", examples)
    stylizer = Stylizer(models, limits, out_dir)
    mb = limits.max_bytes / 2**20

    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        gr.Markdown(f"## {TITLE}\nUpload a content and a style image (or pick an example), "
                    f"then **Stylize**. Uploads up to {mb:.0f} MiB and "
                    f"{limits.max_pixels / 1e6:.0f} megapixels.")
        with gr.Row():
            with gr.Column():
                content = Upload(label="Content", type="filepath", elem_id="content",
                                   value=contents[0] if contents else None, height=260)
                if contents:
                    gr.Examples(contents, inputs=content, label="Example contents")
            with gr.Column():
                style = Upload(label="Style", type="filepath", elem_id="style",
                                 value=styles[0] if styles else None, height=260)
                if styles:
                    gr.Examples(styles, inputs=style, label="Example styles")
            with gr.Column():
                output = gr.Image(label="Result", type="filepath", elem_id="output",
                                  interactive=False, height=260, format="png")
                timing = gr.Markdown(elem_id="timing")
                download = gr.DownloadButton("Download PNG", interactive=False,
                                             elem_id="download")
        with gr.Row():
            alpha = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Alpha (style strength)",
                              elem_id="alpha")
            size = gr.Slider(64, limits.max_size, value=limits.default_size, step=8,
                             label="Size (shorter side, px)", elem_id="size")
            preserve = gr.Checkbox(label="Preserve content colours", elem_id="preserve")
            model = gr.Radio([(registry.get(m).label, m) for m in models], value=next(iter(models)),
                             label="Model", elem_id="model", visible=len(models) > 1)
        button = gr.Button("Stylize", variant="primary", elem_id="stylize")
        with gr.Accordion("Second style: mix or paint where it goes", open=False):
            with gr.Row():
                style2 = Upload(label="Second style (optional)", type="filepath",
                                  elem_id="style2", height=220)
                with gr.Column():
                    mix = gr.Slider(0.0, 1.0, value=0.5, step=0.05, elem_id="mix",
                                    label="Weight of the second style (when nothing is painted)")
                    mask = gr.ImageEditor(
                        label="Brush: paint where the second style goes", type="filepath",
                        format="png", elem_id="mask", layers=False, transforms=(),
                        sources=("upload",), height=300, value=contents[0] if contents else None,
                        brush=gr.Brush(colors=["#000000"], color_mode="fixed"))
            if styles:
                gr.Examples(styles, inputs=style2, label="Example styles")
        content.change(lambda c: c, inputs=content, outputs=mask, api_visibility="private")
        button.click(stylizer, inputs=[content, style, alpha, style2, mix, preserve, mask, size,
                                       model],
                     outputs=[output, download, timing], api_name="stylize")
    page.adain_out_dir = out_dir
    page.adain_allowed = [str(p) for p in (examples, out_dir) if p]
    return page


def launch(page: gr.Blocks, host: str = "127.0.0.1", port: int | None = None,
           limits: Limits = Limits(), block: bool = True, quiet: bool = False):
    """Serve ``page`` (from :func:`build`) on ``host``:``port``; returns once it is up when
    ``block`` is False."""
    page.queue(default_concurrency_limit=1)
    return page.launch(server_name=host, server_port=port, prevent_thread_lock=not block,
                       max_file_size=limits.max_bytes, allowed_paths=page.adain_allowed,
                       quiet=quiet, inbrowser=False, share=False, ssr_mode=False)
