"""The static onnxruntime-web page (tools/export/web.py) in headless Chromium: it stylizes in
the browser and agrees with onnxruntime in Python."""
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ADAIN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ORT_DIST = Path(os.environ.get("ADAIN_ORT_WEB_DIST")
                or REPO / ".web-deps" / "node_modules" / "onnxruntime-web" / "dist")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed"),
    pytest.mark.skipif(not (ORT_DIST / "ort.wasm.min.js").exists(),
                       reason="onnxruntime-web not installed "
                              "(npm install --prefix .web-deps onnxruntime-web@1.30.0)"),
]


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".mjs": "text/javascript"}

    def log_message(self, *args):
        pass


def test_web_page_matches_onnxruntime(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    ort = pytest.importorskip("onnxruntime")
    import jax

    from adain_jax.export import onnx as onnx_export
    from adain_jax.nn.models import init_params
    from tools.export import web

    params = init_params(jax.random.PRNGKey(2), 16)
    last = params["decoder"]["conv1_1"]
    params["decoder"]["conv1_1"] = {"kernel": last["kernel"] * 30.0, "bias": last["bias"] + 0.5}
    site = web.build(params, tmp_path / "site", ORT_DIST)
    rng = np.random.default_rng(0)
    content, style = rng.random((21, 30, 3), np.float32), rng.random((24, 24, 3), np.float32)

    from adain_jax.export import crop_output, pad_input

    padded, hw = pad_input(content)
    sess = ort.InferenceSession(str(site / "adain.onnx"), providers=["CPUExecutionProvider"])
    ref = crop_output(sess.run(None, {"content": padded[None], "style": style[None],
                                      "alpha": np.asarray(0.6, np.float32)})[0][0], hw)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
                page.evaluate("() => window.adainReady")
                out = page.evaluate(
                    "([c, s]) => window.adainStylize(c, 21, 30, s, 24, 24, 0.6)",
                    [content.ravel().tolist(), style.ravel().tolist()])
                page.get_by_text("Ready").wait_for(timeout=10_000)
            finally:
                browser.close()
    finally:
        server.shutdown()
    got = np.asarray(out["data"], np.float32).reshape(21, 30, 3)
    assert (out["height"], out["width"]) == (21, 30)
    assert np.abs(got - ref).max() < 1e-4
    assert (site / "adain.onnx").stat().st_size < 0.55 * len(
        onnx_export.build(params).SerializeToString())
