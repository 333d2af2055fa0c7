// 3x3 convolutions on the CPU through oneDNN's brgemm kernels, as XLA FFI custom calls.
//
// XLA:CPU runs convolutions at ~330 GFLOP/s on 2 Zen 5 cores and has no bf16 kernels; oneDNN
// reaches ~500 GFLOP/s in f32 (AVX-512) and ~1 TFLOP/s in bf16 (AVX512-BF16 / AMX) there.
// Layouts are XLA's defaults: activations NHWC, kernels HWIO, all dense row-major.
// Compute is bf16 (f32 accumulation) or f32; outputs f32 or bf16. Primitives are cached per shape.
//
// Targets (see adain_jax/onednn.py):
//   adain_conv3x3_fwd[_bf16|_f32](x (N,H,W,I), w f32 (3,3,I,O), b f32 (O)) -> y (N,H',W',O):
//     x bf16 -> y f32 [bf16], or x f32 -> y f32 (_f32);
//     attrs resample (0: none, 1: 2x2 max pool in ceil mode, 2: nearest upsampling x2, applied
//     to x first), reflect (0: x is already padded, 1: reflection-pad x by 1 here, 2: edge),
//     pad (oneDNN zero padding), compensate (bf16 kernel-rounding compensation, below), relu
//   adain_conv3x3_bwd_w[_f32](x (N,H,W,I), dy (N,H',W',O)) -> dw f32 (3,3,I,O), db f32 (O);
//     x, dy bf16 (or f32); attrs pad, reflect, resample
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// (N, H, W, I, O, pad, bf16 input) and, for the forward kernels, (bf16 output, fused ReLU).
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, bool>;

struct Fwd {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
  memory::desc user_w;
  dnnl::reorder::primitive_desc to_blocked_pd;
  dnnl::reorder to_blocked;
};

struct BwdW {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights conv;
  memory::desc user_w;
  dnnl::reorder::primitive_desc from_blocked_pd;
  dnnl::reorder from_blocked;
};

// XLA may run two custom calls at once on different threads: every primitive gets its
// scratchpad from the calling thread (oneDNN's library-managed one may be shared).
dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The calling thread's scratchpad for `pd`, reused across calls.
memory ThreadScratchpad(const memory::desc& desc) {
  thread_local std::vector<uint8_t> storage;
  const size_t bytes = desc.get_size() + 64;
  if (storage.size() < bytes) storage.resize(bytes);
  auto address = reinterpret_cast<uintptr_t>(storage.data());
  return memory(desc, Engine(), reinterpret_cast<void*>((address + 63) & ~uintptr_t{63}));
}

std::mutex cache_mutex;
std::map<Key, std::shared_ptr<Fwd>> fwd_cache;
std::map<Key, std::shared_ptr<BwdW>> bwd_w_cache;

dnnl::convolution_forward::primitive_desc FwdDesc(int64_t n, int64_t h, int64_t w, int64_t ci,
                                                  int64_t co, int64_t pad, dnnl::prop_kind prop,
                                                  bool in_bf16, bool out_bf16 = false,
                                                  bool relu = false) {
  const int64_t ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
  const dt compute = in_bf16 ? dt::bf16 : dt::f32;
  memory::desc src({n, ci, h, w}, compute, tag::nhwc);
  memory::desc wei({co, ci, 3, 3}, compute, tag::any);
  memory::desc bias({co}, dt::f32, tag::a);
  memory::desc dst({n, co, ho, wo}, out_bf16 ? dt::bf16 : dt::f32, tag::nhwc);
  dnnl::primitive_attr attr = UserScratchpad();
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(
      Engine(), prop, dnnl::algorithm::convolution_direct, src, wei, bias, dst, {1, 1},
      {pad, pad}, {pad, pad}, attr);
}

