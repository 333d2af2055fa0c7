"""The web demo driven in headless Chromium (Debian's ``chromium``, through Playwright's
``executable_path``; no browser is downloaded): upload two images, move the alpha slider,
click Stylize, wait for the result, check its size, save a screenshot."""
import contextlib
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = os.environ.get("ADAIN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium not installed (apt-get install chromium)")


def write_png(path, h, w, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.clip(np.stack([y, x, 1 - x * y], -1) * rng.uniform(0.4, 1, 3)
                  + rng.normal(0, 0.05, (h, w, 3)), 0, 1)
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    return str(path)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    pytest.importorskip("gradio")
    import jax

    from adain_jax.demo import Limits, app
    from adain_jax.nn import lite
    from adain_jax.nn.models import init_params

    limits = Limits(default_size=64, max_size=128)
    folder = tmp_path_factory.mktemp("browser")
    page = app.build(init_params(jax.random.PRNGKey(0), 16), limits, examples=folder,
                     out_dir=folder / "out",
                     lite_params=lite.init_params(jax.random.PRNGKey(1), lite.LiteConfig(8, 1)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(page, "127.0.0.1", port, limits, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    page.close()


@contextlib.contextmanager
def open_page(url: str, width: int = 1280, height: int = 720):
    """A headless Chromium page at ``url``, closed afterwards."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            yield page
        finally:
            browser.close()


def test_browser_upload_slide_click(demo_url, tmp_path):
    content = write_png(tmp_path / "content.png", 48, 64, 0)
    style = write_png(tmp_path / "style.png", 40, 40, 1)
    with open_page(demo_url, height=900) as page:
        page.locator("#content input[type=file]").set_input_files(content)
        page.locator("#style input[type=file]").set_input_files(style)
        page.locator("#content img").first.wait_for(timeout=30_000)
        page.locator("#style img").first.wait_for(timeout=30_000)
        page.locator("#alpha input[type=range]").fill("0.6")
        page.locator("#stylize").click()
        page.wait_for_function(
            "() => { const i = document.querySelector('#output img');"
            " return i && i.complete && i.naturalWidth > 0; }", timeout=120_000)
        size = page.evaluate("() => { const i = document.querySelector('#output img');"
                             " return [i.naturalWidth, i.naturalHeight]; }")
        assert size == [85, 64]  # 64x48 content at the working size 64 (shorter side)
        page.locator("#timing").get_by_text("alpha 0.60").wait_for(timeout=10_000)
        assert "AdaIN (best quality)" in page.locator("#timing").inner_text()
        page.locator("#model").get_by_text("Lite (fast)").click()    # the model choice
        page.locator("#stylize").click()
        page.locator("#timing").get_by_text("Lite (fast)").wait_for(timeout=120_000)
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_browser_shows_errors_in_the_page(demo_url):
    with open_page(demo_url) as page:
        page.locator("#stylize").click()  # no images yet
        page.get_by_text("no content image").first.wait_for(timeout=30_000)
        assert "Traceback" not in page.content()


def test_browser_brush_places_the_second_style(demo_url, tmp_path):
    content = write_png(tmp_path / "content.png", 48, 64, 0)
    styles = [write_png(tmp_path / f"style{i}.png", 40, 40, i + 1) for i in range(2)]
    with open_page(demo_url, height=1200) as page:
        page.locator("#content input[type=file]").set_input_files(content)
        page.locator("#style input[type=file]").set_input_files(styles[0])
        page.get_by_text("Second style: mix or paint where it goes").click()
        page.locator("#style2 input[type=file]").set_input_files(styles[1])
        page.locator("#mask canvas").last.wait_for(timeout=30_000)  # the content, to paint on
        page.wait_for_timeout(1000)
        page.locator("#mask button[aria-label=Brush]").click()
        box = page.locator("#mask canvas").last.bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.2
        page.mouse.move(x0, y0)
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(x0 + box["width"] * 0.03 * k, y0 + box["height"] * 0.06 * k,
                            steps=3)
        page.mouse.up()
        page.locator("#stylize").click()
        page.locator("#timing").get_by_text("two styles, brushed regions").wait_for(
            timeout=120_000)
