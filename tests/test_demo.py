"""The web demo without a browser: the request service, upload limits, the CLI flags and the
``stylize`` API endpoint called through gradio_client."""
import socket

import numpy as np
import pytest
from PIL import Image

from adain_jax.errors import AdainError, ConfigError, ImageError


def write_png(path, h, w, seed=0, rgba=None):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.clip(np.stack([y, x, 1 - x * y], -1) + rng.normal(0, 0.05, (h, w, 3)), 0, 1)
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def params():
    import jax

    from adain_jax.nn.models import init_params

    return init_params(jax.random.PRNGKey(0), 16)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    brush = np.zeros((48, 64, 4), np.uint8)
    brush[:, 32:] = (0, 0, 0, 255)  # the right half painted black, the rest transparent
    Image.fromarray(brush, "RGBA").save(d / "layer.png")
    return {"content": write_png(d / "c.png", 48, 64), "style": write_png(d / "s.png", 40, 40, 1),
            "style2": write_png(d / "s2.jpg", 32, 56, 2), "layer": str(d / "layer.png"),
            "big": write_png(d / "big.png", 300, 300, 3), "dir": d}


def test_service_one_and_two_styles(params, files):
    from adain_jax.demo import Limits, Request, run

    limits = Limits(default_size=32, max_size=64)
    one = run(params, Request(files["content"], files["style"], alpha=0.5), limits)
    assert one.image.shape == (32, 43, 3) and one.image.dtype == np.float32
    assert "alpha 0.50" in one.summary and one.seconds > 0
    mixed = run(params, Request(files["content"], files["style"], style2=files["style2"],
                                mix=0.25, preserve_color=True), limits)
    assert "mixed 0.75/0.25" in mixed.summary and "colours kept" in mixed.summary
    brushed = run(params, Request(files["content"], files["style"], style2=files["style2"],
                                  mask_layers=[files["layer"]]), limits)
    assert "brushed" in brushed.summary and brushed.image.shape == (32, 43, 3)


def test_service_errors_are_one_line(params, files):
    from adain_jax.demo import Limits, Request, run

    limits = Limits(max_bytes=400_000, max_pixels=50_000, default_size=32, max_size=64)
    cases = [
        (Request(None, files["style"]), "no content image"),
        (Request(files["content"], files["big"]), "pixels, more than the limit"),
        (Request(files["content"], files["style"], alpha=2), "alpha"),
        (Request(files["content"], files["style"], size=4096), "size must be between"),
        (Request(files["content"], files["style"], mask_layers=[files["layer"]]), "second style"),
    ]
    garbage = files["dir"] / "garbage.png"
    garbage.write_bytes(b"\x89PNG not really" * 10)
    cases.append((Request(files["content"], str(garbage)), "style"))
    huge = files["dir"] / "huge.png"
    huge.write_bytes(b"\0" * 500_000)
    cases.append((Request(str(huge), files["style"]), "500000 bytes, more than the limit of 400000 bytes"))
    for request, words in cases:
        with pytest.raises(AdainError) as info:
            run(params, request, limits)
        assert words in str(info.value) and "\n" not in str(info.value)


def test_check_file_reads_only_the_header(tmp_path):
    from adain_jax import image_io

    path = tmp_path / "wide.png"
    Image.new("L", (4000, 3000)).save(path)
    assert image_io.check_file(path, 10**7, 12_000_000) == (3000, 4000)
    with pytest.raises(ImageError, match="12000000 pixels"):
        image_io.check_file(path, 10**7, 11_999_999, "upload")


def test_limits_validate():
    from adain_jax.demo import Limits

    with pytest.raises(ConfigError):
        Limits(default_size=2048, max_size=1024)
    assert Limits().size(None) == 512
    with pytest.raises(ConfigError, match="integer"):
        Limits().size("big")


def test_cli_demo_flags(capsys):
    from adain_jax.cli.demo import demo_parser

    args = demo_parser().parse_args([])
    assert args.host == "127.0.0.1" and args.port == 7860
    with pytest.raises(SystemExit):
        demo_parser().parse_args(["--port", "70000"])
    assert "port must be" in capsys.readouterr().err


@pytest.fixture(scope="module")
def server(params, files):
    """The demo on a free loopback port (no presets, small sizes), closed after the module."""
    pytest.importorskip("gradio")
    from adain_jax.demo import Limits, app

    import jax

    from adain_jax.nn import lite

    limits = Limits(default_size=64, max_size=128)
    small_lite = lite.init_params(jax.random.PRNGKey(1), lite.LiteConfig(8, 1))
    page = app.build(params, limits, examples=files["dir"], out_dir=files["dir"] / "out",
                     lite_params=small_lite)
    port = free_port()
    app.launch(page, "127.0.0.1", port, limits, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    page.close()


def test_api_stylize_with_two_files(server, files):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    image, download, summary = client.predict(handle_file(files["content"]),
                                              handle_file(files["style"]), api_name="/stylize")
    with Image.open(image) as im:
        assert im.size == (85, 64)  # content 64x48 at the default size 64 (shorter side)
    assert "alpha 1.00" in summary
    _, _, summary = client.predict(handle_file(files["content"]), handle_file(files["style"]),
                                   alpha=0.3, style2=handle_file(files["style2"]), mix=0.5,
                                   api_name="/stylize")
    assert "alpha 0.30" in summary and "mixed" in summary
    image, _, summary = client.predict(handle_file(files["content"]), handle_file(files["style"]),
                                       model="lite", api_name="/stylize")
    with Image.open(image) as im:
        assert im.size == (85, 64)


def test_api_unknown_model_is_one_line(server, files):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    with pytest.raises(AppError) as info:    # gradio checks the choice before our callback
        client.predict(handle_file(files["content"]), handle_file(files["style"]),
                       model="big", api_name="/stylize")
    assert "not in the list of choices" in str(info.value) and "\n" not in str(info.value)


def test_a_request_for_a_model_the_page_lacks_is_refused():
    from adain_jax.demo import service

    assert service.pick_model(None, ["adain", "lite"]) == "adain"
    with pytest.raises(ConfigError, match="not served here"):
        service.pick_model("lite", ["adain"])
    with pytest.raises(ConfigError, match="model must be one of"):
        service.pick_model("big", ["adain"])


def test_api_errors_reach_the_client_as_one_line(server, files):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    garbage = files["dir"] / "not-an-image.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n garbage" * 20)
    with pytest.raises(AppError) as info:
        client.predict(handle_file(files["content"]), handle_file(str(garbage)),
                       api_name="/stylize")
    message = str(info.value)
    assert message.startswith("style: ") and "image" in message
    assert "Traceback" not in message and "\n" not in message


def test_importing_the_demo_writes_nothing_into_the_package():
    """gradio writes a ``.pyi`` stub next to a module that subclasses a component; ours must
    not (an installed package may be read-only and must not change itself)."""
    import importlib
    from pathlib import Path

    import adain_jax.demo.app as app

    folder = Path(app.__file__).parent
    for stub in folder.glob("*.pyi"):
        stub.unlink()
    importlib.reload(app)
    assert not list(folder.glob("*.pyi"))
