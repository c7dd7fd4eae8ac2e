#include "ggml/matmul.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#if defined(__unix__)
#include <sys/mman.h>
#endif

#include "ggml/kernels.hpp"
#include "ggml/quants.hpp"

namespace infergate::engine::ggml {
namespace detail {

bool cpu_supports(Simd s) {
#if defined(INFERGATE_HAVE_X86_KERNELS)
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
  }();
  static const bool avx512 = [] {
    __builtin_cpu_init();
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
  }();
  switch (s) {
    case Simd::scalar:
      return true;
    case Simd::avx2:
      return avx2;
    case Simd::avx512:
      return avx512;
  }
  return false;
#else
  return s == Simd::scalar;
#endif
}

bool cpu_supports_avx512_bf16() {
#if defined(INFERGATE_HAVE_X86_KERNELS)
  static const bool bf16 = [] {
    __builtin_cpu_init();
    return cpu_supports(Simd::avx512) && __builtin_cpu_supports("avx512bf16");
  }();
  return bf16;
#else
  return false;
#endif
}

}  // namespace detail

namespace {

using detail::Kernels;
using detail::Simd;

const Kernels* table_for(SimdLevel level) {
  switch (level) {
    case SimdLevel::scalar:
      return &detail::scalar_kernels();
    case SimdLevel::avx2:
      return detail::cpu_supports(Simd::avx2) ? detail::avx2_kernels() : nullptr;
    case SimdLevel::avx512:
      return detail::cpu_supports(Simd::avx512) ? detail::avx512_kernels() : nullptr;
  }
  return nullptr;
}

SimdLevel detect() {
  for (SimdLevel l : {SimdLevel::avx512, SimdLevel::avx2}) {
    if (table_for(l) != nullptr) return l;
  }
  return SimdLevel::scalar;
}

struct Dispatch {
  SimdLevel detected;
  std::atomic<const Kernels*> active;

  Dispatch() : detected(detect()) {
    SimdLevel level = detected;
    if (const char* env = std::getenv("INFERGATE_SIMD")) {
      const std::string_view v(env);
      SimdLevel want = level;
      if (v == "scalar") want = SimdLevel::scalar;
      if (v == "avx2") want = SimdLevel::avx2;
      if (v == "avx512") want = SimdLevel::avx512;
      // Only ever lowers: asking for more than the CPU has keeps what it has.
      if (static_cast<int>(want) < static_cast<int>(level)) level = want;
    }
    active.store(table_for(level));
  }
};

Dispatch& dispatch() {
  static Dispatch d;
  return d;
}

const Kernels& kernels() { return *dispatch().active.load(std::memory_order_relaxed); }

// Per calling thread, reused across calls: a decode step makes hundreds of matmul calls.
class Scratch {
 public:
  std::uint8_t* get(std::size_t bytes) {
    if (bytes > capacity_) {
      capacity_ = std::max(bytes, capacity_ + capacity_ / 2);
      storage_.reset(new std::uint8_t[capacity_ + 63]);
    }
    auto p = reinterpret_cast<std::uintptr_t>(storage_.get());
    return reinterpret_cast<std::uint8_t*>((p + 63) & ~std::uintptr_t{63});
  }

