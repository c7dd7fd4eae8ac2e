// Scalar conversions and reference quantization, bit-for-bit as ggml defines them
// (ggml-quants.c: quantize_row_*_ref, dequantize_row_*; ggml-impl.h: fp16/bf16 conversion).
// These are the slow, exact definitions: the model generator writes files with them and the
// SIMD kernels are tested against them.
#pragma once

#include <cstdint>

#include "ggml/ggml_types.hpp"

namespace infergate::engine::ggml {

// IEEE binary16 <-> binary32, round to nearest even; subnormals, inf and nan preserved.
float fp16_to_fp32(half h);
half fp32_to_fp16(float f);
// bfloat16 <-> binary32; round to nearest even, nan kept quiet (ggml_compute_fp32_to_bf16).
float bf16_to_fp32(bf16 h);
bf16 fp32_to_bf16(float f);

// Reference conversion of one row of n elements (n a multiple of the type's block size; other
// n do nothing). quantize_row: F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q6_K, Q8_K.
// dequantize_row: all of those.
void quantize_row(Type t, const float* src, void* dst, std::int64_t n);
void dequantize_row(Type t, const void* src, float* dst, std::int64_t n);

// True for the weight types quantize_row/dequantize_row and matmul handle.
bool is_supported(Type t);

// Types of the activations a weight type is multiplied with (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_K for
// K-quants, F32 for float types).
Type vec_dot_type(Type t);

// One scale and min of a Q4_K block (6 bits each, packed in 12 bytes).
inline void get_scale_min_k4(int j, const std::uint8_t* q, std::uint8_t* d, std::uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

}  // namespace infergate::engine::ggml
