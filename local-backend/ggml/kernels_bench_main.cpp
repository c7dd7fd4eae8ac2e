// infergate-kernels-bench: throughput of matmul per weight type and SIMD path.
//
//   infergate-kernels-bench [--types Q8_0,Q4_0,...] [--simd scalar,avx2,avx512] [--threads N]
//                           [--batches 1,128] [--rows 896] [--cols 4864] [--ms 300]
//   infergate-kernels-bench --model [--types ...] [--threads N]   (Qwen2.5-0.5B shapes)
//
// Matrix mode: for batch 1 the weights are cycled through copies totalling ~256 MiB, so the
// figure is memory-bound as in decode (GB/s of weights streamed); larger batches reuse one
// matrix (compute-bound as in prefill; GFLOP/s). Model mode times the matmuls of a whole
// Qwen2.5-0.5B-shaped forward pass (24 layers + output head): decode tokens/s at batch 1 and
// prefill tokens/s at batch 128 (head on the last token only), the matmul part of the figures
// llama.cpp reaches end to end.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ggml/matmul.hpp"
#include "ggml/quants.hpp"
#include "ggml/thread_pool.hpp"

namespace ggml = infergate::engine::ggml;

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of the whole process (all threads). The machine this runs on is shared, so besides
// wall time the benchmark reports "cpu": CPU seconds / threads, what a call would take with the
// cores to itself (spinning and dispatch included, time stolen by other processes excluded).
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

bool parse_type(std::string_view name, ggml::Type* out) {
  for (ggml::Type t : {ggml::Type::F32, ggml::Type::F16, ggml::Type::BF16, ggml::Type::Q8_0,
                       ggml::Type::Q4_0, ggml::Type::Q5_0, ggml::Type::Q4_K, ggml::Type::Q6_K}) {
    if (name == ggml::traits(static_cast<std::uint32_t>(t)).name) {
      *out = t;
      return true;
    }
  }
  return false;
}

const char* type_name(ggml::Type t) { return ggml::traits(static_cast<std::uint32_t>(t)).name; }

// A quantized matrix of pseudo-random weights (quantized once, then copied).
std::vector<std::uint8_t> make_matrix(ggml::Type t, std::int64_t rows, std::int64_t cols,
                                      std::uint64_t seed) {
  const std::size_t rb = ggml::row_bytes(t, cols);
  std::vector<std::uint8_t> out(rb * static_cast<std::size_t>(rows));
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> row(static_cast<std::size_t>(cols));
  // Quantizing every row of a big matrix with the reference code is slow: quantize 64 distinct
  // rows and repeat them (the kernels do not care what the values are).
  const std::int64_t distinct = std::min<std::int64_t>(rows, 64);
  for (std::int64_t r = 0; r < rows; ++r) {
    if (r < distinct) {
      for (auto& v : row) v = dist(rng);
      ggml::quantize_row(t, row.data(), out.data() + r * rb, cols);
    } else {
      std::memcpy(out.data() + r * rb, out.data() + (r % distinct) * rb, rb);
    }
  }
  return out;
}

struct Args {
  std::vector<ggml::Type> types{ggml::Type::F32,  ggml::Type::F16,  ggml::Type::BF16,
                                ggml::Type::Q8_0, ggml::Type::Q4_0, ggml::Type::Q5_0,
                                ggml::Type::Q4_K, ggml::Type::Q6_K};
  std::vector<ggml::SimdLevel> simd;
  std::vector<std::int64_t> batches{1, 128};
  int threads = 2;
  std::int64_t rows = 896;
  std::int64_t cols = 4864;
  int ms = 300;
  bool model = false;
};