std::shared_ptr<Fwd> GetFwd(const Key& key) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = fwd_cache.find(key);
  if (it != fwd_cache.end()) return it->second;
  auto [n, h, w, ci, co, pad, in_bf16, out_bf16, relu] = key;
  auto pd = FwdDesc(n, h, w, ci, co, pad, dnnl::prop_kind::forward_inference, in_bf16, out_bf16,
                    relu);
  memory::desc user_w({co, ci, 3, 3}, dt::f32, tag::hwio);
  dnnl::reorder::primitive_desc to_blocked(Engine(), user_w, Engine(), pd.weights_desc(),
                                          UserScratchpad());
  auto entry = std::make_shared<Fwd>(
      Fwd{pd, dnnl::convolution_forward(pd), user_w, to_blocked, dnnl::reorder(to_blocked)});
  fwd_cache.emplace(key, entry);
  return entry;
}

std::shared_ptr<BwdW> GetBwdW(const Key& key) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = bwd_w_cache.find(key);
  if (it != bwd_w_cache.end()) return it->second;
  auto [n, h, w, ci, co, pad, in_bf16, unused_out_bf16, unused_relu] = key;
  auto hint = FwdDesc(n, h, w, ci, co, pad, dnnl::prop_kind::forward_training, in_bf16);
  const int64_t ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
  const dt compute = in_bf16 ? dt::bf16 : dt::f32;
  memory::desc src({n, ci, h, w}, compute, tag::nhwc);
  memory::desc dwei({co, ci, 3, 3}, dt::f32, tag::any);
  memory::desc dbias({co}, dt::f32, tag::a);
  memory::desc ddst({n, co, ho, wo}, compute, tag::nhwc);
  dnnl::convolution_backward_weights::primitive_desc pd(
      Engine(), dnnl::algorithm::convolution_direct, src, dwei, dbias, ddst, {1, 1}, {pad, pad},
      {pad, pad}, hint, UserScratchpad());
  memory::desc user_w({co, ci, 3, 3}, dt::f32, tag::hwio);
  dnnl::reorder::primitive_desc from_blocked(Engine(), pd.diff_weights_desc(), Engine(), user_w,
                                            UserScratchpad());
  auto entry = std::make_shared<BwdW>(BwdW{pd, dnnl::convolution_backward_weights(pd), user_w,
                                           from_blocked, dnnl::reorder(from_blocked)});
  bwd_w_cache.emplace(key, entry);
  return entry;
}

float Bf16Round(float v) {  // round to nearest even, as oneDNN's f32 -> bf16 reorder
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  std::memcpy(&v, &u, 4);
  return v;
}

inline float Bf16ToFloat(uint16_t v) {
  uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Per-channel mean of `rows` rows of `c` bf16 values (one image, NHWC).
void ChannelMeans(const uint16_t* x, int64_t rows, int64_t c, float* mean) {
  const int threads = omp_get_max_threads();
  std::vector<float> partial(threads * c, 0.f);
#pragma omp parallel num_threads(threads)
  {
    float* acc = &partial[omp_get_thread_num() * c];
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const uint16_t* row = x + r * c;
      for (int64_t i = 0; i < c; ++i) acc[i] += Bf16ToFloat(row[i]);
    }
  }
  for (int64_t i = 0; i < c; ++i) {
    double total = 0;
    for (int t = 0; t < threads; ++t) total += partial[t * c + i];
    mean[i] = float(total / double(rows));
  }
}

constexpr int64_t kNoPad = 0, kReflect = 1, kEdge = 2;           // attr `reflect`
constexpr int64_t kNoResample = 0, kMaxPool = 1, kUpsample = 2;  // attr `resample`

// Size of a side after the input's resampling: 2x2/2 max pool in ceil mode, or nearest x2.
int64_t Resampled(int64_t size, int64_t resample) {
  return resample == kMaxPool ? (size + 1) / 2 : resample == kUpsample ? 2 * size : size;
}

