// Element-wise kernels of the forward pass (norms, softmax, SwiGLU, residuals). They are
// O(hidden) per token next to the O(hidden x ffn) matmuls, so plain loops suffice; each is built
// for AVX-512, AVX2 and baseline x86-64 (GCC/Clang function multi-versioning picks one at load
// time) so that the compiler's auto-vectorisation uses the machine's widest registers.
#pragma once

#include <cstdint>

namespace infergate::engine::model {

// y = x / sqrt(mean(x^2) + eps) * w, n values.
void rms_norm(const float* x, const float* w, float* y, std::int64_t n, float eps);
// x = softmax(x) in place, n >= 1 values; subtracts the max first.
void softmax(float* x, std::int64_t n);
// g = silu(g) * u, with silu(g) = g / (1 + e^-g).
void silu_mul(float* g, const float* u, std::int64_t n);
// x += y.
void add_to(float* x, const float* y, std::int64_t n);
// Index of the first largest value of x[0..n) (n >= 1); NaNs are never chosen (0 when all are
// NaN).
std::int64_t argmax(const float* x, std::int64_t n);
// e^x element-wise, relative error below 2e-7 over the float range (x <= -87.3 gives ~0).
void exp_inplace(float* x, std::int64_t n);
// y = x as IEEE binary16 bits, rounded to nearest even: bit for bit ggml::fp32_to_fp16 of each
// value (F16C where the CPU has it: the KV cache writes of a step are otherwise a few hundred
// thousand scalar conversions on the calling thread).
void to_fp16(const float* x, std::uint16_t* y, std::int64_t n);

}  // namespace infergate::engine::model