void bench_matrix(const Args& args, ggml::ThreadPool& pool) {
  std::printf("%-5s %-7s %6s %6s %6s %10s %10s %10s %9s %9s\n", "type", "simd", "rows", "cols",
              "batch", "wall us", "cpu us", "best us", "GFLOP/s", "GB/s");
  for (ggml::Type t : args.types) {
    const std::size_t bytes = ggml::row_bytes(t, args.cols) * static_cast<std::size_t>(args.rows);
    if (bytes == 0) {
      std::printf("%-5s: cols %lld is not a whole number of blocks, skipped\n", type_name(t),
                  static_cast<long long>(args.cols));
      continue;
    }
    const std::vector<std::uint8_t> base = make_matrix(t, args.rows, args.cols, 7);
    for (std::int64_t batch : args.batches) {
      const std::size_t copies =
          batch == 1 ? std::max<std::size_t>(1, (std::size_t{256} << 20) / bytes) : 1;
      std::vector<std::uint8_t> weights(bytes * copies);
      for (std::size_t c = 0; c < copies; ++c)
        std::memcpy(weights.data() + c * bytes, base.data(), bytes);
      std::vector<float> x(static_cast<std::size_t>(batch * args.cols));
      std::mt19937 rng(3);
      std::normal_distribution<float> dist(0.0f, 1.0f);
      for (auto& v : x) v = dist(rng);
      std::vector<float> y(static_cast<std::size_t>(batch * args.rows));
      for (ggml::SimdLevel level : args.simd) {
        if (!ggml::set_simd_level(level)) continue;
        // Warm up, then time for about args.ms milliseconds.
        std::size_t copy = 0;
        const auto call = [&] {
          const ggml::WeightView w{t, weights.data() + (copy++ % copies) * bytes, args.rows,
                                   args.cols};
          ggml::matmul(w, x.data(), batch, y.data(), pool);
        };
        for (std::size_t i = 0; i < std::min<std::size_t>(copies, 8); ++i) call();
        std::int64_t calls = 0;
        const double cpu0 = process_cpu_seconds();
        const auto start = Clock::now();
        const auto budget = std::chrono::milliseconds(args.ms);
        double best = 1e30;  // the fastest single call: the least disturbed by other processes
        while (Clock::now() - start < budget) {
          const auto t0 = Clock::now();
          call();
          best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
          ++calls;
        }
        const double wall = std::chrono::duration<double>(Clock::now() - start).count() / calls;
        const double cpu = (process_cpu_seconds() - cpu0) / calls / pool.size();
        const double flops = 2.0 * static_cast<double>(args.rows * args.cols * batch);
        // Throughput from the fastest call: on a shared machine the closest to what the code
        // does with the cores to itself (cpu us, from CPU time, is the other estimate).
        std::printf("%-5s %-7s %6lld %6lld %6lld %10.1f %10.1f %10.1f %9.1f %9.1f\n", type_name(t),
                    ggml::simd_level_name(level), static_cast<long long>(args.rows),
                    static_cast<long long>(args.cols), static_cast<long long>(batch), wall * 1e6,
                    cpu * 1e6, best * 1e6, flops / best * 1e-9,
                    static_cast<double>(bytes) / best * 1e-9);
      }
    }
  }
}

// Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads / 2 KV heads of 64, FFN 4864, vocab 151936.
struct Shape {
  const char* name;
  std::int64_t rows;
  std::int64_t cols;
};
constexpr Shape kLayer[] = {{"q", 896, 896},    {"k", 128, 896},     {"v", 128, 896},
                            {"o", 896, 896},    {"gate", 4864, 896}, {"up", 4864, 896},
                            {"down", 896, 4864}};
constexpr int kLayers = 24;
constexpr Shape kHead{"output", 151936, 896};

// The type llama.cpp gives a tensor of a file of type t: K-quants need rows of 256.
ggml::Type effective(ggml::Type t, std::int64_t cols) {
  if (cols % 256 == 0) return t;
  if (t == ggml::Type::Q4_K) return ggml::Type::Q5_0;
  if (t == ggml::Type::Q6_K) return ggml::Type::Q8_0;
  return t;
}