// NaN-propagating maxima (as XLA's max): a NaN operand wins.
inline float Max(float a, float b) { return a >= b || a != a ? a : b; }
inline uint16_t Max(uint16_t a, uint16_t b) {
  const float fa = Bf16ToFloat(a), fb = Bf16ToFloat(b);
  return fa >= fb || fa != fa ? a : b;
}

inline uint32_t Bits(uint16_t v) { return uint32_t(v) << 16; }
inline uint32_t Bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

// Whether any of `n` values is an infinity or a NaN (exponent bits all set).
template <typename T>
bool AnyNonFinite(const T* p, int64_t n) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= uint32_t((Bits(p[i]) & 0x7F800000u) == 0x7F800000u);
  return bad != 0;
}

// Element types of the two compute modes: bf16 (stored as uint16_t) and f32.
template <ffi::DataType kType>
using Elem = std::conditional_t<kType == ffi::DataType::BF16, uint16_t, float>;

// The conv input of `n` NHWC images (h, w, c): resampled (`resample`), then padded by 1
// with reflection (clamped "edge" padding with `edge`), into `out` (n, h' + 2, w' + 2, c).
// One pass, parallel over output rows; doing it here instead of in XLA saves XLA:CPU's slow
// concatenate and reduce passes over every layer's activations. Returns whether the input
// holds an infinity or a NaN (every input value reaches some output row; pooling keeps NaNs).
template <typename T>
bool PrepareImages(const T* x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t resample,
                   bool edge, T* out) {
  const int64_t hl = Resampled(h, resample), wl = Resampled(w, resample);
  auto src_index = [edge](int64_t i, int64_t size) -> int64_t {
    if (i < 0) return edge || size == 1 ? 0 : 1;
    if (i >= size) return edge || size == 1 ? size - 1 : size - 2;
    return i;
  };
  const int64_t wp = wl + 2, rows = n * (hl + 2);
  const int64_t left = 1 + src_index(-1, wl), right = 1 + src_index(wl, wl);
  bool bad = false;
#pragma omp parallel for schedule(static) reduction(|| : bad)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t img = r / (hl + 2), row = src_index(r % (hl + 2) - 1, hl);
    const T* image = x + img * h * w * c;
    T* dst = out + r * wp * c;
    if (resample == kNoResample) {
      std::memcpy(dst + c, image + row * w * c, w * c * sizeof(T));
    } else if (resample == kUpsample) {
      const T* src = image + (row / 2) * w * c;
      for (int64_t j = 0; j < w; ++j) {
        std::memcpy(dst + (1 + 2 * j) * c, src + j * c, c * sizeof(T));
        std::memcpy(dst + (2 + 2 * j) * c, src + j * c, c * sizeof(T));
      }
    } else {  // max pool; an odd last row/column is its own window (ceil mode)
      const T* a = image + (2 * row) * w * c;
      const T* b = 2 * row + 1 < h ? a + w * c : a;
      for (int64_t j = 0; j < wl; ++j) {
        const int64_t j0 = 2 * j * c, j1 = std::min(2 * j + 1, w - 1) * c;
        T* d = dst + (1 + j) * c;
        for (int64_t i = 0; i < c; ++i)
          d[i] = Max(Max(a[j0 + i], a[j1 + i]), Max(b[j0 + i], b[j1 + i]));
      }
    }
    std::memcpy(dst, dst + left * c, c * sizeof(T));
    std::memcpy(dst + (wl + 1) * c, dst + right * c, c * sizeof(T));
    bad = bad || AnyNonFinite(dst + c, wl * c);
  }
  return bad;
}

// Fills `count` outputs with NaN.
template <bool kBf16>
void FillNaN(char* dst, int64_t count) {
  if constexpr (kBf16) {
    std::fill_n(reinterpret_cast<uint16_t*>(dst), count, uint16_t{0x7FC0});
  } else {
    std::fill_n(reinterpret_cast<float*>(dst), count, std::numeric_limits<float>::quiet_NaN());
  }
}

