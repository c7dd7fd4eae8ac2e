// matmul end to end: shapes that leave edge tiles, batches from decode to prefill, one and two
// threads, every SIMD path, against a plain F32 product of the dequantized weights.
#include "ggml/matmul.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ggml/quants.hpp"

namespace ggml = infergate::engine::ggml;
using ggml::Type;

namespace {

const char* name(Type t) { return ggml::traits(static_cast<std::uint32_t>(t)).name; }

std::vector<ggml::SimdLevel> available_levels() {
  std::vector<ggml::SimdLevel> out;
  for (int l = 0; l <= static_cast<int>(ggml::detected_simd_level()); ++l) {
    out.push_back(static_cast<ggml::SimdLevel>(l));
  }
  return out;
}

// Restores the path in use when a test ends, whatever it switched to.
class SimdGuard {
 public:
  SimdGuard() : saved_(ggml::simd_level()) {}
  ~SimdGuard() { ggml::set_simd_level(saved_); }

 private:
  ggml::SimdLevel saved_;
};

struct Problem {
  Type type;
  std::int64_t rows, cols, batch;
  std::vector<std::uint8_t> w;
  std::vector<float> wd, x;
};

Problem make_problem(Type t, std::int64_t rows, std::int64_t cols, std::int64_t batch,
                     std::uint32_t seed) {
  Problem p{t, rows, cols, batch, {}, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const std::size_t rb = ggml::row_bytes(t, cols);
  p.w.resize(rb * static_cast<std::size_t>(rows));
  p.wd.resize(static_cast<std::size_t>(rows * cols));
  std::vector<float> row(static_cast<std::size_t>(cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = dist(rng) * 0.05f;
    ggml::quantize_row(t, row.data(), p.w.data() + r * rb, cols);
    ggml::dequantize_row(t, p.w.data() + r * rb, p.wd.data() + r * cols, cols);
  }
  p.x.resize(static_cast<std::size_t>(batch * cols));
  for (auto& v : p.x) v = dist(rng);
  return p;
}

// The bound the kernel tests use, per output (see kernels_test.cpp): half an activation step per
// element for quantized types, BF16 rounding for BF16, F32 rounding otherwise.
double tolerance(Type t, const float* w, const float* x, std::int64_t k) {
  double abs_sum = 0;
  for (std::int64_t i = 0; i < k; ++i) abs_sum += std::fabs(static_cast<double>(w[i]) * x[i]);
  double tol = 2e-6 * abs_sum + 1e-6;
  const Type dot = ggml::vec_dot_type(t);
  if (dot == Type::Q8_0 || dot == Type::Q8_K) {
    const std::int64_t block = dot == Type::Q8_0 ? 32 : 256;
    for (std::int64_t b = 0; b < k; b += block) {
      double wsum = 0, amax = 0;
      for (std::int64_t i = b; i < b + block; ++i) {
        wsum += std::fabs(w[i]);
        amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
      }
      tol += wsum * amax / 254.0 * 1.0001;
    }
  } else if (t == Type::BF16) {
    tol += abs_sum * std::ldexp(1.0, -8);
  }
  return tol;
}

void expect_matches_reference(const Problem& p, const std::vector<float>& y,
                              const std::string& what) {
  for (std::int64_t b = 0; b < p.batch; ++b) {
    for (std::int64_t r = 0; r < p.rows; ++r) {
      const float* wr = p.wd.data() + r * p.cols;
      const float* xb = p.x.data() + b * p.cols;
      double exact = 0;
      for (std::int64_t i = 0; i < p.cols; ++i) exact += static_cast<double>(wr[i]) * xb[i];
      ASSERT_NEAR(y[static_cast<std::size_t>(b * p.rows + r)], exact,
                  tolerance(p.type, wr, xb, p.cols))
          << what << " row " << r << " batch row " << b;
    }
  }
}

class Matmul : public ::testing::TestWithParam<Type> {};

TEST_P(Matmul, MatchesF32ReferenceAtEveryShapeThreadCountAndPath) {
  SimdGuard guard;
  const Type t = GetParam();
  const std::int64_t block = ggml::traits(static_cast<std::uint32_t>(t)).block_size;
  const std::int64_t cols = block == 256 ? 512 : block == 32 ? 160 : 75;
  ggml::ThreadPool one(1), two(2);
  std::uint32_t seed = 10;
  // Row counts that are not multiples of any tile (1, 5, 67) next to one that is (64); batches
  // from decode (1) to a prefill chunk (128).
  for (std::int64_t rows : {1, 5, 64, 67}) {
    for (std::int64_t batch : {1, 3, 17, 128}) {
      if (rows == 1 && batch == 128) continue;  // nothing new, just slow
      const Problem p = make_problem(t, rows, cols, batch, seed++);
      const ggml::WeightView w{t, p.w.data(), rows, cols};
      for (ggml::SimdLevel level : available_levels()) {
        ASSERT_TRUE(ggml::set_simd_level(level));
        std::vector<float> y1(static_cast<std::size_t>(batch * rows), std::nanf(""));
        std::vector<float> y2(y1.size(), std::nanf(""));
        ggml::matmul(w, p.x.data(), batch, y1.data(), one);
        ggml::matmul(w, p.x.data(), batch, y2.data(), two);
        const std::string what = std::string(name(t)) + " " + ggml::simd_level_name(level) +
                                 " rows " + std::to_string(rows) + " batch " +
                                 std::to_string(batch);
        expect_matches_reference(p, y1, what + " 1 thread");
        if (HasFatalFailure()) return;
        // Each output is computed by one kernel call in a fixed order, so the split across
        // threads cannot change a single bit.
        for (std::size_t i = 0; i < y1.size(); ++i) {
          ASSERT_EQ(y1[i], y2[i]) << what << " output " << i << " differs with 2 threads";
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, Matmul,
                         ::testing::Values(Type::F32, Type::F16, Type::BF16, Type::Q4_0, Type::Q5_0,
                                           Type::Q8_0, Type::Q4_K, Type::Q6_K),
                         [](const ::testing::TestParamInfo<Type>& param_info) {
                           return std::string(name(param_info.param));
                         });

TEST(MatmulLarge, ModelWidthsWithManyTasks) {
  // Large enough that the work is split into many row chunks and activation panels.
  SimdGuard guard;
  ggml::ThreadPool pool(2);
  for (Type t : {Type::Q8_0, Type::Q4_K}) {
    const Problem p = make_problem(t, 300, 1024, 40, 3);
    std::vector<float> y(static_cast<std::size_t>(p.batch * p.rows));
    ggml::matmul({t, p.w.data(), p.rows, p.cols}, p.x.data(), p.batch, y.data(), pool);
    expect_matches_reference(p, y, name(t));
  }
}

TEST(MatmulEdge, RejectedViewsGiveZeros) {
  ggml::ThreadPool pool(2);
  std::vector<float> x(64, 1.0f), y(8, 5.0f);
  std::vector<std::uint8_t> w(1024);
  // Q4_0 rows of 40 elements are not whole blocks; Q2_K is not supported.
  ggml::matmul({Type::Q4_0, w.data(), 4, 40}, x.data(), 1, y.data(), pool);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y[static_cast<std::size_t>(i)], 0.0f);
  EXPECT_FALSE(ggml::matmul_supported({Type::Q4_0, w.data(), 4, 40}));
  EXPECT_FALSE(ggml::matmul_supported({Type::Q2_K, w.data(), 1, 256}));
  EXPECT_FALSE(ggml::matmul_supported({Type::F32, nullptr, 1, 16}));
  EXPECT_TRUE(ggml::matmul_supported({Type::F32, w.data(), 1, 16}));
  // batch 0 writes nothing.
  y.assign(8, 5.0f);
  ggml::matmul({Type::F32, w.data(), 2, 16}, x.data(), 0, y.data(), pool);
  EXPECT_EQ(y[0], 5.0f);
}

TEST(MatmulEdge, SimdLevelSelection) {
  SimdGuard guard;
  EXPECT_TRUE(ggml::set_simd_level(ggml::SimdLevel::scalar));
  EXPECT_EQ(ggml::simd_level(), ggml::SimdLevel::scalar);
  EXPECT_TRUE(ggml::set_simd_level(ggml::detected_simd_level()));
  EXPECT_EQ(ggml::simd_level(), ggml::detected_simd_level());
  EXPECT_STREQ(ggml::simd_level_name(ggml::SimdLevel::avx2), "avx2");
}

TEST(MatmulEdge, AttentionDotsFollowTheSelectedPath) {
  SimdGuard guard;
  std::vector<float> a(100), b(100);
  std::vector<ggml::half> ah(100);
  double exact = 0;
  for (int i = 0; i < 100; ++i) {
    a[static_cast<std::size_t>(i)] = static_cast<float>(i % 7) - 3.0f;
    b[static_cast<std::size_t>(i)] = static_cast<float>(i % 5) * 0.5f;
    ah[static_cast<std::size_t>(i)] = ggml::fp32_to_fp16(a[static_cast<std::size_t>(i)]);
    exact += static_cast<double>(a[static_cast<std::size_t>(i)]) * b[static_cast<std::size_t>(i)];
  }
  for (ggml::SimdLevel level : available_levels()) {
    ASSERT_TRUE(ggml::set_simd_level(level));
    // Small integers and halves: every path is exact.
    EXPECT_EQ(ggml::dot_f32(a.data(), b.data(), 100), exact) << ggml::simd_level_name(level);
    EXPECT_EQ(ggml::dot_f16_f32(ah.data(), b.data(), 100), exact) << ggml::simd_level_name(level);
  }
  EXPECT_EQ(ggml::dot_f32(a.data(), b.data(), 0), 0.0f);
}

}  // namespace
