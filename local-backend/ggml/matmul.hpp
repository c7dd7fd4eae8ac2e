// Matrix-vector and matrix-matrix products of GGUF weights with F32 activations, on the SIMD
// path this CPU supports best (AVX-512 VNNI, AVX2+FMA, or portable scalar code), chosen once at
// start-up. INFERGATE_SIMD=scalar|avx2|avx512 in the environment forces a lower path.
#pragma once

#include <cstdint>

#include "ggml/ggml_types.hpp"
#include "ggml/thread_pool.hpp"

namespace infergate::engine::ggml {

// Row-major: rows x cols, each row row_bytes(type, cols) bytes, rows contiguous.
struct WeightView {
  Type type;
  const void* data;
  std::int64_t rows;
  std::int64_t cols;
};

// True when matmul handles this view: a supported type (is_supported) and cols a whole number
// of blocks, rows and cols positive.
bool matmul_supported(const WeightView& w);

// Y[b][r] = sum_c W[r][c] * X[b][c] for b < batch: X is batch x cols, Y is batch x rows (F32,
// rows contiguous). Activations are quantized once per call to the dot type (Q8_0 for
// Q4_0/Q5_0/Q8_0, Q8_K for K-quants; BF16 for BF16 weights where the CPU has AVX512-BF16), the
// work split across the pool so each weight block is read from memory once per call. For a view
// that matmul_supported rejects, Y is filled with zeros.
void matmul(const WeightView& w, const float* x, std::int64_t batch, float* y, ThreadPool& pool);

// Dot products used by attention, on the selected SIMD path.
float dot_f32(const float* a, const float* b, std::int64_t n);
float dot_f16_f32(const half* a, const float* b, std::int64_t n);

enum class SimdLevel : int { scalar = 0, avx2 = 1, avx512 = 2 };

// The path in use: the best this build and CPU support, lowered by INFERGATE_SIMD.
SimdLevel simd_level();
// The best path this build and CPU support.
SimdLevel detected_simd_level();
// Switches the path for later calls (tests, benchmarks); false and no change when this build or
// CPU cannot run it.
bool set_simd_level(SimdLevel level);
const char* simd_level_name(SimdLevel level);

}  // namespace infergate::engine::ggml