// A per-thread buffer for padded inputs, reused across calls (no page faults per call);
// buffers above 128 MiB (a 512 px float32 layer needs 68 MiB) are freed after the call.
template <typename T>
struct Scratch {
  std::vector<T>& buffer;
  explicit Scratch(size_t elements) : buffer(Get()) { buffer.resize(elements); }
  ~Scratch() {
    if (buffer.size() * sizeof(T) > (128u << 20)) std::vector<T>().swap(buffer);
  }
  static std::vector<T>& Get() {
    thread_local std::vector<T> storage;
    return storage;
  }
};

// `x` is resampled (`resample`) and padded by 1 here when `reflect` is kReflect/kEdge, then
// convolved with zero padding
// `pad` (0 for the network, 2 for the input gradient's full convolution).
// With `compensate`, each image gets its own bias: b + mean(x) . sum_hw(w - bf16(w)), which
// removes the error that rounding the kernel to bf16 causes on the input's per-channel
// mean (exact for constant inputs).
// The input is bf16 or f32 (kIn: the compute type), the output f32 or bf16 (kOut), optionally
// through a fused ReLU.
template <ffi::DataType kIn, ffi::DataType kOut>
ffi::Error ConvFwd(ffi::Buffer<kIn> x, ffi::Buffer<ffi::F32> w, ffi::Buffer<ffi::F32> b,
                   ffi::ResultBuffer<kOut> y, int64_t pad, int64_t reflect, int64_t resample,
                   bool compensate, bool relu) {
  using T = Elem<kIn>;
  constexpr bool kInBf16 = kIn == ffi::DataType::BF16, kBf16 = kOut == ffi::DataType::BF16;
  if (compensate && !kInBf16)
    return ffi::Error::InvalidArgument("adain_conv3x3_fwd: compensation is for bf16 inputs");
  auto xd = x.dimensions(), wd = w.dimensions();
  if (xd.size() != 4 || wd.size() != 4 || wd[0] != 3 || wd[1] != 3 || wd[2] != xd[3])
    return ffi::Error::InvalidArgument("adain_conv3x3_fwd: bad shapes");
  const int64_t n = xd[0], h = xd[1], wi = xd[2], ci = xd[3], co = wd[3];
  if (reflect == kNoPad && resample != kNoResample)
    return ffi::Error::InvalidArgument("adain_conv3x3_fwd: resampling needs padding");
  const int64_t border = reflect == kNoPad ? 0 : 1;
  const int64_t hp = Resampled(h, resample) + 2 * border, wp = Resampled(wi, resample) + 2 * border;
  const int64_t ho = hp + 2 * pad - 2, wo = wp + 2 * pad - 2;
  const int64_t per_exec = compensate ? 1 : n;  // images per oneDNN call
  try {
    auto p = GetFwd({per_exec, hp, wp, ci, co, pad, kInBf16, kBf16, relu});
    dnnl::stream stream(Engine());
    memory user_w(p->user_w, Engine(), w.typed_data());
    memory blocked_w(p->pd.weights_desc(), Engine());
    p->to_blocked.execute(stream, {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, blocked_w},
                                   {DNNL_ARG_SCRATCHPAD, ThreadScratchpad(
                                       p->to_blocked_pd.scratchpad_desc())}});
    stream.wait();
    std::vector<float> resid, mean(ci), bias_n(b.typed_data(), b.typed_data() + co);
    // oneDNN's fused ReLU maps NaN to 0: an image with a non-finite input value (or non-finite
    // kernels/biases) gets an all-NaN output instead, so that, as with XLA, a diverged network
    // or a bad pixel cannot pass unnoticed.
    const bool bad_params = AnyNonFinite(w.typed_data(), 9 * ci * co) ||
                            AnyNonFinite(b.typed_data(), co);
    if (compensate) {
      const float* wt = w.typed_data();
      resid.assign(ci * co, 0.f);
      for (int64_t k = 0; k < 9; ++k)
        for (int64_t i = 0; i < ci * co; ++i) {
          const float v = wt[k * ci * co + i];
          resid[i] += v - Bf16Round(v);
        }
    }
    Scratch<T> scratch(border ? per_exec * hp * wp * ci : 0);
    const auto* src_data = reinterpret_cast<const T*>(x.untyped_data());
    auto* dst_data = reinterpret_cast<char*>(y->untyped_data());
    const int64_t dst_image_bytes = ho * wo * co * (kBf16 ? 2 : 4);
    for (int64_t img = 0; img < n; img += per_exec) {
      const T* in = src_data + img * h * wi * ci;
      std::vector<char> bad(per_exec, bad_params);
      for (int64_t k = 0; k < per_exec; ++k) {
        if (border)
          bad[k] |= PrepareImages(in + k * h * wi * ci, 1, h, wi, ci, resample, reflect == kEdge,
                                  scratch.buffer.data() + k * hp * wp * ci);
        else if (relu)
          bad[k] |= AnyNonFinite(in + k * hp * wp * ci, hp * wp * ci);
      }
      if (border) in = scratch.buffer.data();
      if constexpr (kInBf16) {
        if (compensate) {
          ChannelMeans(in, hp * wp, ci, mean.data());
          for (int64_t o = 0; o < co; ++o) bias_n[o] = b.typed_data()[o];
          for (int64_t i = 0; i < ci; ++i)
            for (int64_t o = 0; o < co; ++o) bias_n[o] += mean[i] * resid[i * co + o];
        }
      }
      memory src(p->pd.src_desc(), Engine(), const_cast<T*>(in));
      memory bias(p->pd.bias_desc(), Engine(), bias_n.data());
      memory dst(p->pd.dst_desc(), Engine(), dst_data + img * dst_image_bytes);
      p->conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, blocked_w},
                               {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst},
                               {DNNL_ARG_SCRATCHPAD, ThreadScratchpad(p->pd.scratchpad_desc())}});
      stream.wait();  // the scratch buffer and bias_n are reused by the next image
      for (int64_t k = 0; k < per_exec; ++k)
        if (bad[k]) FillNaN<kBf16>(dst_data + (img + k) * dst_image_bytes, ho * wo * co);
    }
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("oneDNN: ") + e.what());
  }
  return ffi::Error::Success();
}

