// Reference quantization, transcribed from ggml-quants.c so files written here quantize exactly as
// llama.cpp's would (same rounding helpers, same search loops, same packing).
#include "ggml/quants.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace infergate::engine::ggml {
namespace {

constexpr float kGroupMaxEps = 1e-15f;

std::uint32_t f32_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_f32(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// (int8_t)v as ggml writes it, defined for every float: nan and out-of-range values (which only
// come from nan/inf input) give 0 instead of undefined behaviour.
int to_int8_trunc(float v) {
  if (!(v > -129.0f && v < 128.0f)) return 0;
  return static_cast<int>(v);
}

// Round to nearest (ties to even) for |fval| < 2^22 without depending on the FP environment.
int nearest_int(float fval) {
  const float val = fval + 12582912.f;
  std::int32_t i;
  std::memcpy(&i, &val, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

// ggml's symmetric quantizer with a scale search (used by Q6_K).
float make_qx_quants(int n, int nmax, const float* x, std::int8_t* L, int rmse_type,
                     const float* qw) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  if (rmse_type == 0) {
    for (int i = 0; i < n; ++i) {
      const int l = nearest_int(iscale * x[i]);
      L[i] = static_cast<std::int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
    }
    return 1 / iscale;
  }
  bool return_early = false;
  if (rmse_type < 0) {
    rmse_type = -rmse_type;
    return_early = true;
  }
  const auto weight = [&](int i) {
    return qw               ? qw[i]
           : rmse_type == 1 ? x[i] * x[i]
           : rmse_type == 2 ? 1.0f
           : rmse_type == 3 ? std::fabs(x[i])
                            : std::sqrt(std::fabs(x[i]));
  };
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<std::int8_t>(l + nmax);
    const float w = weight(i);
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = weight(i);
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<std::int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// ggml's asymmetric (scale + min) quantizer with a weighted search (used by Q4_K).
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, std::uint8_t* L,
                       float* the_min, std::uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<std::uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_mad += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<std::uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        mad += weights[i] * diff;
      }
      if (mad < best_mad) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

void quantize_q4_0(const float* x, block_q4_0* y, std::int64_t k) {
  constexpr int qk = QK4_0;
  const std::int64_t nb = k / qk;
  for (std::int64_t i = 0; i < nb; i++) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < qk; j++) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const auto xi0 = static_cast<std::uint8_t>(std::min(15, to_int8_trunc(x0 + 8.5f)));
      const auto xi1 = static_cast<std::uint8_t>(std::min(15, to_int8_trunc(x1 + 8.5f)));
      y[i].qs[j] = static_cast<std::uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

void quantize_q5_0(const float* x, block_q5_0* y, std::int64_t k) {
  constexpr int qk = QK5_0;
  const std::int64_t nb = k / qk;
  for (std::int64_t i = 0; i < nb; i++) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < qk; j++) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    std::uint32_t qh = 0;
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const auto xi0 = static_cast<std::uint8_t>(std::min(31, to_int8_trunc(x0 + 16.5f)));
      const auto xi1 = static_cast<std::uint8_t>(std::min(31, to_int8_trunc(x1 + 16.5f)));
      y[i].qs[j] = static_cast<std::uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
      qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof qh);
  }
}

void quantize_q8_0(const float* x, block_q8_0* y, std::int64_t k) {
  const std::int64_t nb = k / QK8_0;
  for (std::int64_t i = 0; i < nb; i++) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++) amax = std::max(amax, std::fabs(x[i * QK8_0 + j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) {
      y[i].qs[j] = static_cast<std::int8_t>(to_int8_trunc(std::round(x[i * QK8_0 + j] * id)));
    }
  }
}

