// Every dot kernel of every SIMD path this machine can run, called through its own table,
// against dequantize-then-F32 in double precision.
//
// Tolerance: a quantized dot differs from the exact one by the rounding of the activations to
// 8 bits, at most half a step per element: sum over blocks of sum|w| * d_act / 2, where
// d_act = max|x| / 127 over the activation block (32 or 256 values). F32 and F16 weights
// differ only by F32 rounding of the sum; BF16 on AVX512-BF16 also rounds the activations to
// BF16 (relative 2^-9 each). A wrong scale, offset or element order is off by far more.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ggml/kernels.hpp"
#include "ggml/quants.hpp"

namespace ggml = infergate::engine::ggml;
namespace detail = infergate::engine::ggml::detail;
using ggml::Type;

namespace {

std::vector<const detail::Kernels*> available_paths() {
  std::vector<const detail::Kernels*> out{&detail::scalar_kernels()};
  if (detail::avx2_kernels() && detail::cpu_supports(detail::Simd::avx2)) {
    out.push_back(detail::avx2_kernels());
  }
  if (detail::avx512_kernels() && detail::cpu_supports(detail::Simd::avx512)) {
    out.push_back(detail::avx512_kernels());
  }
  return out;
}

const char* name(Type t) { return ggml::traits(static_cast<std::uint32_t>(t)).name; }

struct AlignedBuffer {
  explicit AlignedBuffer(std::size_t n) : storage(new std::uint8_t[n + 64]()) {
    auto p = reinterpret_cast<std::uintptr_t>(storage.get());
    data = reinterpret_cast<std::uint8_t*>((p + 63) & ~std::uintptr_t{63});
  }
  std::unique_ptr<std::uint8_t[]> storage;
  std::uint8_t* data;
};

struct Case {
  std::vector<std::uint8_t> w;  // nr quantized rows
  std::vector<float> wd;        // the same, dequantized
  std::vector<float> x;         // nc activation rows
  std::int64_t nr, nc, k;
};

Case make_case(Type t, std::int64_t nr, std::int64_t nc, std::int64_t k, std::uint32_t seed) {
  Case c{{}, {}, {}, nr, nc, k};
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.05f, 3.0f);
  const std::size_t rb = ggml::row_bytes(t, k);
  c.w.resize(rb * static_cast<std::size_t>(nr));
  c.wd.resize(static_cast<std::size_t>(nr * k));
  std::vector<float> row(static_cast<std::size_t>(k));
  for (std::int64_t r = 0; r < nr; ++r) {
    // Varying magnitudes along the row exercise per-block scales; an outlier now and then
    // exercises the extremes of the quant range.
    for (std::int64_t i = 0; i < k; ++i) {
      row[static_cast<std::size_t>(i)] = dist(rng) * (1.0f + static_cast<float>((i / 32) % 5));
    }
    row[static_cast<std::size_t>(rng() % k)] *= 8.0f;
    ggml::quantize_row(t, row.data(), c.w.data() + r * rb, k);
    ggml::dequantize_row(t, c.w.data() + r * rb, c.wd.data() + r * k, k);
  }
  c.x.resize(static_cast<std::size_t>(nc * k));
  for (std::int64_t i = 0; i < nc * k; ++i) {
    c.x[static_cast<std::size_t>(i)] = dist(rng) * (i % 97 == 0 ? 10.0f : 1.0f) * scale(rng);
  }
  return c;
}

// Allowed |kernel - exact| for one output.
double tolerance(const detail::Kernels& kern, Type t, const float* w, const float* x,
                 std::int64_t k) {
  double abs_sum = 0;
  for (std::int64_t i = 0; i < k; ++i) abs_sum += std::fabs(static_cast<double>(w[i]) * x[i]);
  double tol = 2e-6 * abs_sum + 1e-6;  // F32 accumulation
  const Type dot = ggml::vec_dot_type(t);
  if (dot == Type::Q8_0 || dot == Type::Q8_K) {
    const std::int64_t block = dot == Type::Q8_0 ? 32 : 256;
    for (std::int64_t b = 0; b < k; b += block) {
      double wsum = 0, amax = 0;
      for (std::int64_t i = b; i < b + block; ++i) {
        wsum += std::fabs(w[i]);
        amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
      }
      tol += wsum * amax / 127.0 * 0.5 * 1.0001;
    }
  } else if (t == Type::BF16 && kern.act_row_bytes(t, k) != 0) {
    tol += abs_sum * std::ldexp(1.0, -8);
  }
  return tol;
}