// Kernel and bias gradients of the forward above (no compensation); `x` is resampled and
// padded as there.
template <ffi::DataType kIn>
ffi::Error ConvBwdW(ffi::Buffer<kIn> x, ffi::Buffer<kIn> dy, ffi::ResultBuffer<ffi::F32> dw,
                    ffi::ResultBuffer<ffi::F32> db, int64_t pad, int64_t reflect,
                    int64_t resample) {
  using T = Elem<kIn>;
  constexpr bool kInBf16 = kIn == ffi::DataType::BF16;
  auto xd = x.dimensions(), yd = dy.dimensions();
  const int64_t border = reflect == kNoPad ? 0 : 1;
  if (xd.size() != 4 || yd.size() != 4 || (reflect == kNoPad && resample != kNoResample))
    return ffi::Error::InvalidArgument("adain_conv3x3_bwd_w: bad ranks or modes");
  const int64_t n = xd[0], ci = xd[3];
  const int64_t hp = Resampled(xd[1], resample) + 2 * border;
  const int64_t wp = Resampled(xd[2], resample) + 2 * border;
  if (yd[0] != n || yd[1] != hp + 2 * pad - 2 || yd[2] != wp + 2 * pad - 2)
    return ffi::Error::InvalidArgument("adain_conv3x3_bwd_w: bad shapes");
  try {
    auto p = GetBwdW({n, hp, wp, ci, yd[3], pad, kInBf16, false, false});
    dnnl::stream stream(Engine());
    Scratch<T> scratch(border ? n * hp * wp * ci : 0);
    auto* in = reinterpret_cast<T*>(x.untyped_data());
    if (border) {
      PrepareImages(in, n, xd[1], xd[2], ci, resample, reflect == kEdge, scratch.buffer.data());
      in = scratch.buffer.data();
    }
    memory src(p->pd.src_desc(), Engine(), in);
    memory ddst(p->pd.diff_dst_desc(), Engine(), dy.untyped_data());
    memory blocked_dw(p->pd.diff_weights_desc(), Engine());
    memory dbias(p->pd.diff_bias_desc(), Engine(), db->typed_data());
    p->conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst},
                             {DNNL_ARG_DIFF_WEIGHTS, blocked_dw}, {DNNL_ARG_DIFF_BIAS, dbias},
                             {DNNL_ARG_SCRATCHPAD, ThreadScratchpad(p->pd.scratchpad_desc())}});
    stream.wait();
    memory user_dw(p->user_w, Engine(), dw->typed_data());
    p->from_blocked.execute(stream, {{DNNL_ARG_FROM, blocked_dw}, {DNNL_ARG_TO, user_dw},
                                     {DNNL_ARG_SCRATCHPAD, ThreadScratchpad(
                                         p->from_blocked_pd.scratchpad_desc())}});
    stream.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("oneDNN: ") + e.what());
  }
  return ffi::Error::Success();
}

}  // namespace

