// Internal: register-tile dispatch shared by the SIMD paths. A path writes one micro-kernel
// template Kernel<R, C>::run(ctx, r0, c0) computing an R x C block of outputs (R weight rows,
// C activation rows) over the whole dot length; drive() covers an nr x nc output with the largest
// tiles and smaller ones at the edges, weight rows outermost so a row tile stays in L1 while it
// meets every activation row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace infergate::engine::ggml::detail {

struct TileCtx {
  const std::uint8_t* w;  // first weight row
  std::size_t w_stride;   // bytes between weight rows
  const std::uint8_t* a;  // first activation row (prepared)
  std::size_t a_stride;   // bytes between activation rows
  std::int64_t k;         // elements per row
  float* y;               // y[c * y_stride + r]
  std::int64_t y_stride;
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
    ((fns_[I / MC][I % MC] = &Kernel<static_cast<int>(I / MC) + 1,
                                     static_cast<int>(I % MC) + 1>::run),
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

}  // namespace infergate::engine::ggml::detail