void quantize_q8_K(const float* x, block_q8_K* y, std::int64_t k) {
  const std::int64_t nb = k / QK_K;
  for (std::int64_t i = 0; i < nb; i++, x += QK_K) {
    float max = 0;
    float amax = 0;
    for (int j = 0; j < QK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (!amax) {
      // ggml leaves bsums untouched here; zero them so the block is fully defined.
      std::memset(&y[i], 0, sizeof(block_q8_K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; ++j) {
      const int v = nearest_int(iscale * x[j]);
      y[i].qs[j] = static_cast<std::int8_t>(std::min(127, v));
    }
    for (int j = 0; j < QK_K / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = static_cast<std::int16_t>(sum);
    }
    y[i].d = 1 / iscale;
  }
}

void quantize_q4_K(const float* x, block_q4_K* y, std::int64_t k) {
  const std::int64_t nb = k / QK_K;
  std::uint8_t L[QK_K];
  std::uint8_t Laux[32];
  float weights[32];
  float mins[QK_K / 32];
  float scales[QK_K / 32];
  for (std::int64_t i = 0; i < nb; i++, x += QK_K) {
    float max_scale = 0;  // scales are positive since the min is taken out
    float max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f,
                                   0.1f, 20, false);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
      auto ls = static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j]));
      auto lm = static_cast<std::uint8_t>(nearest_int(inv_min * mins[j]));
      ls = std::min<std::uint8_t>(63, ls);
      lm = std::min<std::uint8_t>(63, lm);
      if (j < 4) {
        y[i].scales[j] = ls;
        y[i].scales[j + 4] = lm;
      } else {
        y[i].scales[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        y[i].scales[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
        y[i].scales[j - 0] |= static_cast<std::uint8_t>((lm >> 4) << 6);
      }
    }
    y[i].d = fp32_to_fp16(max_scale / 63.f);
    y[i].dmin = fp32_to_fp16(max_min / 63.f);
    std::uint8_t sc, m;
    for (int j = 0; j < QK_K / 32; ++j) {
      get_scale_min_k4(j, y[i].scales, &sc, &m);
      const float d = fp16_to_fp32(y[i].d) * sc;
      if (!d) continue;
      const float dm = fp16_to_fp32(y[i].dmin) * m;
      for (int ii = 0; ii < 32; ++ii) {
        int l = nearest_int((x[32 * j + ii] + dm) / d);
        l = std::max(0, std::min(15, l));
        L[32 * j + ii] = static_cast<std::uint8_t>(l);
      }
    }
    std::uint8_t* q = y[i].qs;
    for (int j = 0; j < QK_K; j += 64) {
      for (int l = 0; l < 32; ++l)
        q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
  }
}

void quantize_q6_K(const float* x, block_q6_K* y, std::int64_t k) {
  const std::int64_t nb = k / QK_K;
  std::int8_t L[QK_K];
  float scales[QK_K / 16];
  for (std::int64_t i = 0; i < nb; i++, x += QK_K) {
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, nullptr);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(block_q6_K));
      y[i].d = fp32_to_fp16(0.f);
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ++ib) {
      y[i].scales[ib] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    }
    for (int j = 0; j < QK_K / 16; ++j) {
      const float d = fp16_to_fp32(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        int l = nearest_int(x[16 * j + ii] / d);
        l = std::max(-32, std::min(31, l));
        L[16 * j + ii] = static_cast<std::int8_t>(l + 32);
      }
    }
    std::uint8_t* ql = y[i].ql;
    std::uint8_t* qh = y[i].qh;
    for (int j = 0; j < QK_K; j += 128) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l + 0] & 0xF;
        const int q2 = L[j + l + 32] & 0xF;
        const int q3 = L[j + l + 64] & 0xF;
        const int q4 = L[j + l + 96] & 0xF;
        ql[l + 0] = static_cast<std::uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<std::uint8_t>(q2 | (q4 << 4));
        qh[l] =
            static_cast<std::uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                      ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
  }
}

void dequantize_q4_0(const block_q4_0* x, float* y, std::int64_t k) {
  constexpr int qk = QK4_0;
  const std::int64_t nb = k / qk;
  for (std::int64_t i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < qk / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * qk + j + 0] = x0 * d;
      y[i * qk + j + qk / 2] = x1 * d;
    }
  }
}

void dequantize_q5_0(const block_q5_0* x, float* y, std::int64_t k) {
  constexpr int qk = QK5_0;
  const std::int64_t nb = k / qk;
  for (std::int64_t i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    std::uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof qh);
    for (int j = 0; j < qk / 2; ++j) {
      const std::uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const std::uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      const int x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
      const int x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
      y[i * qk + j + 0] = x0 * d;
      y[i * qk + j + qk / 2] = x1 * d;
    }
  }
}

void dequantize_q8_0(const block_q8_0* x, float* y, std::int64_t k) {
  const std::int64_t nb = k / QK8_0;
  for (std::int64_t i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_0; ++j) y[i * QK8_0 + j] = x[i].qs[j] * d;
  }
}

void dequantize_q8_K(const block_q8_K* x, float* y, std::int64_t k) {
  const std::int64_t nb = k / QK_K;
  for (std::int64_t i = 0; i < nb; i++) {
    for (int j = 0; j < QK_K; ++j) *y++ = x[i].d * x[i].qs[j];
  }
}