 private:
  std::unique_ptr<std::uint8_t[]> storage_;
  std::size_t capacity_ = 0;
};

thread_local Scratch t_scratch;

constexpr std::size_t round_up(std::size_t v, std::size_t m) { return (v + m - 1) / m * m; }

// Below this many multiply-adds a call runs on the calling thread alone: waking the pool would
// cost more than it saves.
constexpr std::int64_t kSerialWork = 1 << 16;
// Cache budgets for blocking: a task's weight rows and a panel of activation rows should both
// stay in L2 while they are multiplied together.
constexpr std::size_t kWeightChunkBytes = 256 * 1024;
constexpr std::size_t kActPanelBytes = 256 * 1024;
constexpr std::size_t kWidePanelBytes = 512 * 1024;
// Tasks per thread: enough to even out threads slowed by other work on shared cores.
constexpr std::int64_t kTasksPerThread = 4;

// Rows split into contiguous chunks for the tasks, in multiples of every path's row tile.
std::int64_t row_chunk(std::int64_t rows, std::int64_t batch, std::size_t w_stride, int threads,
                       bool serial) {
  constexpr std::int64_t kRowAlign = 16;
  if (serial) return rows;
  const std::int64_t target_tasks = threads * kTasksPerThread;
  std::int64_t chunk = (rows + target_tasks - 1) / target_tasks;
  if (batch > 1) {
    chunk = std::min<std::int64_t>(
        chunk, std::max<std::int64_t>(1, static_cast<std::int64_t>(kWeightChunkBytes / w_stride)));
  }
  return std::max<std::int64_t>(
      kRowAlign, static_cast<std::int64_t>(round_up(static_cast<std::size_t>(chunk), kRowAlign)));
}

// The wide path: activations in interleaved groups of kWideGroup rows (see Kernels).
void matmul_wide(const Kernels& k, const WeightView& w, const float* x, std::int64_t batch,
                 float* y, ThreadPool& pool, std::size_t group_stride, bool serial) {
  constexpr int group = detail::kWideGroup;
  const std::int64_t rows = w.rows;
  const std::int64_t cols = w.cols;
  const std::size_t w_stride = row_bytes(w.type, cols);
  const std::int64_t groups = (batch + group - 1) / group;
  std::uint8_t* buf = t_scratch.get(group_stride * static_cast<std::size_t>(groups));
  const auto prepare = [&](int g, int) {
    const std::int64_t first = g * std::int64_t{group};
    const int n = static_cast<int>(std::min<std::int64_t>(group, batch - first));
    k.prepare_wide(w.type, x + first * cols, n, cols,
                   buf + static_cast<std::size_t>(g) * group_stride);
  };
  if (serial || groups == 1) {
    for (int g = 0; g < groups; ++g) prepare(g, 0);
  } else {
    pool.parallel_for(static_cast<int>(groups), prepare);
  }
  const std::int64_t chunk = row_chunk(rows, batch, w_stride, pool.size(), serial);
  // Groups per panel: the panel's activations stay in L2 while a task's weight tiles meet them.
  const std::int64_t panel_groups = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(kWidePanelBytes / group_stride), 1, groups);
  const std::int64_t n_tasks = (rows + chunk - 1) / chunk;
  const auto run = [&](int task, int) {
    const std::int64_t r0 = task * chunk;
    const std::int64_t nr = std::min(chunk, rows - r0);
    for (std::int64_t g0 = 0; g0 < groups; g0 += panel_groups) {
      const std::int64_t c0 = g0 * group;
      const std::int64_t nc = std::min(panel_groups * group, batch - c0);
      k.gemm_wide(w.type, static_cast<const std::uint8_t*>(w.data) + r0 * w_stride, w_stride, nr,
                  buf + static_cast<std::size_t>(g0) * group_stride, group_stride, nc, cols,
                  y + c0 * rows + r0, rows);
    }
  };
  if (n_tasks == 1) {
    run(0, 0);
  } else {
    pool.parallel_for(static_cast<int>(n_tasks), run);
  }
}

