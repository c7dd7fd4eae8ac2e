#include "ggml/quants.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace ggml = infergate::engine::ggml;
using ggml::Type;

namespace {

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

std::vector<float> gaussian(std::size_t n, std::uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// ---- fp16 / bf16 ------------------------------------------------------------------------------

TEST(Fp16, EveryHalfRoundTripsThroughFloat) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = ggml::fp16_to_fp32(static_cast<ggml::half>(h));
    const bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if (is_nan) {
      ASSERT_TRUE(std::isnan(f)) << h;
      // Quiet nans keep their payload; signalling ones come back quiet.
      ASSERT_EQ(ggml::fp32_to_fp16(f), h | 0x200) << h;
    } else {
      ASSERT_EQ(ggml::fp32_to_fp16(f), h) << h;
    }
  }
}

TEST(Fp16, KnownValues) {
  EXPECT_EQ(ggml::fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(ggml::fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(ggml::fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(ggml::fp32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(ggml::fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(ggml::fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(ggml::fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_TRUE(std::isnan(ggml::fp16_to_fp32(ggml::fp32_to_fp16(std::nanf("")))));
  // Smallest subnormal 2^-24 and largest subnormal.
  EXPECT_EQ(ggml::fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(ggml::fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(ggml::fp16_to_fp32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(ggml::fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));
}

TEST(Fp16, RoundsToNearestEven) {
  // Halfway between 1.0 and the next half (1 + 2^-10): ties go to the even mantissa (1.0).
  EXPECT_EQ(ggml::fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // Halfway between 1 + 2^-10 (odd) and 1 + 2^-9: up to the even one.
  EXPECT_EQ(ggml::fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  // Just above halfway rounds up.
  EXPECT_EQ(ggml::fp32_to_fp16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)), 0x3c01);
  // Overflow: 65520 is halfway to 2^16 and rounds to inf; just below stays at the max.
  EXPECT_EQ(ggml::fp32_to_fp16(65520.0f), 0x7c00);
  EXPECT_EQ(ggml::fp32_to_fp16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  // Subnormal ties: 2^-25 is half the smallest subnormal and rounds to zero (even); 3 * 2^-25
  // rounds to 2 * 2^-24.
  EXPECT_EQ(ggml::fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(ggml::fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(ggml::fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  // The largest subnormal rounds up into the smallest normal.
  EXPECT_EQ(ggml::fp32_to_fp16(std::ldexp(1023.75f, -24)), 0x0400);
  // Far below the subnormal range: signed zero.
  EXPECT_EQ(ggml::fp32_to_fp16(-1e-30f), 0x8000);
}

TEST(Fp16, MatchesDoubleRoundingOnRandomFloats) {
  // Reference: the nearest half found by search over all finite halves, ties to even.
  std::vector<float> halves;
  for (std::uint32_t h = 0; h < 0x7c00; ++h)
    halves.push_back(ggml::fp16_to_fp32(static_cast<ggml::half>(h)));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> mag(-26.0f, 16.0f);
  for (int i = 0; i < 20000; ++i) {
    const float f = std::ldexp(1.0f + std::uniform_real_distribution<float>(0, 1)(rng),
                               static_cast<int>(mag(rng)));
    if (f >= 65520.0f) continue;
    auto it = std::lower_bound(halves.begin(), halves.end(), f);
    std::uint32_t best;
    if (it == halves.end()) {
      best = 0x7bff;
    } else if (it == halves.begin() || *it == f) {
      best = static_cast<std::uint32_t>(it - halves.begin());
    } else {
      const std::uint32_t hi = static_cast<std::uint32_t>(it - halves.begin());
      const double dlo = static_cast<double>(f) - halves[hi - 1];
      const double dhi = static_cast<double>(halves[hi]) - f;
      best = dlo < dhi ? hi - 1 : dhi < dlo ? hi : ((hi - 1) % 2 == 0 ? hi - 1 : hi);
    }
    ASSERT_EQ(ggml::fp32_to_fp16(f), best) << f;
    ASSERT_EQ(ggml::fp32_to_fp16(-f), best | 0x8000) << f;
  }
}

TEST(Bf16, ConversionRoundTripsAndRounds) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = ggml::bf16_to_fp32(static_cast<ggml::bf16>(h));
    ASSERT_EQ(bits(f), h << 16);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(ggml::bf16_to_fp32(ggml::fp32_to_bf16(f))));
    } else {
      ASSERT_EQ(ggml::fp32_to_bf16(f), h) << h;  // includes subnormals and infinities
    }
  }
  // Ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(ggml::fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(ggml::fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(ggml::fp32_to_bf16(from_bits(0x3f808001)), 0x3f81);
  // A signalling nan comes back quiet, not as infinity.
  const ggml::bf16 n = ggml::fp32_to_bf16(from_bits(0x7f800001));
  EXPECT_TRUE(std::isnan(ggml::bf16_to_fp32(n)));
  // Values that round past the largest finite bf16 become infinity.
  EXPECT_EQ(ggml::fp32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
}

// ---- dequantize on hand-built blocks
// -------------------------------------------------------------

TEST(Dequantize, Q4_0) {
  ggml::block_q4_0 b{};
  b.d = ggml::fp32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
  float y[32];
  ggml::dequantize_row(Type::Q4_0, &b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f);
    EXPECT_EQ(y[j + 16], (15 - j - 8) * 0.5f);
  }
}

TEST(Dequantize, Q5_0) {
  ggml::block_q5_0 b{};
  b.d = ggml::fp32_to_fp16(-0.25f);
  const std::uint32_t qh = 0xA5C3F00Fu;
  std::memcpy(b.qh, &qh, 4);
  for (int j = 0; j < 16; ++j)
    b.qs[j] = static_cast<std::uint8_t>((j * 7 % 16) | ((j * 3 % 16) << 4));
  float y[32];
  ggml::dequantize_row(Type::Q5_0, &b, y, 32);
  for (int j = 0; j < 16; ++j) {
    const int lo = (j * 7 % 16) | (((qh >> j) & 1) << 4);
    const int hi = (j * 3 % 16) | (((qh >> (j + 16)) & 1) << 4);
    EXPECT_EQ(y[j], (lo - 16) * -0.25f) << j;
    EXPECT_EQ(y[j + 16], (hi - 16) * -0.25f) << j;
  }
}

TEST(Dequantize, Q8_0) {
  ggml::block_q8_0 b[2]{};
  b[0].d = ggml::fp32_to_fp16(0.125f);
  b[1].d = ggml::fp32_to_fp16(3.0f);
  for (int j = 0; j < 32; ++j) {
    b[0].qs[j] = static_cast<std::int8_t>(j * 8 - 128);
    b[1].qs[j] = static_cast<std::int8_t>(127 - j);
  }
  float y[64];
  ggml::dequantize_row(Type::Q8_0, b, y, 64);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(y[j], (j * 8 - 128) * 0.125f);
    EXPECT_EQ(y[32 + j], (127 - j) * 3.0f);
  }
}

// Packs 6-bit scales and mins the way Q4_K stores them (ggml-common.h: scales[0..3] and
// mins[0..3] in the low 6 bits of bytes 0..7; scales/mins 4..7 as nibbles of bytes 8..11 with
// their top 2 bits in the top bits of bytes 0..3 / 4..7).
void pack_q4_K_scales(const int sc[8], const int m[8], std::uint8_t out[12]) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<std::uint8_t>(sc[j]);
    out[j + 4] = static_cast<std::uint8_t>(m[j]);
  }
  for (int j = 4; j < 8; ++j) {
    out[j + 4] = static_cast<std::uint8_t>((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
    out[j - 4] |= static_cast<std::uint8_t>((sc[j] >> 4) << 6);
    out[j] |= static_cast<std::uint8_t>((m[j] >> 4) << 6);
  }
}

TEST(Dequantize, Q4_K) {
  ggml::block_q4_K b{};
  const int sc[8] = {1, 63, 17, 32, 45, 5, 60, 33};
  const int m[8] = {0, 7, 63, 48, 16, 31, 1, 62};
  pack_q4_K_scales(sc, m, b.scales);
  b.d = ggml::fp32_to_fp16(0.0625f);
  b.dmin = ggml::fp32_to_fp16(0.03125f);
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<std::uint8_t>((i * 37 + 11) & 0xFF);
  float y[256];
  ggml::dequantize_row(Type::Q4_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32;  // sub-block
    const int l = i % 32;
    const int q = (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
    EXPECT_EQ(y[i], 0.0625f * sc[j] * q - 0.03125f * m[j]) << i;
  }
  // get_scale_min_k4 undoes the packing.
  for (int j = 0; j < 8; ++j) {
    std::uint8_t s, mm;
    ggml::get_scale_min_k4(j, b.scales, &s, &mm);
    EXPECT_EQ(s, sc[j]);
    EXPECT_EQ(mm, m[j]);
  }
}

TEST(Dequantize, Q6_K) {
  ggml::block_q6_K b{};
  for (int i = 0; i < 128; ++i) b.ql[i] = static_cast<std::uint8_t>((i * 53 + 7) & 0xFF);
  for (int i = 0; i < 64; ++i) b.qh[i] = static_cast<std::uint8_t>((i * 29 + 3) & 0xFF);
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<std::int8_t>(i * 17 - 128);
  b.d = ggml::fp32_to_fp16(0.5f);
  float y[256];
  ggml::dequantize_row(Type::Q6_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) {
    // Element i = 128h + 32k + l: low 4 bits from ql[64h + l + 32 (k odd)], nibble k/2; high 2
    // bits from qh[32h + l] >> 2k.
    const int h = i / 128, k = (i % 128) / 32, l = i % 32;
    const int low = (b.ql[64 * h + l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xF;
    const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
    const int q = (low | (high << 4)) - 32;
    EXPECT_EQ(y[i], 0.5f * b.scales[i / 16] * q) << i;
  }
}

TEST(Dequantize, Q8_KF16BF16) {
  ggml::block_q8_K b{};
  b.d = 0.75f;
  for (int i = 0; i < 256; ++i) b.qs[i] = static_cast<std::int8_t>(i - 128);
  std::vector<float> y(256);
  ggml::dequantize_row(Type::Q8_K, &b, y.data(), 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.75f * (i - 128));

  const ggml::half h[3] = {0x3c00, 0xc000, 0x0001};
  float f[3];
  ggml::dequantize_row(Type::F16, h, f, 3);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], -2.0f);
  EXPECT_EQ(f[2], std::ldexp(1.0f, -24));
  const ggml::bf16 bh[2] = {0x3f80, 0xc040};
  ggml::dequantize_row(Type::BF16, bh, f, 2);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], -3.0f);
}

// ---- quantize
// ------------------------------------------------------------------------------------

struct Bound {
  Type type;
  double rel_rms;  // RMS error / RMS value on Gaussian data
};

TEST(Quantize, RoundTripErrorWithinTypeBounds) {
  // Typical figures for Gaussian weights (ggml's quantize-stats reports similar ones), with
  // margin (measured here: Q4_0 0.087, Q5_0 0.043, Q8_0 0.0054, Q4_K 0.071, Q6_K 0.018, Q8_K
  // 0.007).
  const Bound bounds[] = {{Type::F16, 5e-4},   {Type::BF16, 3e-3},  {Type::Q4_0, 0.10},
                          {Type::Q5_0, 0.05},  {Type::Q8_0, 0.006}, {Type::Q4_K, 0.085},
                          {Type::Q6_K, 0.022}, {Type::Q8_K, 0.009}, {Type::F32, 0.0}};
  const std::int64_t n = 256 * 64;
  const std::vector<float> x = gaussian(n, 1234, 0.7f);
  for (const Bound& bd : bounds) {
    std::vector<std::uint8_t> q(ggml::row_bytes(bd.type, n));
    std::vector<float> y(n);
    ggml::quantize_row(bd.type, x.data(), q.data(), n);
    ggml::dequantize_row(bd.type, q.data(), y.data(), n);
    double err2 = 0, val2 = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      err2 += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
      val2 += static_cast<double>(x[i]) * x[i];
    }
    const double rel = std::sqrt(err2 / val2);
    RecordProperty(ggml::traits(static_cast<std::uint32_t>(bd.type)).name, std::to_string(rel));
    EXPECT_LE(rel, bd.rel_rms) << ggml::traits(static_cast<std::uint32_t>(bd.type)).name;
    // And not suspiciously exact for the lossy types.
    if (bd.type != Type::F32) {
      EXPECT_GT(rel, 0.0) << ggml::traits(static_cast<std::uint32_t>(bd.type)).name;
    }
  }
}

TEST(Quantize, PerBlockMaxErrorOfLegacyTypes) {
  const std::int64_t n = 32 * 200;
  const std::vector<float> x = gaussian(n, 99, 2.0f);
  for (Type t : {Type::Q4_0, Type::Q5_0, Type::Q8_0}) {
    std::vector<std::uint8_t> q(ggml::row_bytes(t, n));
    std::vector<float> y(n);
    ggml::quantize_row(t, x.data(), q.data(), n);
    ggml::dequantize_row(t, q.data(), y.data(), n);
    const int levels = t == Type::Q4_0 ? 8 : t == Type::Q5_0 ? 16 : 127;
    for (std::int64_t b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      const float d = amax / levels;
      for (int j = 0; j < 32; ++j) {
        const std::int64_t i = b * 32 + j;
        // Half a step, except the positive end of the symmetric 4/5-bit types, which is clamped
        // one step short; plus the F16 rounding of the scale.
        const float step = t == Type::Q8_0 ? 0.5f : 1.0f;
        ASSERT_LE(std::fabs(y[i] - x[i]), step * d * 1.001f + amax * 1e-3f)
            << ggml::traits(static_cast<std::uint32_t>(t)).name << " at " << i;
      }
    }
  }
}

TEST(Quantize, ExactValuesSurvive) {
  // A Q8_0 block whose values are multiples of its scale comes back exactly, scale included.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) * 0.25f;
  x[5] = 127 * 0.25f;
  ggml::block_q8_0 b;
  ggml::quantize_row(Type::Q8_0, x, &b, 32);
  EXPECT_EQ(ggml::fp16_to_fp32(b.d), 0.25f);
  float y[32];
  ggml::dequantize_row(Type::Q8_0, &b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], x[j]);

  // Q4_0: the largest magnitude maps to -8 exactly (d = max / -8).
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>((j % 16) - 8);
  ggml::block_q4_0 q4;
  ggml::quantize_row(Type::Q4_0, x, &q4, 32);
  EXPECT_EQ(ggml::fp16_to_fp32(q4.d), 1.0f);
  ggml::dequantize_row(Type::Q4_0, &q4, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], x[j]);
}

TEST(Quantize, Q8_KBlockSumsAndScale) {
  const std::vector<float> x = gaussian(512, 5);
  ggml::block_q8_K b[2];
  ggml::quantize_row(Type::Q8_K, x.data(), b, 512);
  for (int i = 0; i < 2; ++i) {
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += b[i].qs[16 * g + l];
      EXPECT_EQ(b[i].bsums[g], s);
    }
    // The largest magnitude maps to -127 exactly; d carries its sign.
    int amax_q = 0;
    for (int l = 0; l < 256; ++l) amax_q = std::max(amax_q, std::abs(int{b[i].qs[l]}));
    EXPECT_EQ(amax_q, 127);
  }
}

TEST(Quantize, ZeroAndNonFiniteInputsAreDefined) {
  std::vector<float> zeros(256, 0.0f);
  for (Type t : {Type::Q4_0, Type::Q5_0, Type::Q8_0, Type::Q4_K, Type::Q6_K, Type::Q8_K}) {
    std::vector<std::uint8_t> q(ggml::row_bytes(t, 256), 0xAB);
    std::vector<float> y(256, 1.0f);
    ggml::quantize_row(t, zeros.data(), q.data(), 256);
    ggml::dequantize_row(t, q.data(), y.data(), 256);
    for (float v : y) EXPECT_EQ(v, 0.0f) << ggml::traits(static_cast<std::uint32_t>(t)).name;
  }
  // nan / inf must not crash (or trip the sanitizers); the values are unspecified.
  std::vector<float> bad = gaussian(256, 3);
  bad[3] = std::nanf("");
  bad[100] = std::numeric_limits<float>::infinity();
  bad[200] = -std::numeric_limits<float>::infinity();
  for (Type t : {Type::Q4_0, Type::Q5_0, Type::Q8_0, Type::Q4_K, Type::Q6_K, Type::Q8_K, Type::F16,
                 Type::BF16}) {
    std::vector<std::uint8_t> q(ggml::row_bytes(t, 256));
    std::vector<float> y(256);
    ggml::quantize_row(t, bad.data(), q.data(), 256);
    ggml::dequantize_row(t, q.data(), y.data(), 256);
  }
}

TEST(Quantize, RejectsPartialBlocksAndUnsupportedTypes) {
  std::vector<float> x(40, 1.0f);
  std::vector<std::uint8_t> q(64, 0x5A);
  ggml::quantize_row(Type::Q4_0, x.data(), q.data(), 40);  // not a multiple of 32: no-op
  for (auto v : q) EXPECT_EQ(v, 0x5A);
  ggml::quantize_row(Type::Q2_K, x.data(), q.data(), 256);  // unsupported: no-op
  for (auto v : q) EXPECT_EQ(v, 0x5A);
  EXPECT_TRUE(ggml::is_supported(Type::Q4_K));
  EXPECT_TRUE(ggml::is_supported(Type::BF16));
  EXPECT_FALSE(ggml::is_supported(Type::Q2_K));
  EXPECT_FALSE(ggml::is_supported(Type::Q8_K));  // activations only
  EXPECT_EQ(ggml::vec_dot_type(Type::Q4_0), Type::Q8_0);
  EXPECT_EQ(ggml::vec_dot_type(Type::Q5_0), Type::Q8_0);
  EXPECT_EQ(ggml::vec_dot_type(Type::Q6_K), Type::Q8_K);
  EXPECT_EQ(ggml::vec_dot_type(Type::F16), Type::F32);
}

}  // namespace
