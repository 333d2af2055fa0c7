"""The one independent PyTorch reference of the network, shared by the tests and the benchmarks
(never imported by the library; import it only where torch is installed, e.g. after
``pytest.importorskip('torch')``).

* ``make_vgg`` / ``make_decoder`` / ``vgg_features``: the authors' PyTorch port (``net.py`` of
  naoto0804/pytorch-AdaIN) verbatim in structure; ``Net``, ``calc_mean_std``, ``adain`` and
  ``make_trainer``: its training step (benchmarks).
* ``TorchvisionVGG19``, ``torchvision_reference_features``, ``caffe_reference_features``:
  relu1_1..relu4_1 of the other VGG-19 weight layouts, written out by hand (weight tests).
* ``T7Writer`` and ``t7_*``: a tiny serializer of the Lua Torch7 binary format, used to produce
  ``.t7`` files in tests.

Training step: ``loss = content + style_weight * style`` with content = MSE(relu4_1(g(t)), t)
and style = sum over the four slices of MSE(means) + MSE(stds); only the decoder is trained
(Adam; the VGG has ``requires_grad=False``). Channel statistics use the biased variance + 1e-5
as in ``adain_jax.ops`` (the port uses the unbiased one; the cost is the same). Written from the
published architecture; weights are random unless loaded.
"""
from __future__ import annotations

import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5

# VGG-19 convolutions (cin, cout) and pools ("M") of the port's ``vgg``; the first 12 entries
# (31 modules with the 1x1 preprocessing conv) end at relu4_1.
_VGG_SPEC = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256),
             (256, 256), (256, 256), "M", (256, 512), (512, 512), (512, 512), (512, 512), "M",
             (512, 512), (512, 512), (512, 512), (512, 512)]
_DECODER_SPEC = [(512, 256), "U", (256, 256), (256, 256), (256, 256), (256, 128), "U",
                 (128, 128), (128, 64), "U", (64, 64)]


def _conv(cin, cout):
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(cin, cout, (3, 3))]


def make_decoder() -> nn.Sequential:
    """The port's ``decoder``: mirrored VGG with nearest upsampling, no ReLU after the last conv."""
    layers = []
    for s in _DECODER_SPEC:
        if s == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += _conv(*s) + [nn.ReLU()]
    layers += _conv(64, 3)
    return nn.Sequential(*layers)


def make_vgg(full: bool = True) -> nn.Sequential:
    """The port's ``vgg``: 1x1 preprocessing conv, reflection-padded 3x3 convs, ceil-mode max
    pools, up to relu5_4 (``full``, the layout of ``vgg_normalised.pth``) or only its 31 first
    modules, up to relu4_1 (all that ``Net`` uses). Parameters are created in the same order
    either way, so a seeded init gives the same shared layers."""
    layers = [nn.Conv2d(3, 3, (1, 1))]
    for s in _VGG_SPEC if full else _VGG_SPEC[:12]:
        if s == "M":
            layers.append(nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
        else:
            layers += _conv(*s) + [nn.ReLU()]
    return nn.Sequential(*layers)


def vgg_features(vgg: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """relu1_1..relu4_1 as in net.py (enc_1 = vgg[:4], enc_2 = [4:11], enc_3 = [11:18],
    enc_4 = [18:31])."""
    feats = []
    for lo, hi in ((0, 4), (4, 11), (11, 18), (18, 31)):
        x = vgg[lo:hi](x)
        feats.append(x)
    return feats


class TorchvisionVGG19(nn.Module):
    """Same state-dict layout as ``torchvision.models.vgg19`` (tiny classifier)."""

    def __init__(self):
        super().__init__()
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
               512, 512, 512, 512, "M"]
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(8, 8), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(8, 4))


