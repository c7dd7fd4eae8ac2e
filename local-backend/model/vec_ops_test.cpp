#include "model/vec_ops.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "ggml/quants.hpp"

namespace model = infergate::engine::model;
namespace ggml = infergate::engine::ggml;

namespace {

// to_fp16 must give the cache the very bits the scalar conversion gives: rounding ties to even,
// subnormals, overflow to infinity, NaN payloads, and the tail after the last whole vector.
TEST(VecOps, ToFp16IsTheScalarConversionBitForBit) {
  std::vector<float> x;
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int i = 0; i < 20000; ++i) x.push_back(std::bit_cast<float>(bits(rng)));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int i = 0; i < 5000; ++i) x.push_back(normal(rng));
  for (int e = -30; e <= 17; ++e) {
    for (float m : {1.0f, 1.5f, 1.0009765625f, 1.00048828125f, 1.00146484375f, 1.99951171875f}) {
      x.push_back(std::ldexp(m, e));  // exact halves, ties and near-ties between two halfs
      x.push_back(-std::ldexp(m, e));
    }
  }
  for (float v :
       {0.0f, -0.0f, 65504.0f, 65520.0f, 65519.99f, 1e-8f, 5.96e-8f, 2.98e-8f,
        std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min()}) {
    x.push_back(v);
  }
  // Every length up to 20 (the vector body and the tail), then the whole set at once.
  for (std::size_t n = 0; n <= 20; ++n) {
    std::vector<std::uint16_t> y(n + 1, 0xABCD);
    model::to_fp16(x.data() + 100, y.data(), static_cast<std::int64_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(y[i], ggml::fp32_to_fp16(x[100 + i])) << "n " << n << " i " << i;
    }
    EXPECT_EQ(y[n], 0xABCD) << "wrote past n = " << n;
  }
  std::vector<std::uint16_t> y(x.size());
  model::to_fp16(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(y[i], ggml::fp32_to_fp16(x[i]))
        << "value " << x[i] << " bits 0x" << std::hex << std::bit_cast<std::uint32_t>(x[i]);
  }
}

}  // namespace