void dequantize_q4_K(const block_q4_K* x, float* y, std::int64_t k) {
  const std::int64_t nb = k / QK_K;
  for (std::int64_t i = 0; i < nb; i++) {
    const std::uint8_t* q = x[i].qs;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    int is = 0;
    std::uint8_t sc, m;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void dequantize_q6_K(const block_q6_K* x, float* y, std::int64_t k) {
  const std::int64_t nb = k / QK_K;
  for (std::int64_t i = 0; i < nb; i++) {
    const float d = fp16_to_fp32(x[i].d);
    const std::uint8_t* ql = x[i].ql;
    const std::uint8_t* qh = x[i].qh;
    const std::int8_t* sc = x[i].scales;
    for (int n = 0; n < QK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace

float fp16_to_fp32(half h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1f;
  const std::uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in binary32.
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return bits_f32(f32_bits(v) | sign);
  }
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
  return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

half fp32_to_fp16(float f) {
  const std::uint32_t x = f32_bits(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000);
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) {  // nan: keep it quiet and keep the top payload bits
    return static_cast<half>(sign | 0x7e00 | ((abs >> 13) & 0x3ff));
  }
  if (abs >= 0x477ff000u) return static_cast<half>(sign | 0x7c00);  // rounds to inf (or is inf)
  const std::uint32_t e = abs >> 23;
  if (e < 113) {
    // Result is subnormal (or zero): count units of 2^-24, rounding to nearest even.
    if (e < 102) return sign;  // below half of the smallest subnormal
    const std::uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e;  // 14..24
    std::uint32_t q = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (q & 1))) ++q;
    return static_cast<half>(sign | q);
  }
  std::uint32_t h = ((e - 112) << 10) | ((abs >> 13) & 0x3ff);
  const std::uint32_t rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // carry into the exponent is correct
  return static_cast<half>(sign | h);
}

float bf16_to_fp32(bf16 h) { return bits_f32(static_cast<std::uint32_t>(h) << 16); }

bf16 fp32_to_bf16(float f) {
  const std::uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16>((u >> 16) | 64);  // quiet nan
  return static_cast<bf16>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

void quantize_row(Type t, const float* src, void* dst, std::int64_t n) {
  if (row_bytes(t, n) == 0 && n != 0) return;
  switch (t) {
    case Type::F32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case Type::F16: {
      auto* out = static_cast<half*>(dst);
      for (std::int64_t i = 0; i < n; ++i) out[i] = fp32_to_fp16(src[i]);
      return;
    }
    case Type::BF16: {
      auto* out = static_cast<bf16*>(dst);
      for (std::int64_t i = 0; i < n; ++i) out[i] = fp32_to_bf16(src[i]);
      return;
    }
    case Type::Q4_0:
      return quantize_q4_0(src, static_cast<block_q4_0*>(dst), n);
    case Type::Q5_0:
      return quantize_q5_0(src, static_cast<block_q5_0*>(dst), n);
    case Type::Q8_0:
      return quantize_q8_0(src, static_cast<block_q8_0*>(dst), n);
    case Type::Q4_K:
      return quantize_q4_K(src, static_cast<block_q4_K*>(dst), n);
    case Type::Q6_K:
      return quantize_q6_K(src, static_cast<block_q6_K*>(dst), n);
    case Type::Q8_K:
      return quantize_q8_K(src, static_cast<block_q8_K*>(dst), n);
    default:
      return;
  }
}

void dequantize_row(Type t, const void* src, float* dst, std::int64_t n) {
  if (row_bytes(t, n) == 0 && n != 0) return;
  switch (t) {
    case Type::F32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case Type::F16: {
      const auto* in = static_cast<const half*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(in[i]);
      return;
    }
    case Type::BF16: {
      const auto* in = static_cast<const bf16*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(in[i]);
      return;
    }
    case Type::Q4_0:
      return dequantize_q4_0(static_cast<const block_q4_0*>(src), dst, n);
    case Type::Q5_0:
      return dequantize_q5_0(static_cast<const block_q5_0*>(src), dst, n);
    case Type::Q8_0:
      return dequantize_q8_0(static_cast<const block_q8_0*>(src), dst, n);
    case Type::Q4_K:
      return dequantize_q4_K(static_cast<const block_q4_K*>(src), dst, n);
    case Type::Q6_K:
      return dequantize_q6_K(static_cast<const block_q6_K*>(src), dst, n);
    case Type::Q8_K:
      return dequantize_q8_K(static_cast<const block_q8_K*>(src), dst, n);
    default:
      return;
  }
}

bool is_supported(Type t) {
  switch (t) {
    case Type::F32:
    case Type::F16:
    case Type::BF16:
    case Type::Q4_0:
    case Type::Q5_0:
    case Type::Q8_0:
    case Type::Q4_K:
    case Type::Q6_K:
      return true;
    default:
      return false;
  }
}

Type vec_dot_type(Type t) {
  switch (t) {
    case Type::Q4_0:
    case Type::Q5_0:
    case Type::Q8_0:
      return Type::Q8_0;
    case Type::Q4_K:
    case Type::Q6_K:
      return Type::Q8_K;
    default:
      return Type::F32;
  }
}

}  // namespace infergate::engine::ggml
