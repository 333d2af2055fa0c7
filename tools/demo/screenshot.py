"""The demo in headless Chromium with the shipped model and examples: the README screenshot
and the time from a click on Stylize to the image, at 512 px.

    python -m tools.demo.screenshot [--output docs/images/demo.png] [--clicks 3]

Starts the page on a free loopback port, picks the example content and style (the page's
defaults), sets alpha 0.8, clicks Stylize ``--clicks`` times (the first includes compiling
for the size) and reports each click-to-image time and the server-side ``stylize`` time the
page shows. Needs chromium (``apt-get install chromium``) and playwright.
"""
from __future__ import annotations

import argparse
import shutil
import socket
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
WAIT_IMAGE = ("(old) => { const i = document.querySelector('#output img');"
              " return i && i.complete && i.naturalWidth > 0 && i.src !== old; }")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", default=str(REPO / "docs" / "images" / "demo.png"))
    ap.add_argument("--clicks", type=int, default=3)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    import adain_jax
    from adain_jax.demo import Limits, app
    from adain_jax.fs import atomic_write

    limits = Limits()
    page = app.build(adain_jax.load_default(), limits)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(page, "127.0.0.1", port, limits, block=False, quiet=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto(f"http://127.0.0.1:{port}/")
            tab.locator("#content img").first.wait_for(timeout=60_000)
            tab.locator("#alpha input[type=range]").fill("0.8")
            for i in range(args.clicks):
                old = tab.evaluate("() => { const i = document.querySelector('#output img');"
                                   " return i ? i.src : null; }")
                start = time.perf_counter()
                tab.locator("#stylize").click()
                tab.wait_for_function(WAIT_IMAGE, arg=old, timeout=300_000)
                seconds = time.perf_counter() - start
                shown = tab.locator("#timing").inner_text()
                size = tab.evaluate("() => { const i = document.querySelector('#output img');"
                                    " return [i.naturalWidth, i.naturalHeight]; }")
                print(f"click {i + 1}: {seconds:.2f} s click to image, {size[0]}x{size[1]} px; "
                      f"page says: {shown.strip()}", flush=True)
            tab.get_by_text("Second style: mix or paint where it goes").click()
            tab.locator("#mask").first.wait_for(timeout=30_000)
            tab.wait_for_timeout(1500)  # let the accordion and the image fade-in finish
            png = tab.screenshot(full_page=True)
            browser.close()
        atomic_write(args.output, png)
        print(f"wrote {args.output}")
    finally:
        page.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
