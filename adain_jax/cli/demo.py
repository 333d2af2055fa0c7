"""``adain-demo``: serve the web demo (parses flags and calls :mod:`adain_jax.demo.app`)."""
from __future__ import annotations

import argparse
import sys

from adain_jax.cli import common

DEMO_DOC = """Serve the AdaIN style-transfer demo page (gradio) on this machine.

    adain-demo                       # http://127.0.0.1:7860
    adain-demo --host 0.0.0.0 --port 8080

The page's Stylize button is also the API endpoint "stylize" (gradio_client:
Client(url).predict(handle_file(content), handle_file(style), api_name="/stylize")).
Exit status: 0 stopped; 2 bad arguments or weights (one error: line).
"""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {port}")
    return port


def demo_parser() -> argparse.ArgumentParser:
    from adain_jax.demo.limits import Limits

    d = Limits()
    p = argparse.ArgumentParser(prog="adain-demo", description=DEMO_DOC,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=7860, help="port (default 7860)")
    p.add_argument("--vgg", default=None, help="VGG weights (default: the shipped ones)")
    p.add_argument("--decoder", default=None, help="decoder weights (default: the shipped ones)")
    p.add_argument("--lite", default=None,
                   help="lite weights offered as a second model (default: the shipped lite "
                        "model; 'none': only the main model)")
    p.add_argument("--max-upload-mb", type=float, default=d.max_bytes / 2**20,
                   help="largest uploaded file in MiB")
    p.add_argument("--max-megapixels", type=float, default=d.max_pixels / 1e6,
                   help="largest uploaded image in megapixels")
    p.add_argument("--max-size", type=common.size, default=d.max_size,
                   help="largest working size (shorter side, px)")
    return p


def _demo(args) -> int:
    import adain_jax
    from adain_jax.demo.limits import Limits

    limits = Limits(max_bytes=int(args.max_upload_mb * 2**20),
                    max_pixels=int(args.max_megapixels * 1e6), max_size=args.max_size,
                    default_size=min(512, args.max_size) if args.max_size else 512)
    params = adain_jax.load_params(args.vgg, args.decoder)
    from adain_jax.model import lite as lite_model

    lite = (adain_jax.load_params(model=lite_model.NAME, decoder=args.lite)
            if args.lite != "none" else None)
    from adain_jax.demo import app  # gradio loads here, after the cheap checks

    app.launch(app.build(params, limits, lite_params=lite), args.host, args.port, limits)
    return 0


def demo_main(argv=None) -> int:
    """``adain-demo``."""
    args = demo_parser().parse_args(argv)
    return common.report_errors(lambda: _demo(args))


if __name__ == "__main__":
    sys.exit(demo_main())
