// The portable path: plain C++ that any compiler vectorises a little. Also the fallback for
// every type the SIMD paths do not special-case.
#include <cmath>
#include <cstring>

#include "ggml/kernels.hpp"
#include "ggml/quants.hpp"

namespace infergate::engine::ggml::detail {
namespace {

// Activations for Q4_0 / Q5_0 / Q8_0 weights: Q8_0 with an F32 scale.
struct ActQ8 {
  float d;
  std::int8_t qs[QK8_0];
};

// F16 -> F32 by table: the bit-exact conversion is too slow for a dot loop.
const float* f16_table() {
  static const float* table = [] {
    auto* t = new float[65536];
    for (std::uint32_t i = 0; i < 65536; ++i) t[i] = fp16_to_fp32(static_cast<half>(i));
    return t;
  }();
  return table;
}

std::size_t act_row_bytes(Type t, std::int64_t n) {
  switch (vec_dot_type(t)) {
    case Type::Q8_0:
      return static_cast<std::size_t>(n / QK8_0) * sizeof(ActQ8);
    case Type::Q8_K:
      return row_bytes(Type::Q8_K, n);
    default:
      return 0;
  }
}

void prepare_act(Type t, const float* x, std::int64_t n, void* dst) {
  switch (vec_dot_type(t)) {
    case Type::Q8_0: {
      auto* out = static_cast<ActQ8*>(dst);
      for (std::int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = d;
        for (int j = 0; j < QK8_0; ++j) {
          // Clamp before converting: a nan/inf input must not become undefined behaviour.
          const float v = std::fmin(127.0f, std::fmax(-127.0f, std::round(x[j] * id)));
          out[b].qs[j] = static_cast<std::int8_t>(v == v ? v : 0.0f);
        }
      }
      return;
    }
    case Type::Q8_K:
      quantize_row(Type::Q8_K, x, dst, n);
      return;
    default:
      return;
  }
}

float dot_q4_0(const block_q4_0* w, const ActQ8* a, std::int64_t nb) {
  float sum = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    int sumi = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      sumi += ((w[b].qs[j] & 0x0F) - 8) * a[b].qs[j];
      sumi += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + QK4_0 / 2];
    }
    sum += static_cast<float>(sumi) * fp16_to_fp32(w[b].d) * a[b].d;
  }
  return sum;
}

float dot_q5_0(const block_q5_0* w, const ActQ8* a, std::int64_t nb) {
  float sum = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    std::uint32_t qh;
    std::memcpy(&qh, w[b].qh, sizeof qh);
    int sumi = 0;
    for (int j = 0; j < QK5_0 / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) << 4) & 0x10;
      const int h1 = static_cast<int>(qh >> (j + 12)) & 0x10;
      sumi += (((w[b].qs[j] & 0x0F) | h0) - 16) * a[b].qs[j];
      sumi += (((w[b].qs[j] >> 4) | h1) - 16) * a[b].qs[j + QK5_0 / 2];
    }
    sum += static_cast<float>(sumi) * fp16_to_fp32(w[b].d) * a[b].d;
  }
  return sum;
}

float dot_q8_0(const block_q8_0* w, const ActQ8* a, std::int64_t nb) {
  float sum = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    int sumi = 0;
    for (int j = 0; j < QK8_0; ++j) sumi += w[b].qs[j] * a[b].qs[j];
    sum += static_cast<float>(sumi) * fp16_to_fp32(w[b].d) * a[b].d;
  }
  return sum;
}

float dot_q4_K(const block_q4_K* w, const block_q8_K* a, std::int64_t nb) {
  float sum = 0.0f;
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::uint8_t* q = w[b].qs;
    const std::int8_t* y = a[b].qs;
    int sumi = 0;
    int summ = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      std::uint8_t sc, m;
      get_scale_min_k4(j, w[b].scales, &sc, &m);
      const int shift = (j & 1) * 4;
      const std::uint8_t* qj = q + (j / 2) * 32;
      int s = 0;
      for (int l = 0; l < 32; ++l) s += ((qj[l] >> shift) & 0xF) * y[32 * j + l];
      sumi += sc * s;
      summ += m * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
    }
    sum += a[b].d * (fp16_to_fp32(w[b].d) * static_cast<float>(sumi) -
                     fp16_to_fp32(w[b].dmin) * static_cast<float>(summ));
  }
  return sum;
}

float dot_q6_K(const block_q6_K* w, const block_q8_K* a, std::int64_t nb) {
  float sum = 0.0f;
  std::int8_t q6[QK_K];
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::uint8_t* ql = w[b].ql;
    const std::uint8_t* qh = w[b].qh;
    for (int half_i = 0; half_i < 2; ++half_i) {
      std::int8_t* o = q6 + 128 * half_i;
      for (int l = 0; l < 32; ++l) {
        o[l + 0] = static_cast<std::int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        o[l + 32] = static_cast<std::int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = static_cast<std::int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = static_cast<std::int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      ql += 64;
      qh += 32;
    }
    int sumi = 0;
    for (int g = 0; g < QK_K / 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += q6[16 * g + l] * a[b].qs[16 * g + l];
      sumi += w[b].scales[g] * s;
    }
    sum += fp16_to_fp32(w[b].d) * a[b].d * static_cast<float>(sumi);
  }
  return sum;
}

