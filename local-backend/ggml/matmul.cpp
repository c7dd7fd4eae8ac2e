#include "ggml/matmul.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

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

}  // namespace

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