// The packed path for one or more weights of the same type and width multiplied with the same
// activations: activations prepared once, the tiles of all the weights split into tasks of one
// pool loop (one dispatch instead of one per weight), activation rows in panels as in matmul.
void matmul_packed(const Kernels& k, const MatmulJob* jobs, int n_jobs, const float* x,
                   std::int64_t batch, ThreadPool& pool, std::size_t act_bytes, bool serial) {
  constexpr int kTile = detail::kPackRows;
  const Type type = jobs[0].w->type;
  const std::int64_t cols = jobs[0].w->cols;
  const int threads = pool.size();
  const std::size_t a_stride = round_up(act_bytes, 64);
  std::uint8_t* buf = t_scratch.get(a_stride * static_cast<std::size_t>(batch));
  const auto quantize = [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      k.prepare_packed_act(type, x + b * cols, cols, buf + static_cast<std::size_t>(b) * a_stride);
    }
  };
  const int q_tasks = serial ? 1 : static_cast<int>(std::min<std::int64_t>(batch, threads));
  if (q_tasks <= 1) {
    quantize(0, batch);
  } else {
    pool.parallel_for(
        q_tasks, [&](int t, int) { quantize(batch * t / q_tasks, batch * (t + 1) / q_tasks); });
  }
  const std::size_t tile_bytes =
      detail::packed_block_bytes(type) * static_cast<std::size_t>(cols / QK8_0);
  std::int64_t total_tiles = 0;
  for (int j = 0; j < n_jobs; ++j) total_tiles += jobs[j].w->rows / kTile;
  std::int64_t chunk = total_tiles;  // tiles per task
  if (!serial) {
    chunk = (total_tiles + threads * kTasksPerThread - 1) / (threads * kTasksPerThread);
    if (batch > 1) {
      chunk = std::min<std::int64_t>(
          chunk,
          std::max<std::int64_t>(1, static_cast<std::int64_t>(kWeightChunkBytes / tile_bytes)));
    }
    chunk = std::max<std::int64_t>(chunk, 1);
  }
  // Tasks numbered across the jobs: job j's tasks start at first[j].
  constexpr int kMaxJobs = 8;
  std::int64_t first[kMaxJobs + 1];
  first[0] = 0;
  for (int j = 0; j < n_jobs; ++j) {
    first[j + 1] = first[j] + (jobs[j].w->rows / kTile + chunk - 1) / chunk;
  }
  const std::int64_t panel = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(round_up(kActPanelBytes / a_stride, 8)), 8, 1024);
  const auto run = [&](int task, int) {
    int j = 0;
    while (task >= first[j + 1]) ++j;
    const WeightView& w = *jobs[j].w;
    const std::int64_t tiles = w.rows / kTile;
    const std::int64_t t0 = (task - first[j]) * chunk;
    const std::int64_t nt = std::min(chunk, tiles - t0);
    for (std::int64_t c0 = 0; c0 < batch; c0 += panel) {
      const std::int64_t nc = std::min(panel, batch - c0);
      k.gemm_packed(type, w.packed, t0, nt, buf + static_cast<std::size_t>(c0) * a_stride, a_stride,
                    nc, cols, jobs[j].y + c0 * w.rows + t0 * kTile, w.rows);
    }
  };
  const std::int64_t n_tasks = first[n_jobs];
  if (n_tasks == 1) {
    run(0, 0);
  } else {
    pool.parallel_for(static_cast<int>(n_tasks), run);
  }
}

// The packed layout's activation row bytes when matmul can use w's packed copy; 0 otherwise.
std::size_t packed_path_bytes(const Kernels& k, const WeightView& w) {
  if (w.packed == nullptr || k.gemm_packed == nullptr || w.rows % detail::kPackRows != 0 ||
      !matmul_supported(w)) {
    return 0;
  }
  return k.packed_act_row_bytes(w.type, w.cols);
}

// Writes w in the packed layout of `t` (see detail::packed_block_bytes).
void pack_rows(const WeightView& w, std::uint8_t* dst) {
  constexpr int kTile = detail::kPackRows;
  const std::int64_t nb = w.cols / QK8_0;
  const std::size_t stride = row_bytes(w.type, w.cols);
  const std::size_t bb = detail::packed_block_bytes(w.type);
  const auto* src = static_cast<const std::uint8_t*>(w.data);
  const bool q4 = w.type == Type::Q4_0;
  const std::size_t blk_bytes = q4 ? sizeof(block_q4_0) : sizeof(block_q8_0);
  for (std::int64_t t = 0; t < w.rows / kTile; ++t) {
    for (std::int64_t b = 0; b < nb; ++b) {
      std::uint8_t* out = dst + (static_cast<std::size_t>(t * nb + b)) * bb;
      for (int r = 0; r < kTile; ++r) {
        const std::uint8_t* blk = src + static_cast<std::size_t>(t * kTile + r) * stride +
                                  static_cast<std::size_t>(b) * blk_bytes;
        std::memcpy(out + 2 * r, blk, 2);  // the F16 scale
        const std::uint8_t* qs = blk + 2;
        std::uint8_t* q = out + 2 * kTile + 4 * r;
        const std::uint32_t flip = q4 ? 0u : 0x80808080u;  // Q8_0 quants + 128: unsigned
        for (int v = 0; v < (q4 ? 4 : 8); ++v) {
          std::uint32_t word;
          std::memcpy(&word, qs + 4 * v, 4);
          word ^= flip;
          std::memcpy(q + 64 * v, &word, 4);
        }
      }
    }
  }
}

}  // namespace

