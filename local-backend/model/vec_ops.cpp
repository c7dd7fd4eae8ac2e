#include "model/vec_ops.hpp"

#include <bit>
#include <cmath>

#include "ggml/quants.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define INFERGATE_HAVE_F16C_PATH 1
#endif

namespace infergate::engine::model {

#if defined(__x86_64__) && !defined(__clang__)
#define INFERGATE_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define INFERGATE_MULTIVERSION
#endif

namespace {

constexpr int kLanes = 16;

// e^x by range reduction x = n ln2 + r, |r| <= ln2/2, and a degree-6 polynomial for e^r; written
// without calls or branches so that loops over it vectorise.
inline float exp_approx(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;
  constexpr float kLn2Lo = 1.42860682030941723212e-6f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  const float t = x * kLog2e + kRound;
  const float n = t - kRound;
  const std::int32_t ni = std::bit_cast<std::int32_t>(t) - std::bit_cast<std::int32_t>(kRound);
  const float r = x - n * kLn2Hi - n * kLn2Lo;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * std::bit_cast<float>((ni + 127) << 23);
}

}  // namespace

INFERGATE_MULTIVERSION
void rms_norm(const float* x, const float* w, float* y, std::int64_t n, float eps) {
  // Separate lanes: float sums do not vectorise otherwise (no reassociation without -ffast-math).
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] += x[i + j] * x[i + j];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += x[i] * x[i];
  for (int j = 0; j < kLanes; ++j) sum += lanes[j];
  const float scale = 1.0f / std::sqrt(sum / static_cast<float>(n) + eps);
  for (i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

INFERGATE_MULTIVERSION
void exp_inplace(float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = exp_approx(x[i]);
}

INFERGATE_MULTIVERSION
void softmax(float* x, std::int64_t n) {
  float mx = x[0];
  for (std::int64_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  for (std::int64_t i = 0; i < n; ++i) x[i] = exp_approx(x[i] - mx);
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] += x[i + j];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += x[i];
  for (int j = 0; j < kLanes; ++j) sum += lanes[j];
  const float inv = 1.0f / sum;
  for (i = 0; i < n; ++i) x[i] *= inv;
}

INFERGATE_MULTIVERSION
void silu_mul(float* g, const float* u, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + exp_approx(-g[i])) * u[i];
}

INFERGATE_MULTIVERSION
std::int64_t argmax(const float* x, std::int64_t n) {
  // The maximum in separate lanes (vectorises), then its first position: two passes over the
  // vocabulary beat one with a serial dependency on the best index so far.
  float lanes[kLanes];
  for (int j = 0; j < kLanes; ++j) lanes[j] = -INFINITY;
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
  }
  float mx = -INFINITY;
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  for (int j = 0; j < kLanes; ++j) mx = lanes[j] > mx ? lanes[j] : mx;
  for (i = 0; i < n; ++i) {
    if (x[i] == mx) return i;
  }
  return 0;  // all NaN
}

INFERGATE_MULTIVERSION
void add_to(float* x, const float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) x[i] += y[i];
}

#if defined(INFERGATE_HAVE_F16C_PATH)
namespace {

__attribute__((target("avx,f16c"))) void to_fp16_f16c(const float* x, std::uint16_t* y,
                                                      std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = ggml::fp32_to_fp16(x[i]);
}

bool have_f16c() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  }();
  return yes;
}

}  // namespace
#endif

void to_fp16(const float* x, std::uint16_t* y, std::int64_t n) {
#if defined(INFERGATE_HAVE_F16C_PATH)
  if (have_f16c()) {
    to_fp16_f16c(x, y, n);
    return;
  }
#endif
  for (std::int64_t i = 0; i < n; ++i) y[i] = ggml::fp32_to_fp16(x[i]);
}

}  // namespace infergate::engine::model
