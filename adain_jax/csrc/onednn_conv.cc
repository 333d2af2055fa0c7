// 3x3 convolutions on the CPU through oneDNN's bf16 kernels, as XLA FFI custom calls.
//
// XLA:CPU has no bf16 convolution kernels (it converts to f32 and runs ~350 GFLOP/s);
// oneDNN's brgemm convolutions use AVX512-BF16 / AMX and run ~1 TFLOP/s on 2 cores.
// Layouts are XLA's defaults: activations NHWC, kernels HWIO, all dense row-major.
// Inputs are bf16, accumulation and outputs f32. Primitives are cached per shape.
//
// Targets (see adain_jax/onednn.py):
//   adain_conv3x3_fwd(x bf16 (N,H,W,I), w f32 (3,3,I,O), b f32 (O)) -> y f32;
//     attrs pad (zero padding), compensate (kernel-rounding compensation, below)
//   adain_conv3x3_bwd_w(x bf16 (N,H,W,I), dy bf16 (N,H',W',O)) -> dw f32 (3,3,I,O), db f32 (O)
#include <omp.h>

#include <cstdint>
#include <cstring>
#include <vector>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

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

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

struct Fwd {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
  memory::desc user_w;
  dnnl::reorder to_blocked;
};

struct BwdW {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights conv;
  memory::desc user_w;
  dnnl::reorder from_blocked;
};

std::mutex cache_mutex;
std::map<Key, std::shared_ptr<Fwd>> fwd_cache;
std::map<Key, std::shared_ptr<BwdW>> bwd_w_cache;

dnnl::convolution_forward::primitive_desc FwdDesc(int64_t n, int64_t h, int64_t w, int64_t ci,
                                                  int64_t co, int64_t pad, dnnl::prop_kind prop) {
  const int64_t ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
  memory::desc src({n, ci, h, w}, dt::bf16, tag::nhwc);
  memory::desc wei({co, ci, 3, 3}, dt::bf16, tag::any);
  memory::desc bias({co}, dt::f32, tag::a);
  memory::desc dst({n, co, ho, wo}, dt::f32, tag::nhwc);
  return dnnl::convolution_forward::primitive_desc(
      Engine(), prop, dnnl::algorithm::convolution_direct, src, wei, bias, dst, {1, 1},
      {pad, pad}, {pad, pad});
}

std::shared_ptr<Fwd> GetFwd(const Key& key) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = fwd_cache.find(key);
  if (it != fwd_cache.end()) return it->second;
  auto [n, h, w, ci, co, pad] = key;
  auto pd = FwdDesc(n, h, w, ci, co, pad, dnnl::prop_kind::forward_inference);
  memory::desc user_w({co, ci, 3, 3}, dt::f32, tag::hwio);
  auto entry = std::make_shared<Fwd>(Fwd{
      pd, dnnl::convolution_forward(pd), user_w,
      dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), user_w, Engine(), pd.weights_desc()))});
  fwd_cache.emplace(key, entry);
  return entry;
}

std::shared_ptr<BwdW> GetBwdW(const Key& key) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = bwd_w_cache.find(key);
  if (it != bwd_w_cache.end()) return it->second;
  auto [n, h, w, ci, co, pad] = key;
  auto hint = FwdDesc(n, h, w, ci, co, pad, dnnl::prop_kind::forward_training);
  const int64_t ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
  memory::desc src({n, ci, h, w}, dt::bf16, tag::nhwc);
  memory::desc dwei({co, ci, 3, 3}, dt::f32, tag::any);
  memory::desc dbias({co}, dt::f32, tag::a);
  memory::desc ddst({n, co, ho, wo}, dt::bf16, tag::nhwc);
  dnnl::convolution_backward_weights::primitive_desc pd(
      Engine(), dnnl::algorithm::convolution_direct, src, dwei, dbias, ddst, {1, 1}, {pad, pad},
      {pad, pad}, hint);
  memory::desc user_w({co, ci, 3, 3}, dt::f32, tag::hwio);
  auto entry = std::make_shared<BwdW>(BwdW{
      pd, dnnl::convolution_backward_weights(pd), user_w,
      dnnl::reorder(
          dnnl::reorder::primitive_desc(Engine(), pd.diff_weights_desc(), Engine(), user_w))});
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
      for (int64_t i = 0; i < c; ++i) {
        uint32_t u = uint32_t(row[i]) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        acc[i] += f;
      }
    }
  }
  for (int64_t i = 0; i < c; ++i) {
    double total = 0;
    for (int t = 0; t < threads; ++t) total += partial[t * c + i];
    mean[i] = float(total / double(rows));
  }
}