bool PackedWeights::packable(const WeightView& w) {
  const Kernels* k = table_for(dispatch().detected);
  return k != nullptr && k->gemm_packed != nullptr && matmul_supported(w) &&
         detail::packed_block_bytes(w.type) != 0 && w.rows % detail::kPackRows == 0 &&
         w.cols % QK8_0 == 0;
}

PackedWeights PackedWeights::pack(const std::vector<WeightView*>& views,
                                  const std::function<void(const void*, std::size_t)>& copied) {
  PackedWeights p;
  std::size_t bytes = 0;
  for (const WeightView* w : views) {
    // Each copy 64-aligned (every copy's size is a multiple of 32).
    if (packable(*w))
      bytes += round_up(row_bytes(w->type, w->cols) * static_cast<std::size_t>(w->rows), 64);
  }
  if (bytes == 0) return p;
#if defined(__unix__)
  // Anonymous memory aligned to 2 MiB so that the kernel can back it with huge pages.
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const std::size_t map_bytes = round_up(bytes, kHuge) + kHuge;
  void* m = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return p;
  auto* base =
      reinterpret_cast<std::uint8_t*>(round_up(reinterpret_cast<std::uintptr_t>(m), kHuge));
#if defined(MADV_HUGEPAGE)
  madvise(base, round_up(bytes, kHuge), MADV_HUGEPAGE);
#endif
  p.map_ = m;
  p.map_bytes_ = map_bytes;
#else
  auto* base = static_cast<std::uint8_t*>(::operator new (bytes, std::align_val_t{64}));
  p.map_ = base;
#endif
  p.data_ = base;
  p.bytes_ = bytes;
  std::size_t off = 0;
  for (WeightView* w : views) {
    if (!packable(*w)) continue;
    // In slices of whole tiles of about 8 MiB, each handed to `copied` when done.
    const std::size_t stride = row_bytes(w->type, w->cols);
    const std::int64_t slice = std::max<std::int64_t>(
        detail::kPackRows, static_cast<std::int64_t>((std::size_t{8} << 20) / stride) /
                               detail::kPackRows * detail::kPackRows);
    for (std::int64_t r0 = 0; r0 < w->rows; r0 += slice) {
      const std::int64_t n = std::min(slice, w->rows - r0);
      const auto* src =
          static_cast<const std::uint8_t*>(w->data) + static_cast<std::size_t>(r0) * stride;
      pack_rows(WeightView{w->type, src, n, w->cols},
                base + off + static_cast<std::size_t>(r0) * stride);
      if (copied) copied(src, static_cast<std::size_t>(n) * stride);
    }
    w->packed = base + off;
    off += round_up(stride * static_cast<std::size_t>(w->rows), 64);
  }
  return p;
}

PackedWeights::~PackedWeights() {
  if (map_ == nullptr) return;
#if defined(__unix__)
  munmap(map_, map_bytes_);
#else
  ::operator delete (map_, std::align_val_t{64});
#endif
}