void check(const detail::Kernels& kern, Type t, const Case& c) {
  const std::int64_t k = c.k;
  const std::size_t rb = ggml::row_bytes(t, k);
  const std::size_t prepared = kern.act_row_bytes(t, k);
  const std::size_t a_stride =
      prepared != 0 ? (prepared + 63) / 64 * 64 : static_cast<std::size_t>(k) * sizeof(float);
  AlignedBuffer act(a_stride * static_cast<std::size_t>(c.nc));
  if (prepared != 0) {
    for (std::int64_t j = 0; j < c.nc; ++j) {
      kern.prepare_act(t, c.x.data() + j * k, k, act.data + j * a_stride);
    }
  } else {
    for (std::int64_t j = 0; j < c.nc; ++j) {
      std::memcpy(act.data + j * a_stride, c.x.data() + j * k, static_cast<std::size_t>(k) * 4);
    }
  }
  // Weights copied to the exact size so reading past the last row shows up under ASan.
  std::vector<std::uint8_t> w(c.w);
  std::vector<float> y(static_cast<std::size_t>(c.nc * c.nr), std::nanf(""));
  kern.gemm(t, w.data(), rb, c.nr, act.data, a_stride, c.nc, k, y.data(), c.nr);
  for (std::int64_t j = 0; j < c.nc; ++j) {
    for (std::int64_t r = 0; r < c.nr; ++r) {
      const float* wr = c.wd.data() + r * k;
      const float* xj = c.x.data() + j * k;
      double exact = 0;
      for (std::int64_t i = 0; i < k; ++i) exact += static_cast<double>(wr[i]) * xj[i];
      const double got = y[static_cast<std::size_t>(j * c.nr + r)];
      ASSERT_NEAR(got, exact, tolerance(kern, t, wr, xj, k))
          << kern.name << " " << name(t) << " k=" << k << " row " << r << " col " << j;
    }
  }
}

class DotKernels : public ::testing::TestWithParam<Type> {};

