// Matrix-vector and matrix-matrix products of GGUF weights with F32 activations, on the SIMD
// path this CPU supports best (AVX-512 VNNI, AVX2+FMA, or portable scalar code), chosen once at
// start-up. INFERGATE_SIMD=scalar|avx2|avx512 in the environment forces a lower path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "ggml/ggml_types.hpp"
#include "ggml/thread_pool.hpp"

namespace infergate::engine::ggml {

// Row-major: rows x cols, each row row_bytes(type, cols) bytes, rows contiguous.
struct WeightView {
  Type type;
  const void* data;
  std::int64_t rows;
  std::int64_t cols;
  // Optional copy of the same weights in the interleaved layout of PackedWeights (below); matmul
  // reads it instead of `data` when the path in use has kernels for it.
  const void* packed = nullptr;
};

// A copy of a weight matrix in the layout the AVX-512 kernels stream fastest: 16 rows
// interleaved per 32-element block (one 32-bit lane per row, so a vpdpbusd advances 16 rows and
// no horizontal sums are needed), tiles contiguous so each thread reads one linear stream.
// Q4_0 and Q8_0 with rows a multiple of 16, on CPUs with the AVX-512 VNNI path; matmul keeps
// using the file layout for anything else. One allocation for all the matrices packed together,
// with transparent huge pages where the OS allows (fewer TLB misses when streaming hundreds of
// MB per token).
class PackedWeights {
 public:
  PackedWeights() = default;
  // True when this build and CPU have a packed layout for w.
  static bool packable(const WeightView& w);
  // Packs every packable view of `views` and points its `packed` at the copy; the others are
  // left as they are. empty() when none was packable. The copies live as long as the result.
  // `copied`, when given, is called with each range of source bytes as soon as it has been
  // copied (a few MB at a time), so that the caller can drop those pages early.
  static PackedWeights pack(const std::vector<WeightView*>& views,
                            const std::function<void(const void*, std::size_t)>& copied = {});
  ~PackedWeights();
  PackedWeights(PackedWeights&& o) noexcept;
  PackedWeights& operator=(PackedWeights&& o) noexcept;
  PackedWeights(const PackedWeights&) = delete;
  PackedWeights& operator=(const PackedWeights&) = delete;

  bool empty() const { return data_ == nullptr; }
  const void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* map_ = nullptr;  // the whole mapping (data_ is aligned inside it)
  std::size_t map_bytes_ = 0;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
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

// Row r of w as n = w.cols F32 values (what dequantize_row gives for the file's row), read from
// the packed copy when w has one: an embedding table shared with the output projection then
// needs no second resident copy.
void get_row(const WeightView& w, std::int64_t r, float* out);

// Several products of the same activations, as matmul(*w, x, batch, y) for each job, in one
// dispatch to the pool where the weights allow (packed copies of one type and width: the
// q/k/v projections, gate and up); otherwise one matmul after another.
struct MatmulJob {
  const WeightView* w;
  float* y;
};
void matmul_many(const MatmulJob* jobs, int n_jobs, const float* x, std::int64_t batch,
                 ThreadPool& pool);

// Attention over one KV head for n_q query heads sharing it (GQA), on the selected SIMD path.
// Keys transposed (kt[d * ld_k + j], F16), queries q[h * head_dim + d]:
//   scores[h * ld_s + j] = scale * sum_d q[h][d] * kt[d][j]   for j < n_kv.
void attn_scores(const half* kt, std::int64_t ld_k, int head_dim, const float* q, int n_q, int n_kv,
                 float scale, float* scores, std::int64_t ld_s);
// Values per token (v[j * head_dim + d], F16): out[h * head_dim + d] = sum_j p[h * ld_p + j] *
// v[j][d].
void attn_values(const half* v, int head_dim, const float* p, std::int64_t ld_p, int n_q, int n_kv,
                 float* out);

// Dot products, on the selected SIMD path.
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