PackedWeights::PackedWeights(PackedWeights&& o) noexcept
    : map_(std::exchange(o.map_, nullptr)),
      map_bytes_(std::exchange(o.map_bytes_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      bytes_(std::exchange(o.bytes_, 0)) {}

PackedWeights& PackedWeights::operator=(PackedWeights&& o) noexcept {
  if (this != &o) {
    PackedWeights dead(std::move(*this));
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

bool matmul_supported(const WeightView& w) {
  return is_supported(w.type) && w.data != nullptr && w.rows > 0 && w.cols > 0 &&
         row_bytes(w.type, w.cols) != 0;
}

void matmul(const WeightView& w, const float* x, std::int64_t batch, float* y, ThreadPool& pool) {
  if (batch <= 0 || y == nullptr) return;
  if (!matmul_supported(w) || x == nullptr) {
    if (w.rows > 0) std::fill(y, y + batch * w.rows, 0.0f);
    return;
  }
  const Kernels& k = kernels();
  const std::int64_t rows = w.rows;
  const std::int64_t cols = w.cols;
  const std::size_t w_stride = row_bytes(w.type, cols);
  const int threads = pool.size();
  const bool serial = rows * cols * batch < kSerialWork || threads == 1;

  if (const std::size_t bytes = packed_path_bytes(k, w); bytes != 0) {
    const MatmulJob job{&w, y};
    matmul_packed(k, &job, 1, x, batch, pool, bytes, serial);
    return;
  }

  if (batch >= detail::kWideMinRows && k.wide_group_bytes != nullptr) {
    if (const std::size_t bytes = k.wide_group_bytes(w.type, cols); bytes != 0) {
      matmul_wide(k, w, x, batch, y, pool, round_up(bytes, 64), serial);
      return;
    }
  }

  // 1. Activations, once per call.
  const std::uint8_t* act = reinterpret_cast<const std::uint8_t*>(x);
  std::size_t a_stride = static_cast<std::size_t>(cols) * sizeof(float);
  if (const std::size_t prepared = k.act_row_bytes(w.type, cols); prepared != 0) {
    a_stride = round_up(prepared, 64);
    std::uint8_t* buf = t_scratch.get(a_stride * static_cast<std::size_t>(batch));
    const auto quantize = [&](std::int64_t b0, std::int64_t b1) {
      for (std::int64_t b = b0; b < b1; ++b) {
        k.prepare_act(w.type, x + b * cols, cols, buf + static_cast<std::size_t>(b) * a_stride);
      }
    };
    const int q_tasks = serial ? 1 : static_cast<int>(std::min<std::int64_t>(batch, threads));
    if (q_tasks <= 1) {
      quantize(0, batch);
    } else {
      pool.parallel_for(
          q_tasks, [&](int t, int) { quantize(batch * t / q_tasks, batch * (t + 1) / q_tasks); });
    }
    act = buf;
  }

  // 2. Rows split into contiguous chunks (one task each); inside a task, activation rows in
  // panels, so the chunk's weights come from memory once and from cache for later panels.
  const std::int64_t chunk = row_chunk(rows, batch, w_stride, threads, serial);
  const std::int64_t panel = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(round_up(kActPanelBytes / a_stride, 12)), 12, 1024);
  const std::int64_t n_tasks = (rows + chunk - 1) / chunk;
  const auto run = [&](int task, int) {
    const std::int64_t r0 = task * chunk;
    const std::int64_t nr = std::min(chunk, rows - r0);
    for (std::int64_t c0 = 0; c0 < batch; c0 += panel) {
      const std::int64_t nc = std::min(panel, batch - c0);
      k.gemm(w.type, static_cast<const std::uint8_t*>(w.data) + r0 * w_stride, w_stride, nr,
             act + static_cast<std::size_t>(c0) * a_stride, a_stride, nc, cols, y + c0 * rows + r0,
             rows);
    }
  };
  if (n_tasks == 1) {
    run(0, 0);
  } else {
    pool.parallel_for(static_cast<int>(n_tasks), run);
  }
}

void get_row(const WeightView& w, std::int64_t r, float* out) {
  if (w.packed == nullptr) {
    dequantize_row(w.type, static_cast<const std::uint8_t*>(w.data) + r * row_bytes(w.type, w.cols),
                   out, w.cols);
    return;
  }
  // Rebuild the file's blocks from the packed layout (detail::packed_block_bytes), then
  // dequantize them as the file's row would be: the same values bit for bit.
  constexpr int kTile = detail::kPackRows;
  const std::int64_t nb = w.cols / QK8_0;
  const std::int64_t lane = r % kTile;
  const bool q4 = w.type == Type::Q4_0;
  const std::size_t bb = detail::packed_block_bytes(w.type);
  const auto* tile =
      static_cast<const std::uint8_t*>(w.packed) + static_cast<std::size_t>(r / kTile * nb) * bb;
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::uint8_t* blk = tile + static_cast<std::size_t>(b) * bb;
    const std::uint8_t* q = blk + 2 * kTile + 4 * lane;
    if (q4) {
      block_q4_0 x;
      std::memcpy(&x.d, blk + 2 * lane, 2);
      for (int v = 0; v < 4; ++v) std::memcpy(x.qs + 4 * v, q + 64 * v, 4);
      dequantize_row(Type::Q4_0, &x, out + b * QK8_0, QK8_0);
    } else {
      block_q8_0 x;
      std::memcpy(&x.d, blk + 2 * lane, 2);
      for (int v = 0; v < 8; ++v) {
        std::uint32_t word;
        std::memcpy(&word, q + 64 * v, 4);
        word ^= 0x80808080u;
        std::memcpy(x.qs + 4 * v, &word, 4);
      }
      dequantize_row(Type::Q8_0, &x, out + b * QK8_0, QK8_0);
    }
  }
}

void matmul_many(const MatmulJob* jobs, int n_jobs, const float* x, std::int64_t batch,
                 ThreadPool& pool) {
  if (n_jobs <= 0 || batch <= 0) return;
  const Kernels& k = kernels();
  // One loop when every weight has a usable packed copy of the same type and width.
  bool fused = n_jobs <= 8 && x != nullptr;
  std::size_t bytes = 0;
  std::int64_t work = 0;
  for (int j = 0; fused && j < n_jobs; ++j) {
    const WeightView& w = *jobs[j].w;
    fused = jobs[j].y != nullptr && w.type == jobs[0].w->type && w.cols == jobs[0].w->cols &&
            (bytes = packed_path_bytes(k, w)) != 0;
    work += w.rows * w.cols * batch;
  }
  if (!fused) {
    for (int j = 0; j < n_jobs; ++j) matmul(*jobs[j].w, x, batch, jobs[j].y, pool);
    return;
  }
  const bool serial = work < kSerialWork || pool.size() == 1;
  matmul_packed(k, jobs, n_jobs, x, batch, pool, bytes, serial);
}

void attn_scores(const half* kt, std::int64_t ld_k, int head_dim, const float* q, int n_q, int n_kv,
                 float scale, float* scores, std::int64_t ld_s) {
  if (n_q <= 0 || n_kv <= 0 || head_dim <= 0) return;
  kernels().attn_scores(kt, ld_k, head_dim, q, n_q, n_kv, scale, scores, ld_s);
}

void attn_values(const half* v, int head_dim, const float* p, std::int64_t ld_p, int n_q, int n_kv,
                 float* out) {
  if (n_q <= 0 || head_dim <= 0) return;
  if (n_kv <= 0) {
    std::fill(out, out + static_cast<std::ptrdiff_t>(n_q) * head_dim, 0.0f);
    return;
  }
  kernels().attn_values(v, head_dim, p, ld_p, n_q, n_kv, out);
}

float dot_f32(const float* a, const float* b, std::int64_t n) {
  return n > 0 ? kernels().dot_f32(a, b, n) : 0.0f;
}

float dot_f16_f32(const half* a, const float* b, std::int64_t n) {
  return n > 0 ? kernels().dot_f16_f32(a, b, n) : 0.0f;
}

SimdLevel simd_level() {
  return kernels().simd == Simd::avx512 ? SimdLevel::avx512
         : kernels().simd == Simd::avx2 ? SimdLevel::avx2
                                        : SimdLevel::scalar;
}

SimdLevel detected_simd_level() { return dispatch().detected; }

bool set_simd_level(SimdLevel level) {
  const Kernels* t = table_for(level);
  if (t == nullptr) return false;
  dispatch().active.store(t, std::memory_order_relaxed);
  return true;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::scalar:
      return "scalar";
    case SimdLevel::avx2:
      return "avx2";
    case SimdLevel::avx512:
      return "avx512";
  }
  return "unknown";
}

}  // namespace infergate::engine::ggml
