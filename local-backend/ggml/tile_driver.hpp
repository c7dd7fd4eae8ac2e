// Internal: register-tile dispatch shared by the SIMD paths. A path writes one micro-kernel
// template Kernel<R, C>::run(ctx, r0, c0) computing an R x C block of outputs (R weight rows,
// C activation rows) over the whole dot length; drive() covers an nr x nc output with the largest
// tiles and smaller ones at the edges, weight rows outermost so a row tile stays in L1 while it
// meets every activation row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

// Fully unrolls the small loops over a tile's rows and columns. Without it GCC keeps a register
// tile's accumulators in a stack array as well and stores them on every iteration, halving the
// speed of the micro-kernels.
#if defined(__clang__)
#define INFERGATE_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define INFERGATE_UNROLL _Pragma("GCC unroll 16")
#else
#define INFERGATE_UNROLL
#endif

namespace infergate::engine::ggml::detail {

struct TileCtx {
  const std::uint8_t* w;  // first weight row
  std::size_t w_stride;   // bytes between weight rows
  const std::uint8_t* a;  // first activation row (prepared)
  std::size_t a_stride;   // bytes between activation rows
  std::int64_t k;         // elements per row (the kernel's range ends here)
  float* y;               // y[c * y_stride + r]
  std::int64_t y_stride;
  std::int64_t k0 = 0;      // first element (K-blocked kernels only)
  bool accumulate = false;  // add to y instead of storing (K-blocked kernels only)
};

using TileFn = void (*)(const TileCtx& ctx, std::int64_t r0, std::int64_t c0);

template <template <int, int> class Kernel, int MR, int MC>
class TileTable {
 public:
  constexpr TileTable() { fill(std::make_index_sequence<MR * MC>{}); }
  TileFn at(int r, int c) const { return fns_[r - 1][c - 1]; }

 private:
  template <std::size_t... I>
  constexpr void fill(std::index_sequence<I...>) {
    ((fns_[I / MC][I % MC] =
          &Kernel<static_cast<int>(I / MC) + 1, static_cast<int>(I % MC) + 1>::run),
     ...);
  }
  TileFn fns_[MR][MC] = {};
};

template <template <int, int> class Kernel, int MR, int MC>
void drive(const TileCtx& ctx, std::int64_t nr, std::int64_t nc) {
  static constexpr TileTable<Kernel, MR, MC> table;
  for (std::int64_t r0 = 0; r0 < nr; r0 += MR) {
    const int rr = static_cast<int>(nr - r0 < MR ? nr - r0 : MR);
    for (std::int64_t c0 = 0; c0 < nc; c0 += MC) {
      const int cc = static_cast<int>(nc - c0 < MC ? nc - c0 : MC);
      table.at(rr, cc)(ctx, r0, c0);
    }
  }
}

// For kernels whose rows are too long for L1 (F32/F16 activations are 4 bytes an element): the
// dot length is cut into chunks of kc and each output is accumulated chunk by chunk, activation
// tiles outermost so one stays in L1 while it meets every weight row tile. The chunking depends
// only on k, so results do not depend on how rows are split across threads.
template <template <int, int> class Kernel, int MR, int MC>
void drive_k_blocked(const TileCtx& ctx, std::int64_t nr, std::int64_t nc, std::int64_t kc) {
  static constexpr TileTable<Kernel, MR, MC> table;
  for (std::int64_t k0 = 0; k0 < ctx.k; k0 += kc) {
    TileCtx part = ctx;
    part.k0 = k0;
    part.k = k0 + kc < ctx.k ? k0 + kc : ctx.k;
    part.accumulate = k0 > 0;
    for (std::int64_t c0 = 0; c0 < nc; c0 += MC) {
      const int cc = static_cast<int>(nc - c0 < MC ? nc - c0 : MC);
      for (std::int64_t r0 = 0; r0 < nr; r0 += MR) {
        const int rr = static_cast<int>(nr - r0 < MR ? nr - r0 : MR);
        table.at(rr, cc)(part, r0, c0);
      }
    }
  }
}

}  // namespace infergate::engine::ggml::detail