float dot_f32(const float* a, const float* b, std::int64_t n) {
  // Eight partial sums: faster, and no less accurate than one running sum.
  float s[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float dot_f16_f32(const half* a, const float* b, std::int64_t n) {
  const float* table = f16_table();
  float s[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += table[a[i + j]] * b[i + j];
  }
  for (; i < n; ++i) s[0] += table[a[i]] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// scores[h][j] = scale * sum_d q[h][d] * kt[d][j]: one pass over the keys for every query head.
void attn_scores(const half* kt, std::int64_t ld_k, int hd, const float* q, int n_q, int n_kv,
                 float scale, float* scores, std::int64_t ld_s) {
  const float* table = f16_table();
  for (int h = 0; h < n_q; ++h) {
    float* sc = scores + h * ld_s;
    for (int j = 0; j < n_kv; ++j) sc[j] = 0.0f;
  }
  for (int d = 0; d < hd; ++d) {
    const half* kd = kt + d * ld_k;
    for (int h = 0; h < n_q; ++h) {
      const float qd = q[h * hd + d];
      float* sc = scores + h * ld_s;
      for (int j = 0; j < n_kv; ++j) sc[j] += qd * table[kd[j]];
    }
  }
  for (int h = 0; h < n_q; ++h) {
    float* sc = scores + h * ld_s;
    for (int j = 0; j < n_kv; ++j) sc[j] *= scale;
  }
}

// out[h][d] = sum_j p[h][j] * v[j][d].
void attn_values(const half* v, int hd, const float* p, std::int64_t ld_p, int n_q, int n_kv,
                 float* out) {
  const float* table = f16_table();
  for (int i = 0; i < n_q * hd; ++i) out[i] = 0.0f;
  for (int j = 0; j < n_kv; ++j) {
    const half* vj = v + static_cast<std::int64_t>(j) * hd;
    for (int h = 0; h < n_q; ++h) {
      const float pj = p[h * ld_p + j];
      float* o = out + h * hd;
      for (int d = 0; d < hd; ++d) o[d] += pj * table[vj[d]];
    }
  }
}

float dot_bf16_f32(const bf16* a, const float* b, std::int64_t n) {
  float s[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) s[j] += bf16_to_fp32(a[i + j]) * b[i + j];
  }
  for (; i < n; ++i) s[0] += bf16_to_fp32(a[i]) * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float dot_row(Type t, const void* w, const void* a, std::int64_t k) {
  switch (t) {
    case Type::F32:
      return dot_f32(static_cast<const float*>(w), static_cast<const float*>(a), k);
    case Type::F16:
      return dot_f16_f32(static_cast<const half*>(w), static_cast<const float*>(a), k);
    case Type::BF16:
      return dot_bf16_f32(static_cast<const bf16*>(w), static_cast<const float*>(a), k);
    case Type::Q4_0:
      return dot_q4_0(static_cast<const block_q4_0*>(w), static_cast<const ActQ8*>(a), k / QK4_0);
    case Type::Q5_0:
      return dot_q5_0(static_cast<const block_q5_0*>(w), static_cast<const ActQ8*>(a), k / QK5_0);
    case Type::Q8_0:
      return dot_q8_0(static_cast<const block_q8_0*>(w), static_cast<const ActQ8*>(a), k / QK8_0);
    case Type::Q4_K:
      return dot_q4_K(static_cast<const block_q4_K*>(w), static_cast<const block_q8_K*>(a),
                      k / QK_K);
    case Type::Q6_K:
      return dot_q6_K(static_cast<const block_q6_K*>(w), static_cast<const block_q8_K*>(a),
                      k / QK_K);
    default:
      return 0.0f;
  }
}

void gemm(Type t, const void* w, std::size_t w_stride, std::int64_t nr, const void* a,
          std::size_t a_stride, std::int64_t nc, std::int64_t k, float* y, std::int64_t y_stride) {
  const auto* wb = static_cast<const std::uint8_t*>(w);
  const auto* ab = static_cast<const std::uint8_t*>(a);
  // Weight rows outermost: a row stays in cache while it meets every activation row.
  for (std::int64_t r = 0; r < nr; ++r) {
    for (std::int64_t c = 0; c < nc; ++c) {
      y[c * y_stride + r] = dot_row(t, wb + r * w_stride, ab + c * a_stride, k);
    }
  }
}

}  // namespace

const Kernels& scalar_kernels() {
  static const Kernels k = [] {
    Kernels t;
    t.simd = Simd::scalar;
    t.name = "scalar";
    t.act_row_bytes = act_row_bytes;
    t.prepare_act = prepare_act;
    t.gemm = gemm;
    t.attn_scores = attn_scores;
    t.attn_values = attn_values;
    t.dot_f32 = dot_f32;
    t.dot_f16_f32 = dot_f16_f32;
    return t;
  }();
  return k;
}

}  // namespace infergate::engine::ggml::detail
