// Internal: the table of kernels one SIMD path provides. matmul.cpp picks a table once (CPU
// detection, INFERGATE_SIMD); tests and the benchmark call every table directly.
//
// Each path prepares the activations in its own layout (the quantized dot type of the weight
// type, elements permuted to match how that path unpacks weight blocks), so a prepared row is
// only meaningful to the gemm of the same table.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ggml/ggml_types.hpp"

namespace infergate::engine::ggml::detail {

enum class Simd : int { scalar = 0, avx2 = 1, avx512 = 2 };

// Activation rows per group of the wide path, and the fewest rows for which matmul uses it
// (measured: from 12 rows one partly empty group beats three pair-kernel tiles).
inline constexpr int kWideGroup = 16;
inline constexpr std::int64_t kWideMinRows = 12;

struct Kernels {
  Simd simd = Simd::scalar;
  const char* name = "scalar";
  // Bytes of one prepared activation row of n elements for weights of type t; 0 when the gemm
  // reads the F32 row as it is. n must be a whole number of t's blocks.
  std::size_t (*act_row_bytes)(Type t, std::int64_t n) = nullptr;
  // Prepares one activation row (n F32 values) into dst (act_row_bytes(t, n) bytes, 64-aligned).
  void (*prepare_act)(Type t, const float* x, std::int64_t n, void* dst) = nullptr;
  // y[c * y_stride + r] = sum_k W[r][k] * A[c][k] for r < nr, c < nc. W rows are w_stride bytes
  // apart in the file layout of t; A rows are a_stride bytes apart (prepared rows, or F32 rows
  // when act_row_bytes is 0); k elements per row.
  void (*gemm)(Type t, const void* w, std::size_t w_stride, std::int64_t nr, const void* a,
               std::size_t a_stride, std::int64_t nc, std::int64_t k, float* y,
               std::int64_t y_stride) = nullptr;
  // Optional wide path for many activation rows (prefill, large decode batches): activations
  // are prepared in groups of kWideGroup rows interleaved so that one instruction multiplies a
  // weight row with all of them. wide_group_bytes == nullptr or returning 0: no wide path for t.
  std::size_t (*wide_group_bytes)(Type t, std::int64_t n) = nullptr;
  // Prepares rows (1..kWideGroup) activation rows of n values (rows n apart) as one group.
  void (*prepare_wide)(Type t, const float* x, int rows, std::int64_t n, void* dst) = nullptr;
  // As gemm, for nc activation rows given as ceil(nc / kWideGroup) groups group_stride apart.
  void (*gemm_wide)(Type t, const void* w, std::size_t w_stride, std::int64_t nr, const void* a,
                    std::size_t group_stride, std::int64_t nc, std::int64_t k, float* y,
                    std::int64_t y_stride) = nullptr;
  // Optional packed path (PackedWeights): kPackRows weight rows interleaved per 32-block, see
  // packed_block_bytes. packed_act_row_bytes == nullptr or returning 0: none for t.
  std::size_t (*packed_act_row_bytes)(Type t, std::int64_t n) = nullptr;
  void (*prepare_packed_act)(Type t, const float* x, std::int64_t n, void* dst) = nullptr;
  // y[c * y_stride + r] for the n_tiles * kPackRows rows from tile `tile0` of the packed matrix
  // wp (k elements a row), r counted from the first of those rows; nc prepared activation rows.
  void (*gemm_packed)(Type t, const void* wp, std::int64_t tile0, std::int64_t n_tiles,
                      const void* a, std::size_t a_stride, std::int64_t nc, std::int64_t k,
                      float* y, std::int64_t y_stride) = nullptr;
  // Attention over one KV head (see attn_scores / attn_values in matmul.hpp).
  void (*attn_scores)(const half* kt, std::int64_t ld_k, int head_dim, const float* q, int n_q,
                      int n_kv, float scale, float* scores, std::int64_t ld_s) = nullptr;
  void (*attn_values)(const half* v, int head_dim, const float* p, std::int64_t ld_p, int n_q,
                      int n_kv, float* out) = nullptr;
  float (*dot_f32)(const float* a, const float* b, std::int64_t n) = nullptr;
  float (*dot_f16_f32)(const half* a, const float* b, std::int64_t n) = nullptr;
};

// Packed layout: per tile of kPackRows rows, per 32-block, kPackRows F16 scales (row order),
// then the quants as 64-byte vectors whose 32-bit lane r belongs to row r of the tile:
// Q4_0: 4 vectors, vector p lane r = bytes 4p..4p+3 of the row's qs (low nibbles elements
// 4p..4p+3, high nibbles 16+4p..16+4p+3); Q8_0: 8 vectors, vector j lane r = quants 4j..4j+3
// with the sign bit flipped (q + 128, unsigned). Tiles of a matrix follow one another.
inline constexpr int kPackRows = 16;
constexpr std::size_t packed_block_bytes(Type t) {
  return t == Type::Q4_0 ? 2 * kPackRows + 4 * 64 : t == Type::Q8_0 ? 2 * kPackRows + 8 * 64 : 0;
}

const Kernels& scalar_kernels();
// nullptr when the path was not built (non-x86, or INFERGATE_SIMD_KERNELS=OFF). Whether the CPU
// can run it is for the caller to check (cpu_supports).
const Kernels* avx2_kernels();
const Kernels* avx512_kernels();

// True when this CPU (and OS) can run the given path.
bool cpu_supports(Simd s);
bool cpu_supports_avx512_bf16();

// The AVX-512 BF16 dot (vdpbf16ps), in its own translation unit; used by the AVX-512 table for
// BF16 weights when the CPU has AVX512-BF16. nullptr entries when not built.
struct Bf16Kernels {
  std::size_t (*act_row_bytes)(std::int64_t n) = nullptr;
  void (*prepare_act)(const float* x, std::int64_t n, void* dst) = nullptr;
  void (*gemm)(const void* w, std::size_t w_stride, std::int64_t nr, const void* a,
               std::size_t a_stride, std::int64_t nc, std::int64_t k, float* y,
               std::int64_t y_stride) = nullptr;
};
const Bf16Kernels* avx512bf16_kernels();

}  // namespace infergate::engine::ggml::detail
