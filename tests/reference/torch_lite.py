"""An independent PyTorch implementation of the lite model (``adain_jax.nn.lite``) and of its
training loss, run on our parameter trees: the parity reference of the tests.

Written from the model's description, not from its code: NCHW tensors; space-to-depth puts
the 2x2 block offsets (row, column) before the channels; dense 3x3 convolutions pad by
reflection, depthwise ones by zeros (``groups=C``); a 1x1 convolution is the ``(cin, cout)``
kernel transposed; separable blocks add their input back when the channel counts match; the
output is a depthwise conv, a 1x1 conv to 12 channels and depth-to-space. Import only where
torch is installed.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.reference import torch_adain as ref


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.array(a, np.float32))


def space_to_depth(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, 4 * c, h // 2, w // 2)


def depth_to_space(x: torch.Tensor) -> torch.Tensor:
    n, c4, h, w = x.shape
    x = x.reshape(n, 2, 2, c4 // 4, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, c4 // 4, 2 * h, 2 * w)


def dense3x3(x, p, relu: bool = True):
    y = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), _t(p["kernel"]).permute(3, 2, 0, 1),
                 _t(p["bias"]))
    return F.relu(y) if relu else y


def pointwise(x, p):
    return F.conv2d(x, _t(p["kernel"]).T[:, :, None, None].contiguous(), _t(p["bias"]))


def depthwise(x, p):
    k = _t(p["dw_kernel"]).permute(3, 2, 0, 1).contiguous()     # (C, 1, 3, 3)
    return F.conv2d(x, k, _t(p["dw_bias"]), padding=1, groups=x.shape[1])


def separable(x, p):
    y = F.relu(pointwise(depthwise(x, p), p["pw"]))
    return y + x if y.shape[1] == x.shape[1] else y


def _blocks(tree, prefix):
    return sorted((k for k in tree if k.startswith(prefix)), key=lambda k: int(k.split("_")[1]))


def encode(enc, rgb: torch.Tensor) -> list[torch.Tensor]:
    """Features at 1/2, 1/4 and 1/8 of NCHW RGB (sides padded to multiples of 8 first)."""
    ph, pw = -rgb.shape[2] % 8, -rgb.shape[3] % 8
    x = F.pad(rgb, (0, pw, 0, ph), mode="reflect") if ph or pw else rgb
    x = dense3x3(space_to_depth(x), enc["stem"])
    feats = []
    for stage, down in ((1, "down2"), (2, "down3"), (3, None)):
        for name in _blocks(enc, f"b{stage}_"):
            x = separable(x, enc[name])
        feats.append(x)
        if down:
            x = F.relu(pointwise(space_to_depth(x), enc[down]))
    return feats


def decode(dec, feat: torch.Tensor) -> torch.Tensor:
    x = dense3x3(feat, dec["conv3"])
    for stage in (2, 1):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        for name in _blocks(dec, f"b{stage}_"):
            x = separable(x, dec[name])
    return depth_to_space(pointwise(depthwise(x, dec["out"]), dec["out"]["pw"]))


def stylize(params, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Lite stylization of NCHW content/style (sides multiples of 8), output not clipped."""
    enc = params["lite_encoder"]
    return decode(params["decoder"], ref.adain(encode(enc, content)[-1], encode(enc, style)[-1]))


def lite_loss(params, vgg_params, content, style, style_weight: float = 10.0,
              distill_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """The lite training loss: content MSE against the VGG's own AdaIN target, the VGG
    mean/std style loss, and MSE(ReLU(head(lite features)), relu4_1) over content and style."""
    net = ref.Net(ref.make_vgg(full=False), ref.make_decoder())
    load_jax_vgg(net, vgg_params)
    c4 = net.encode(content)
    s_feats = net.encode_with_intermediate(style)
    target = ref.adain(c4, s_feats[-1])
    enc = params["lite_encoder"]
    fc, fs = encode(enc, content)[-1], encode(enc, style)[-1]
    g = decode(params["decoder"], ref.adain(fc, fs))
    g_feats = net.encode_with_intermediate(g)
    lc = F.mse_loss(g_feats[-1], target)
    ls = 0.0
    for o, s in zip(g_feats, s_feats):
        om, osd = ref.calc_mean_std(o)
        sm, ssd = ref.calc_mean_std(s)
        ls = ls + F.mse_loss(om, sm) + F.mse_loss(osd, ssd)
    head = params["distill_head"]
    ld = 0.5 * (F.mse_loss(F.relu(pointwise(fc, head)), c4)
                + F.mse_loss(F.relu(pointwise(fs, head)), s_feats[-1]))
    total = lc + style_weight * ls + distill_weight * ld
    return total, {"content": lc, "style": ls, "distill": ld}


def load_jax_vgg(net: ref.Net, vgg_params) -> None:
    """Our VGG tree into the reference ``Net``'s encoder (HWIO -> OIHW, layer order)."""
    from adain_jax.nn import models

    names = ["preprocess"] + [n for n, _ in models.ENCODER_LAYERS]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][:len(names)]
    with torch.no_grad():
        for conv, name in zip(convs, names):
            conv.weight.copy_(_t(vgg_params[name]["kernel"]).permute(3, 2, 0, 1))
            conv.bias.copy_(_t(vgg_params[name]["bias"]))
