"""PyTorch reference of the AdaIN training step (benchmark only; not used by the library).

The architecture follows the authors' PyTorch port (naoto0804/pytorch-AdaIN, ``net.py``):
``nn.Sequential`` VGG (1x1 preprocessing conv, reflection-padded 3x3 convs, ceil-mode max
pools) truncated at relu4_1 and split into the four slices ending at relu1_1..relu4_1,
the mirrored decoder with nearest upsampling, AdaIN, and
``loss = content + style_weight * style`` with content = MSE(relu4_1(g(t)), t) and style =
sum over the slices of MSE(means) + MSE(stds). Only the decoder is trained (Adam; the VGG
has ``requires_grad=False``). Channel statistics use the biased variance + 1e-5 as in
``adain_jax.ops`` (the port uses the unbiased one; the cost is the same).
Written from the published architecture; weights are random.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

EPS = 1e-5


def _conv(cin, cout):
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3))]


def make_vgg() -> nn.Sequential:
    """VGG-19 up to relu4_1 (the 31 first modules of the port's ``vgg``)."""
    layers = [nn.Conv2d(3, 3, (1, 1))]
    spec = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256),
            (256, 256), (256, 256), "M", (256, 512)]
    for s in spec:
        if s == "M":
            layers.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
        else:
            layers += _conv(*s) + [nn.ReLU()]
    return nn.Sequential(*layers)


def make_decoder() -> nn.Sequential:
    layers = []
    spec = [(512, 256), "U", (256, 256), (256, 256), (256, 256), (256, 128), "U", (128, 128),
            (128, 64), "U", (64, 64)]
    for s in spec:
        if s == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += _conv(*s) + [nn.ReLU()]
    layers += _conv(64, 3)
    return nn.Sequential(*layers)


def calc_mean_std(feat: torch.Tensor, eps: float = EPS):
    n, c = feat.shape[:2]
    flat = feat.float().reshape(n, c, -1)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, unbiased=False) + eps).sqrt()
    return mean.view(n, c, 1, 1), std.view(n, c, 1, 1)


def adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    s_mean, s_std = calc_mean_std(style)
    c_mean, c_std = calc_mean_std(content)
    return (content.float() - c_mean) / c_std * s_std + s_mean


class Net(nn.Module):
    """The port's ``Net``: frozen encoder slices, trainable decoder, returns (content, style)."""

    def __init__(self, vgg: nn.Sequential, decoder: nn.Sequential):
        super().__init__()
        layers = list(vgg.children())
        self.enc_1 = nn.Sequential(*layers[:4])     # input -> relu1_1
        self.enc_2 = nn.Sequential(*layers[4:11])   # relu1_1 -> relu2_1
        self.enc_3 = nn.Sequential(*layers[11:18])  # relu2_1 -> relu3_1
        self.enc_4 = nn.Sequential(*layers[18:31])  # relu3_1 -> relu4_1
        self.decoder = decoder
        for name in ("enc_1", "enc_2", "enc_3", "enc_4"):
            for p in getattr(self, name).parameters():
                p.requires_grad = False

    def encode_with_intermediate(self, x):
        feats = []
        for i in range(4):
            x = getattr(self, f"enc_{i + 1}")(x)
            feats.append(x)
        return feats

    def encode(self, x):
        for i in range(4):
            x = getattr(self, f"enc_{i + 1}")(x)
        return x

    def forward(self, content, style):
        style_feats = self.encode_with_intermediate(style)
        content_feat = self.encode(content)
        t = adain(content_feat, style_feats[-1])
        g_t = self.decoder(t)
        g_t_feats = self.encode_with_intermediate(g_t)
        loss_c = F.mse_loss(g_t_feats[-1].float(), t)
        loss_s = 0.0
        for o, s in zip(g_t_feats, style_feats):
            om, osd = calc_mean_std(o)
            sm, ssd = calc_mean_std(s)
            loss_s = loss_s + F.mse_loss(om, sm) + F.mse_loss(osd, ssd)
        return loss_c, loss_s


def make_trainer(lr: float = 1e-4, lr_decay: float = 5e-5, style_weight: float = 10.0,
                 bf16: bool = False, channels_last: bool = False, seed: int = 0,
                 device: str = "cpu"):
    """Returns ``step(content, style) -> (loss, content, style)`` (NCHW float32 inputs on
    ``device``; the returned tensors stay there)."""
    torch.manual_seed(seed)
    net = Net(make_vgg(), make_decoder()).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    net.train()
    opt = torch.optim.Adam(net.decoder.parameters(), lr=lr)
    count = [0]

    def step(content, style):
        for g in opt.param_groups:       # the authors' adjust_learning_rate
            g["lr"] = lr / (1.0 + lr_decay * count[0])
        content = content.contiguous(memory_format=fmt)
        style = style.contiguous(memory_format=fmt)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            loss_c, loss_s = net(content, style)
            loss = loss_c + style_weight * loss_s
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        count[0] += 1
        return loss.detach(), loss_c.detach(), loss_s.detach()

    return step