def torchvision_reference_features(model: TorchvisionVGG19, rgb: torch.Tensor):
    """relu1_1..relu4_1 of the torchvision layout with the AdaIN conventions: ImageNet
    normalisation, reflection padding, ceil-mode pooling (written out by hand)."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (rgb - mean) / std
    feats, n_conv = [], 0
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), m.weight, m.bias)
            n_conv += 1
        elif isinstance(m, nn.ReLU):
            x = F.relu(x)
            if n_conv in (1, 3, 5, 9):
                feats.append(x)
                if n_conv == 9:
                    return feats
        elif isinstance(m, nn.MaxPool2d):
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
    raise AssertionError("unreachable")


def caffe_reference_features(kernels_hwio, biases, rgb: np.ndarray):
    """relu1_1..relu4_1 of the Keras/Caffe VGG-19 (9 layers, HWIO kernels), computed in torch with
    the Caffe preprocessing written out by hand. ``rgb``: (H, W, 3) in [0, 1]."""
    bgr = rgb[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68])
    x = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], np.float64))
    feats = []
    for i, (k, b) in enumerate(zip(kernels_hwio, biases)):
        w = torch.from_numpy(np.asarray(k, np.float64).transpose(3, 2, 0, 1).copy())
        x = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w,
                            torch.from_numpy(np.asarray(b, np.float64))))
        if i in (0, 2, 4, 8):
            feats.append(x)
        if i in (1, 3, 7):
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
    return [f[0].permute(1, 2, 0).numpy() for f in feats]


# --- training step (benchmarks) --------------------------------------------------------------
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
    net = Net(make_vgg(full=False), make_decoder()).to(device)
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


# --- Lua Torch7 binary writer ----------------------------------------------------------------
class T7Obj:
    def __init__(self, class_name: str, fields: dict):
        self.class_name = class_name
        self.fields = fields


class T7Tensor:
    def __init__(self, array: np.ndarray, class_name: str = "torch.FloatTensor"):
        self.array = array
        self.class_name = class_name


class T7Writer:
    """Minimal ``torch.save`` (binary) writer: nil/number/string/boolean/table/torch objects,
    Float/Double tensors with their storages, references by index."""

    def __init__(self):
        self.out = bytearray()
        self.index: dict[int, int] = {}
        self.count = 0
        self.keep: list = []  # keeps referenced objects alive so their ids stay unique

    def int32(self, v):
        self.out += struct.pack("<i", v)

    def int64(self, v):
        self.out += struct.pack("<q", v)

    def string(self, s: str):
        b = s.encode()
        self.int32(len(b))
        self.out += b

    def _ref(self, obj) -> bool:
        if id(obj) in self.index:
            self.int32(self.index[id(obj)])
            return True
        self.count += 1
        self.index[id(obj)] = self.count
        self.keep.append(obj)
        self.int32(self.count)
        return False

    def write(self, obj):
        if obj is None:
            self.int32(0)
        elif isinstance(obj, bool):
            self.int32(5)
            self.int32(1 if obj else 0)
        elif isinstance(obj, (int, float)):
            self.int32(1)
            self.out += struct.pack("<d", float(obj))
        elif isinstance(obj, str):
            self.int32(2)
            self.string(obj)
        elif isinstance(obj, dict):
            self.int32(3)
            if self._ref(obj):
                return
            self.int32(len(obj))
            for k, v in obj.items():
                self.write(k)
                self.write(v)
        elif isinstance(obj, T7Obj):
            self.int32(4)
            if self._ref(obj):
                return
            self.string("V 1")
            self.string(obj.class_name)
            self.write(obj.fields)
        elif isinstance(obj, T7Tensor):
            self.int32(4)
            if self._ref(obj):
                return
            dtype = np.float64 if "Double" in obj.class_name else np.float32
            arr = np.asarray(obj.array, dtype)
            self.string("V 1")
            self.string(obj.class_name)
            self.int32(arr.ndim)
            for s in arr.shape:
                self.int64(s)
            strides = [s // arr.itemsize for s in np.ascontiguousarray(arr).strides]
            for s in strides:
                self.int64(s)
            self.int64(1)  # 1-based storage offset
            self.int32(4)  # storage object
            self.count += 1
            self.int32(self.count)
            self.string("V 1")
            self.string(obj.class_name.replace("Tensor", "Storage"))
            self.int64(arr.size)
            self.out += np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        else:
            raise TypeError(type(obj))
        return self


def t7_sequential(modules: list) -> T7Obj:
    return T7Obj("nn.Sequential", {"modules": {i + 1: m for i, m in enumerate(modules)},
                                   "train": False, "output": T7Tensor(np.zeros((0,)))})


def t7_conv(conv: nn.Conv2d, class_name: str = "nn.SpatialConvolution",
            tensor_class: str = "torch.FloatTensor") -> T7Obj:
    w = conv.weight.detach().numpy()
    out_c, in_c, kh, kw = w.shape
    if class_name == "nn.SpatialConvolutionMM":
        w = w.reshape(out_c, in_c * kh * kw)
    return T7Obj(class_name, {
        "weight": T7Tensor(w, tensor_class), "bias": T7Tensor(conv.bias.detach().numpy(),
                                                              tensor_class),
        "nInputPlane": in_c, "nOutputPlane": out_c, "kW": kw, "kH": kh, "dW": 1, "dH": 1,
        "padW": 0, "padH": 0, "train": False, "_type": "torch.FloatTensor"})


def t7_from_sequential(seq: nn.Sequential, mm_every: int = 3) -> bytes:
    """Lua-style nn.Sequential equivalent of a torch one (every ``mm_every``-th conv written as
    SpatialConvolutionMM with Double tensors; padding/pooling as fieldless modules)."""
    mods, n_conv = [], 0
    for m in seq:
        if isinstance(m, nn.Conv2d):
            if n_conv % mm_every == mm_every - 1:
                mods.append(t7_conv(m, "nn.SpatialConvolutionMM", "torch.DoubleTensor"))
            else:
                mods.append(t7_conv(m))
            n_conv += 1
        else:
            name = {"ReflectionPad2d": "nn.SpatialReflectionPadding", "ReLU": "nn.ReLU",
                    "MaxPool2d": "nn.SpatialMaxPooling",
                    "Upsample": "nn.SpatialUpSamplingNearest"}[type(m).__name__]
            mods.append(T7Obj(name, {"train": False}))
    return bytes(T7Writer().write(t7_sequential(mods)).out)