void bench_model(const Args& args, ggml::ThreadPool& pool) {
  std::printf(
      "Qwen2.5-0.5B-shaped matmuls, %d threads (llama.cpp end to end on this machine: "
      "Q8_0 222/52, Q4_0 434/84, F16 320/40 tok/s prefill/decode)\n",
      pool.size());
  std::printf("%-5s %-11s %8s %14s %14s %10s %15s %15s\n", "type", "simd", "MiB", "decode tok/s",
              "decode GB/s", "x8 tok/s", "prefill tok/s", "(wall: dec/pre)");
  for (ggml::Type t : args.types) {
    struct Mat {
      ggml::WeightView view;
      std::vector<std::uint8_t> data;
    };
    std::vector<Mat> mats;
    std::size_t total = 0;
    for (int l = 0; l < kLayers; ++l) {
      for (const Shape& s : kLayer) {
        const ggml::Type et = effective(t, s.cols);
        Mat m;
        m.data = make_matrix(et, s.rows, s.cols, 100 + l);
        m.view = {et, nullptr, s.rows, s.cols};
        total += m.data.size();
        mats.push_back(std::move(m));
      }
    }
    Mat head;
    {
      // llama.cpp's output projection: Q6_K for quantized files other than Q8_0, and rows of 896
      // fall back to Q8_0.
      const ggml::Type et = (t != ggml::Type::F32 && t != ggml::Type::F16 && t != ggml::Type::BF16)
                                ? ggml::Type::Q8_0
                                : effective(t, kHead.cols);
      head.data = make_matrix(et, kHead.rows, kHead.cols, 99);
      head.view = {et, nullptr, kHead.rows, kHead.cols};
      total += head.data.size();
    }
    for (auto& m : mats) m.view.data = m.data.data();
    head.view.data = head.data.data();

    constexpr std::int64_t kPrefill = 128;
    std::vector<float> x(static_cast<std::size_t>(kPrefill * 4864));
    std::mt19937 rng(5);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (auto& v : x) v = dist(rng);
    std::vector<float> y(static_cast<std::size_t>(std::max(kPrefill * 4864, 8 * kHead.rows)));

    // The file layout on every path asked for, then the packed layout (PackedWeights) where the
    // CPU has one.
    std::vector<std::pair<ggml::SimdLevel, bool>> runs;
    for (ggml::SimdLevel level : args.simd) runs.emplace_back(level, false);
    ggml::PackedWeights packed;
    {
      std::vector<ggml::WeightView> copies;
      for (const Mat& m : mats) copies.push_back(m.view);
      copies.push_back(head.view);
      std::vector<ggml::WeightView*> ptrs;
      for (auto& c : copies) ptrs.push_back(&c);
      packed = ggml::PackedWeights::pack(ptrs);
      if (!packed.empty()) {
        for (std::size_t i = 0; i < mats.size(); ++i) mats[i].view.packed = copies[i].packed;
        head.view.packed = copies.back().packed;
        runs.emplace_back(ggml::detected_simd_level(), true);
      }
    }
    std::vector<const void*> saved;
    for (const Mat& m : mats) saved.push_back(m.view.packed);
    saved.push_back(head.view.packed);

    for (const auto& [level, use_packed] : runs) {
      if (!ggml::set_simd_level(level)) continue;
      for (std::size_t i = 0; i < mats.size(); ++i) {
        mats[i].view.packed = use_packed ? saved[i] : nullptr;
      }
      head.view.packed = use_packed ? saved.back() : nullptr;
      const auto token_pass = [&](std::int64_t batch) {
        for (const Mat& m : mats) ggml::matmul(m.view, x.data(), batch, y.data(), pool);
        ggml::matmul(head.view, x.data(), 1, y.data(), pool);
      };
      token_pass(1);
      int decode_n = 0;
      double cpu0 = process_cpu_seconds();
      auto start = Clock::now();
      while (Clock::now() - start < std::chrono::milliseconds(args.ms * 3) || decode_n < 3) {
        token_pass(1);
        ++decode_n;
      }
      const double decode_wall =
          std::chrono::duration<double>(Clock::now() - start).count() / decode_n;
      const double decode_s = (process_cpu_seconds() - cpu0) / decode_n / pool.size();
      // Eight sequences decoding together: every weight read once for the eight tokens, the
      // output head too (each sequence needs its logits).
      const auto batch8_pass = [&] {
        for (const Mat& m : mats) ggml::matmul(m.view, x.data(), 8, y.data(), pool);
        ggml::matmul(head.view, x.data(), 8, y.data(), pool);
      };
      int b8_n = 0;
      cpu0 = process_cpu_seconds();
      start = Clock::now();
      while (Clock::now() - start < std::chrono::milliseconds(args.ms * 3) || b8_n < 3) {
        batch8_pass();
        ++b8_n;
      }
      const double b8_s = (process_cpu_seconds() - cpu0) / b8_n / pool.size();
      int prefill_n = 0;
      cpu0 = process_cpu_seconds();
      start = Clock::now();
      while (Clock::now() - start < std::chrono::milliseconds(args.ms * 3) || prefill_n < 1) {
        token_pass(kPrefill);
        ++prefill_n;
      }
      const double prefill_wall =
          std::chrono::duration<double>(Clock::now() - start).count() / prefill_n;
      const double prefill_s = (process_cpu_seconds() - cpu0) / prefill_n / pool.size();
      const std::string label =
          std::string(ggml::simd_level_name(level)) + (use_packed ? "+pack" : "");
      std::printf("%-5s %-11s %8.1f %14.1f %14.1f %10.1f %15.1f %7.1f/%-7.1f\n", type_name(t),
                  label.c_str(), static_cast<double>(total) / (1 << 20), 1.0 / decode_s,
                  static_cast<double>(total) / decode_s * 1e-9, 8.0 / b8_s, kPrefill / prefill_s,
                  1.0 / decode_wall, kPrefill / prefill_wall);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a(argv[i]);
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--types") {
      args.types.clear();
      for (const auto& n : split(value())) {
        ggml::Type t;
        if (!parse_type(n, &t)) {
          std::fprintf(stderr, "unknown type %s\n", n.c_str());
          return 2;
        }
        args.types.push_back(t);
      }
    } else if (a == "--simd") {
      for (const auto& n : split(value())) {
        if (n == "scalar")
          args.simd.push_back(ggml::SimdLevel::scalar);
        else if (n == "avx2")
          args.simd.push_back(ggml::SimdLevel::avx2);
        else if (n == "avx512")
          args.simd.push_back(ggml::SimdLevel::avx512);
        else {
          std::fprintf(stderr, "unknown SIMD path %s\n", n.c_str());
          return 2;
        }
      }
    } else if (a == "--batches") {
      args.batches.clear();
      for (const auto& n : split(value()))
        args.batches.push_back(std::clamp(std::atoll(n.c_str()), 1LL, 4096LL));
    } else if (a == "--threads") {
      args.threads = std::clamp(std::atoi(std::string(value()).c_str()), 1, 256);
    } else if (a == "--rows") {
      args.rows = std::clamp(std::atoll(std::string(value()).c_str()), 1LL, 1LL << 20);
    } else if (a == "--cols") {
      args.cols = std::clamp(std::atoll(std::string(value()).c_str()), 1LL, 1LL << 20);
    } else if (a == "--ms") {
      args.ms = std::clamp(std::atoi(std::string(value()).c_str()), 10, 10000);
    } else if (a == "--model") {
      args.model = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--types T,...] [--simd scalar,avx2,avx512] [--threads N] "
                   "[--batches 1,128] [--rows R] [--cols C] [--ms MS] [--model]\n",
                   argv[0]);
      return 2;
    }
  }
  // Without --simd: the path in use (INFERGATE_SIMD may have lowered it) and every one below.
  if (args.simd.empty()) {
    for (int l = static_cast<int>(ggml::simd_level()); l >= 0; --l) {
      args.simd.push_back(static_cast<ggml::SimdLevel>(l));
    }
  }
  std::printf("SIMD detected: %s, in use: %s\n", ggml::simd_level_name(ggml::detected_simd_level()),
              ggml::simd_level_name(ggml::simd_level()));
  ggml::ThreadPool pool(args.threads);
  if (args.model) {
    bench_model(args, pool);
  } else {
    bench_matrix(args, pool);
  }
  return 0;
}