#define ADAIN_FWD_BINDING(IN, OUT)               \
  ffi::Ffi::Bind()                               \
      .Arg<ffi::Buffer<ffi::IN>>()               \
      .Arg<ffi::Buffer<ffi::F32>>()              \
      .Arg<ffi::Buffer<ffi::F32>>()              \
      .Ret<ffi::Buffer<ffi::OUT>>()              \
      .Attr<int64_t>("pad")                      \
      .Attr<int64_t>("reflect")                  \
      .Attr<int64_t>("resample")                 \
      .Attr<bool>("compensate")                  \
      .Attr<bool>("relu")

#define ADAIN_BWD_W_BINDING(IN)                  \
  ffi::Ffi::Bind()                               \
      .Arg<ffi::Buffer<ffi::IN>>()               \
      .Arg<ffi::Buffer<ffi::IN>>()               \
      .Ret<ffi::Buffer<ffi::F32>>()              \
      .Ret<ffi::Buffer<ffi::F32>>()              \
      .Attr<int64_t>("pad")                      \
      .Attr<int64_t>("reflect")                  \
      .Attr<int64_t>("resample")

using ffi::DataType;
XLA_FFI_DEFINE_HANDLER_SYMBOL(AdainConv3x3Fwd, (ConvFwd<DataType::BF16, DataType::F32>),
                              ADAIN_FWD_BINDING(BF16, F32));
XLA_FFI_DEFINE_HANDLER_SYMBOL(AdainConv3x3FwdBf16, (ConvFwd<DataType::BF16, DataType::BF16>),
                              ADAIN_FWD_BINDING(BF16, BF16));
XLA_FFI_DEFINE_HANDLER_SYMBOL(AdainConv3x3FwdF32, (ConvFwd<DataType::F32, DataType::F32>),
                              ADAIN_FWD_BINDING(F32, F32));
XLA_FFI_DEFINE_HANDLER_SYMBOL(AdainConv3x3BwdW, ConvBwdW<DataType::BF16>,
                              ADAIN_BWD_W_BINDING(BF16));
XLA_FFI_DEFINE_HANDLER_SYMBOL(AdainConv3x3BwdWF32, ConvBwdW<DataType::F32>,
                              ADAIN_BWD_W_BINDING(F32));

extern "C" const char* adain_onednn_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_amx_fp16: return "avx512_core_amx_fp16";
    case dnnl::cpu_isa::avx512_core_fp16: return "avx512_core_fp16";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    default: return "other";
  }
}