// With `compensate`, each image gets its own bias: b + mean(x) . sum_hw(w - bf16(w)), which
// removes the error that rounding the kernel to bf16 causes on the input's per-channel
// mean (exact for constant inputs).
ffi::Error ConvFwd(ffi::Buffer<ffi::BF16> x, ffi::Buffer<ffi::F32> w, ffi::Buffer<ffi::F32> b,
                   ffi::ResultBuffer<ffi::F32> y, int64_t pad, bool compensate) {
  auto xd = x.dimensions(), wd = w.dimensions();
  if (xd.size() != 4 || wd.size() != 4 || wd[0] != 3 || wd[1] != 3 || wd[2] != xd[3])
    return ffi::Error::InvalidArgument("adain_conv3x3_fwd: bad shapes");
  const int64_t n = xd[0], h = xd[1], wi = xd[2], ci = xd[3], co = wd[3];
  const int64_t ho = h + 2 * pad - 2, wo = wi + 2 * pad - 2;
  try {
    auto p = GetFwd({compensate ? 1 : n, h, wi, ci, co, pad});
    dnnl::stream stream(Engine());
    memory user_w(p->user_w, Engine(), w.typed_data());
    memory blocked_w(p->pd.weights_desc(), Engine());
    p->to_blocked.execute(stream, user_w, blocked_w);
    auto* src_data = reinterpret_cast<uint16_t*>(x.untyped_data());
    float* dst_data = y->typed_data();
    if (!compensate) {
      memory src(p->pd.src_desc(), Engine(), src_data);
      memory bias(p->pd.bias_desc(), Engine(), b.typed_data());
      memory dst(p->pd.dst_desc(), Engine(), dst_data);
      p->conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, blocked_w},
                               {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
    } else {
      const float* wt = w.typed_data();
      std::vector<float> resid(ci * co, 0.f), mean(ci), bias_n(co);
      for (int64_t k = 0; k < 9; ++k)
        for (int64_t i = 0; i < ci * co; ++i) {
          const float v = wt[k * ci * co + i];
          resid[i] += v - Bf16Round(v);
        }
      for (int64_t img = 0; img < n; ++img) {
        ChannelMeans(src_data + img * h * wi * ci, h * wi, ci, mean.data());
        for (int64_t o = 0; o < co; ++o) bias_n[o] = b.typed_data()[o];
        for (int64_t i = 0; i < ci; ++i)
          for (int64_t o = 0; o < co; ++o) bias_n[o] += mean[i] * resid[i * co + o];
        memory src(p->pd.src_desc(), Engine(), src_data + img * h * wi * ci);
        memory bias(p->pd.bias_desc(), Engine(), bias_n.data());
        memory dst(p->pd.dst_desc(), Engine(), dst_data + img * ho * wo * co);
        p->conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, blocked_w},
                                 {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
        stream.wait();  // bias_n is reused by the next image
      }
    }
    stream.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("oneDNN: ") + e.what());
  }
  return ffi::Error::Success();
}

ffi::Error ConvBwdW(ffi::Buffer<ffi::BF16> x, ffi::Buffer<ffi::BF16> dy,
                    ffi::ResultBuffer<ffi::F32> dw, ffi::ResultBuffer<ffi::F32> db, int64_t pad) {
  auto xd = x.dimensions(), yd = dy.dimensions();
  if (xd.size() != 4 || yd.size() != 4 || yd[0] != xd[0] || yd[1] != xd[1] + 2 * pad - 2 ||
      yd[2] != xd[2] + 2 * pad - 2)
    return ffi::Error::InvalidArgument("adain_conv3x3_bwd_w: bad shapes");
  try {
    auto p = GetBwdW({xd[0], xd[1], xd[2], xd[3], yd[3], pad});
    dnnl::stream stream(Engine());
    memory src(p->pd.src_desc(), Engine(), x.untyped_data());
    memory ddst(p->pd.diff_dst_desc(), Engine(), dy.untyped_data());
    memory blocked_dw(p->pd.diff_weights_desc(), Engine());
    memory dbias(p->pd.diff_bias_desc(), Engine(), db->typed_data());
    p->conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst},
                             {DNNL_ARG_DIFF_WEIGHTS, blocked_dw}, {DNNL_ARG_DIFF_BIAS, dbias}});
    memory user_dw(p->user_w, Engine(), dw->typed_data());
    p->from_blocked.execute(stream, blocked_dw, user_dw);
    stream.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("oneDNN: ") + e.what());
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(AdainConv3x3Fwd, ConvFwd,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::BF16>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("pad")
                                  .Attr<bool>("compensate"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(AdainConv3x3BwdW, ConvBwdW,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::BF16>>()
                                  .Arg<ffi::Buffer<ffi::BF16>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("pad"));

extern "C" const char* adain_onednn_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    default: return "other";
  }
}
