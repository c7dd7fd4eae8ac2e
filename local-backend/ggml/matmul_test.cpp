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

// Several sequences decoding together: every batch from 1 to 9 and 16, so each tile shape the
// decode paths use (F32/F16/BF16 3 x 8 tiles up to 16 rows, the packed kernels' 1..8 columns
// and their software-prefetched variants) meets odd row counts and a row length that is not a
// multiple of their steps, on every path, one and two threads.
TEST_P(Matmul, DecodeBatchesMatchF32Reference) {
  SimdGuard guard;
  const Type t = GetParam();
  const std::int64_t block = ggml::traits(static_cast<std::uint32_t>(t)).block_size;
  // Long enough rows that the packed kernels prefetch from 2 activation rows on.
  const std::int64_t cols = block == 256 ? 768 : block == 32 ? 2080 : 1037;
  ggml::ThreadPool one(1), two(2);
  std::uint32_t seed = 300;
  for (std::int64_t rows : {7, 67}) {
    for (std::int64_t batch : {1, 2, 3, 4, 5, 6, 7, 8, 9, 16}) {
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

TEST(MatmulPacked, MatchesReferenceAndTheFileLayoutPath) {
  SimdGuard guard;
  ggml::ThreadPool one(1), two(2);
  std::uint32_t seed = 40;
  for (Type t : {Type::Q4_0, Type::Q8_0}) {
    // 16-row tiles: one tile, several, and a task split; batches across every column tile size.
    // Rows of 4864 (the FFN down projection's) make the kernels prefetch from 2 columns on.
    for (std::int64_t rows : {16, 48, 400, 32}) {
      for (std::int64_t batch : {1, 2, 3, 8, 9, 17, 40}) {
        const std::int64_t cols = rows == 400 ? 1024 : rows == 32 ? 4864 : 160;
        const Problem p = make_problem(t, rows, cols, batch, seed++);
        ggml::WeightView w{t, p.w.data(), rows, cols};
        const ggml::PackedWeights packed = ggml::PackedWeights::pack({&w});
        if (packed.empty()) {
          // Only the AVX-512 path has the layout.
          EXPECT_NE(ggml::detected_simd_level(), ggml::SimdLevel::avx512);
          return;
        }
        // The same bytes as the file layout, rounded up to a cache line.
        EXPECT_EQ(packed.bytes(),
                  (ggml::row_bytes(t, cols) * static_cast<std::size_t>(rows) + 63) / 64 * 64);
        ASSERT_EQ(w.packed, packed.data());
        const std::string what = std::string(name(t)) + " packed rows " + std::to_string(rows) +
                                 " batch " + std::to_string(batch);
        std::vector<float> y1(static_cast<std::size_t>(batch * rows), std::nanf(""));
        std::vector<float> y2(y1.size(), std::nanf(""));
        ggml::matmul(w, p.x.data(), batch, y1.data(), one);
        ggml::matmul(w, p.x.data(), batch, y2.data(), two);
        expect_matches_reference(p, y1, what);
        if (HasFatalFailure()) return;
        for (std::size_t i = 0; i < y1.size(); ++i) {
          ASSERT_EQ(y1[i], y2[i]) << what << " output " << i << " differs with 2 threads";
        }
        // Rows read back from the packed copy are the file's rows, bit for bit.
        std::vector<float> row(static_cast<std::size_t>(cols)), want(row.size());
        for (std::int64_t r : {std::int64_t{0}, rows / 2 + 1, rows - 1}) {
          ggml::get_row(w, r, row.data());
          ggml::dequantize_row(t, p.w.data() + r * ggml::row_bytes(t, cols), want.data(), cols);
          ASSERT_EQ(row, want) << what << " get_row " << r;
        }
        // Lower paths ignore the packed copy and read the file layout.
        ASSERT_TRUE(ggml::set_simd_level(ggml::SimdLevel::avx2));
        std::vector<float> y3(y1.size(), std::nanf(""));
        ggml::matmul(w, p.x.data(), batch, y3.data(), two);
        expect_matches_reference(p, y3, what + " avx2");
        ASSERT_TRUE(ggml::set_simd_level(ggml::SimdLevel::avx512));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(MatmulMany, SameResultsAsOneMatmulEach) {
  SimdGuard guard;
  ggml::ThreadPool two(2);
  for (Type t : {Type::Q4_0, Type::Q8_0, Type::F16}) {
    for (std::int64_t batch : {1, 5, 20}) {
      // q/k/v-like shapes: one wide weight and two narrow ones; plus one of another width
      // (not fusable) when mixed.
      Problem a = make_problem(t, 96, 256, batch, 7);
      Problem b = make_problem(t, 32, 256, batch, 8);
      Problem c = make_problem(t, 16, 256, batch, 9);
      b.x = a.x;
      c.x = a.x;
      ggml::WeightView wa{t, a.w.data(), a.rows, a.cols}, wb{t, b.w.data(), b.rows, b.cols},
          wc{t, c.w.data(), c.rows, c.cols};
      const ggml::PackedWeights packed = ggml::PackedWeights::pack({&wa, &wb, &wc});
      for (bool use_packed : {false, true}) {
        if (use_packed && packed.empty()) continue;
        ggml::WeightView va = wa, vb = wb, vc = wc;
        if (!use_packed) va.packed = vb.packed = vc.packed = nullptr;
        std::vector<float> ya(static_cast<std::size_t>(batch * a.rows), std::nanf(""));
        std::vector<float> yb(static_cast<std::size_t>(batch * b.rows), std::nanf(""));
        std::vector<float> yc(static_cast<std::size_t>(batch * c.rows), std::nanf(""));
        const ggml::MatmulJob jobs[] = {{&va, ya.data()}, {&vb, yb.data()}, {&vc, yc.data()}};
        ggml::matmul_many(jobs, 3, a.x.data(), batch, two);
        const std::string what = std::string(name(t)) + " batch " + std::to_string(batch) +
                                 (use_packed ? " packed" : "");
        expect_matches_reference(a, ya, what + " a");
        expect_matches_reference(b, yb, what + " b");
        expect_matches_reference(c, yc, what + " c");
        // Bit for bit what separate calls give.
        std::vector<float> yb1(yb.size());
        ggml::matmul(vb, a.x.data(), batch, yb1.data(), two);
        for (std::size_t i = 0; i < yb.size(); ++i) ASSERT_EQ(yb[i], yb1[i]) << what;
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(MatmulPacked, OnlyWholeTilesOfSupportedTypes) {
  std::vector<std::uint8_t> w(1 << 16);
  ggml::WeightView odd{Type::Q4_0, w.data(), 17, 64}, f16{Type::F16, w.data(), 16, 64},
      k4{Type::Q4_K, w.data(), 16, 256}, q8{Type::Q8_0, w.data(), 32, 64},
      q4{Type::Q4_0, w.data(), 16, 64};
  EXPECT_TRUE(ggml::PackedWeights::pack({&odd, &f16, &k4}).empty());
  EXPECT_EQ(odd.packed, nullptr);
  ggml::PackedWeights a = ggml::PackedWeights::pack({&odd, &q8, &f16, &q4});
  if (a.empty()) return;  // no AVX-512 here
  EXPECT_EQ(odd.packed, nullptr);
  EXPECT_EQ(f16.packed, nullptr);
  EXPECT_EQ(q8.packed, a.data());
  EXPECT_EQ(q4.packed, static_cast<const std::uint8_t*>(a.data()) + 32 * 68);
  EXPECT_EQ(a.bytes(), std::size_t{32 * 68 + 16 * 36});
  const void* data = a.data();
  ggml::PackedWeights b(std::move(a));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(b.data(), data);
  a = std::move(b);
  EXPECT_EQ(a.data(), data);
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

TEST(Attention, ScoresAndValuesMatchReferenceOnEveryPath) {
  SimdGuard guard;
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  // Head sizes with and without whole registers, head groups across the kernels' chunks (4, 8),
  // token counts with partial last registers.
  for (int hd : {64, 40, 128}) {
    for (int n_q : {1, 3, 7, 9}) {
      for (int n_kv : {1, 15, 17, 100}) {
        const int cap = 112;  // leading dimension of the transposed keys and of the scores
        std::vector<ggml::half> kt(static_cast<std::size_t>(hd * cap)),
            v(static_cast<std::size_t>(cap * hd));
        std::vector<float> q(static_cast<std::size_t>(n_q * hd)),
            p(static_cast<std::size_t>(n_q * cap));
        for (auto& x : kt) x = ggml::fp32_to_fp16(dist(rng));
        for (auto& x : v) x = ggml::fp32_to_fp16(dist(rng));
        for (auto& x : q) x = dist(rng);
        for (auto& x : p) x = std::fabs(dist(rng));
        for (ggml::SimdLevel level : available_levels()) {
          ASSERT_TRUE(ggml::set_simd_level(level));
          const std::string what = std::string(ggml::simd_level_name(level)) + " hd " +
                                   std::to_string(hd) + " n_q " + std::to_string(n_q) + " n_kv " +
                                   std::to_string(n_kv);
          std::vector<float> sc(static_cast<std::size_t>(n_q * cap), -7.0f);
          ggml::attn_scores(kt.data(), cap, hd, q.data(), n_q, n_kv, 0.125f, sc.data(), cap);
          std::vector<float> out(static_cast<std::size_t>(n_q * hd) + 1, -7.0f);
          ggml::attn_values(v.data(), hd, p.data(), cap, n_q, n_kv, out.data());
          for (int h = 0; h < n_q; ++h) {
            for (int j = 0; j < cap; ++j) {
              const float got = sc[static_cast<std::size_t>(h * cap + j)];
              if (j >= n_kv) {
                ASSERT_EQ(got, -7.0f) << what << ": wrote past n_kv";
                continue;
              }
              double exact = 0, mag = 0;
              for (int d = 0; d < hd; ++d) {
                const double t = static_cast<double>(q[static_cast<std::size_t>(h * hd + d)]) *
                                 ggml::fp16_to_fp32(kt[static_cast<std::size_t>(d * cap + j)]);
                exact += t;
                mag += std::fabs(t);
              }
              ASSERT_NEAR(got, exact * 0.125, mag * 1e-6 + 1e-6)
                  << what << " score " << h << "," << j;
            }
            for (int d = 0; d < hd; ++d) {
              double exact = 0, mag = 0;
              for (int j = 0; j < n_kv; ++j) {
                const double t = static_cast<double>(p[static_cast<std::size_t>(h * cap + j)]) *
                                 ggml::fp16_to_fp32(v[static_cast<std::size_t>(j * hd + d)]);
                exact += t;
                mag += std::fabs(t);
              }
              ASSERT_NEAR(out[static_cast<std::size_t>(h * hd + d)], exact, mag * 1e-6 + 1e-6)
                  << what << " value " << h << "," << d;
            }
          }
          ASSERT_EQ(out.back(), -7.0f) << what << ": wrote past the outputs";
        }
      }
    }
  }
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