TEST_P(DotKernels, MatchDequantizedF32OnEveryPath) {
  const Type t = GetParam();
  const std::int64_t block = ggml::traits(static_cast<std::uint32_t>(t)).block_size;
  // Lengths: one block, an odd number of blocks (the pair kernels' tail), the model's widths.
  std::vector<std::int64_t> lengths;
  if (block == 256) {
    lengths = {256, 768, 4864};
  } else if (block == 32) {
    lengths = {32, 96, 224, 896, 4864};
  } else {
    lengths = {1, 15, 17, 37, 64, 896, 1000};
  }
  for (const detail::Kernels* kern : available_paths()) {
    std::uint32_t seed = 1;
    for (std::int64_t k : lengths) {
      // Shapes with edge tiles in both directions, and a single row / column.
      for (auto [nr, nc] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {7, 1}, {5, 9}, {13, 6}}) {
        const Case c = make_case(t, nr, nc, k, seed++);
        check(*kern, t, c);
        if (HasFatalFailure()) return;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DotKernels,
                         ::testing::Values(Type::F32, Type::F16, Type::BF16, Type::Q4_0, Type::Q5_0,
                                           Type::Q8_0, Type::Q4_K, Type::Q6_K),
                         [](const ::testing::TestParamInfo<Type>& param_info) {
                           return std::string(name(param_info.param));
                         });

TEST(DotKernels, WidePathMatchesDequantizedF32) {
  // The many-activation-rows path: partial weight tiles (3, 13 rows) and partial groups (1, 17,
  // 40 rows), every length shape of the pair kernels.
  int tested = 0;
  for (const detail::Kernels* kern : available_paths()) {
    if (kern->wide_group_bytes == nullptr) continue;
    for (Type t : {Type::Q4_0, Type::Q5_0, Type::Q8_0}) {
      constexpr int width = detail::kWideGroup;
      std::uint32_t seed = 500;
      for (std::int64_t k : {32, 96, 896}) {
        const std::size_t group = kern->wide_group_bytes(t, k);
        ASSERT_NE(group, 0u) << kern->name << " " << name(t);
        const std::size_t stride = (group + 63) / 64 * 64;
        for (auto [nr, nc] :
             {std::pair<std::int64_t, std::int64_t>{3, 1}, {8, 16}, {13, 17}, {9, 40}}) {
          const Case c = make_case(t, nr, nc, k, seed++);
          const std::int64_t groups = (nc + width - 1) / width;
          AlignedBuffer act(stride * static_cast<std::size_t>(groups));
          for (std::int64_t g = 0; g < groups; ++g) {
            const int rows = static_cast<int>(std::min<std::int64_t>(width, nc - g * width));
            kern->prepare_wide(t, c.x.data() + g * width * k, rows, k, act.data + g * stride);
          }
          std::vector<float> y(static_cast<std::size_t>(nc * nr), std::nanf(""));
          kern->gemm_wide(t, c.w.data(), ggml::row_bytes(t, k), nr, act.data, stride, nc, k,
                          y.data(), nr);
          // The pair kernels of the same path quantize activations identically, so the integer
          // sums are the same and only the F32 summation order differs: a much tighter check.
          const std::size_t prepared = kern->act_row_bytes(t, k);
          const std::size_t a_stride = (prepared + 63) / 64 * 64;
          AlignedBuffer rows_act(a_stride * static_cast<std::size_t>(nc));
          for (std::int64_t j = 0; j < nc; ++j) {
            kern->prepare_act(t, c.x.data() + j * k, k, rows_act.data + j * a_stride);
          }
          std::vector<float> y_pair(y.size());
          kern->gemm(t, c.w.data(), ggml::row_bytes(t, k), nr, rows_act.data, a_stride, nc, k,
                     y_pair.data(), nr);
          for (std::int64_t j = 0; j < nc; ++j) {
            for (std::int64_t r = 0; r < nr; ++r) {
              const float* wr = c.wd.data() + r * k;
              const float* xj = c.x.data() + j * k;
              double exact = 0, abs_sum = 0;
              for (std::int64_t i = 0; i < k; ++i) {
                exact += static_cast<double>(wr[i]) * xj[i];
                abs_sum += std::fabs(static_cast<double>(wr[i]) * xj[i]);
              }
              const auto at = static_cast<std::size_t>(j * nr + r);
              ASSERT_NEAR(y[at], exact, tolerance(*kern, t, wr, xj, k))
                  << kern->name << " wide " << name(t) << " k=" << k << " row " << r << " col "
                  << j;
              ASSERT_NEAR(y[at], y_pair[at], 1e-5 * abs_sum + 1e-6)
                  << kern->name << " wide vs pair " << name(t) << " k=" << k << " row " << r
                  << " col " << j;
            }
          }
          ++tested;
        }
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no SIMD path with a wide kernel on this machine";
}

TEST(DotKernels, ExtremeQuantsDoNotOverflow) {
  // Blocks at the ends of their ranges (Q8_0 -128 and 127, Q4_0 all 0 or 15, Q6_K all 0 or 63
  // with scale -128/127) against activations at +-127 in every lane: the integer paths must not
  // saturate.
  for (const detail::Kernels* kern : available_paths()) {
    for (Type t : {Type::Q8_0, Type::Q4_0, Type::Q5_0, Type::Q6_K, Type::Q4_K}) {
      const std::int64_t k = 512;
      const std::size_t rb = ggml::row_bytes(t, k);
      for (int pattern = 0; pattern < 4; ++pattern) {
        std::vector<std::uint8_t> w(rb);
        std::mt19937 rng(static_cast<std::uint32_t>(pattern));
        for (auto& b : w) b = (pattern % 2) ? 0xFF : 0x00;
        if (pattern >= 2) {
          for (auto& b : w) b = static_cast<std::uint8_t>(rng() % 2 ? 0x7F : 0x80);
        }
        // Sane finite scales: rewrite the F16 fields.
        const std::size_t bs = ggml::traits(static_cast<std::uint32_t>(t)).type_size;
        for (std::size_t off = 0; off < rb; off += bs) {
          const ggml::half d = ggml::fp32_to_fp16(0.01f);
          if (t == Type::Q6_K) {
            std::memcpy(w.data() + off + 208, &d, 2);
          } else {
            std::memcpy(w.data() + off, &d, 2);
            if (t == Type::Q4_K) std::memcpy(w.data() + off + 2, &d, 2);
          }
        }
        std::vector<float> wd(static_cast<std::size_t>(k));
        ggml::dequantize_row(t, w.data(), wd.data(), k);
        std::vector<float> x(static_cast<std::size_t>(k));
        for (std::int64_t i = 0; i < k; ++i)
          x[static_cast<std::size_t>(i)] = (pattern & 1) ? 1.0f : -1.0f;
        Case c{w, wd, x, 1, 1, k};
        check(*kern, t, c);
      }
    }
  }
}

TEST(DotKernels, AttentionDotsOnEveryPath) {
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (const detail::Kernels* kern : available_paths()) {
    for (std::int64_t n : {1, 7, 16, 31, 64, 100, 128, 1000}) {
      std::vector<float> a(static_cast<std::size_t>(n)), b(static_cast<std::size_t>(n));
      std::vector<ggml::half> ah(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        a[static_cast<std::size_t>(i)] = dist(rng);
        b[static_cast<std::size_t>(i)] = dist(rng);
        ah[static_cast<std::size_t>(i)] = ggml::fp32_to_fp16(a[static_cast<std::size_t>(i)]);
      }
      double exact = 0, exact_h = 0, abs_sum = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const auto u = static_cast<std::size_t>(i);
        exact += static_cast<double>(a[u]) * b[u];
        exact_h += static_cast<double>(ggml::fp16_to_fp32(ah[u])) * b[u];
        abs_sum += std::fabs(static_cast<double>(a[u]) * b[u]);
      }
      EXPECT_NEAR(kern->dot_f32(a.data(), b.data(), n), exact, 2e-6 * abs_sum + 1e-6)
          << kern->name << " n=" << n;
      EXPECT_NEAR(kern->dot_f16_f32(ah.data(), b.data(), n), exact_h, 2e-6 * abs_sum + 1e-6)
          << kern->name << " n=" << n;
    }
  }
}

}  // namespace
