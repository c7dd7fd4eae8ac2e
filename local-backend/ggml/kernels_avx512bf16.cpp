// BF16 weights with AVX512-BF16 (vdpbf16ps): activations rounded to BF16 once per call, then 32
// products per instruction. Compiled with -mavx512bf16; used only when the CPU has it.
#include "ggml/kernels.hpp"

#if defined(INFERGATE_HAVE_X86_KERNELS)

// GCC 12's intrinsic headers make undefined vectors by self-initialisation, which its own
// -Wuninitialized then reports wherever they are inlined (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <bit>

#include "ggml/tile_driver.hpp"

namespace infergate::engine::ggml::detail {
namespace {

std::size_t act_row_bytes(std::int64_t n) {
  return static_cast<std::size_t>((n + 31) / 32 * 32) * sizeof(bf16);
}

// The row rounded to BF16 (nearest even), zero-padded to a multiple of 32.
void prepare_act(const float* x, std::int64_t n, void* dst) {
  auto* out = static_cast<std::uint8_t*>(dst);
  for (std::int64_t i = 0; i < n; i += 32) {
    const std::int64_t left = n - i;
    const __mmask16 m0 = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
    const __mmask16 m1 = left >= 32   ? __mmask16(0xFFFF)
                         : left <= 16 ? __mmask16(0)
                                      : static_cast<__mmask16>((1u << (left - 16)) - 1);
    const __m512 lo = _mm512_maskz_loadu_ps(m0, x + i);
    const __m512 hi = _mm512_maskz_loadu_ps(m1, x + i + 16);
    const __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
    _mm512_storeu_si512(out + 2 * i, std::bit_cast<__m512i>(v));
  }
}

template <int R, int C>
struct Bf16Tile {
  static void run(const TileCtx& ctx, std::int64_t r0, std::int64_t c0) {
    const std::uint8_t* w[R];
    const std::uint8_t* a[C];
    INFERGATE_UNROLL
    for (int r = 0; r < R; ++r) w[r] = ctx.w + (r0 + r) * ctx.w_stride;
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) a[c] = ctx.a + (c0 + c) * ctx.a_stride;
    __m512 acc[R][C];
    INFERGATE_UNROLL
    for (int r = 0; r < R; ++r) {
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
    }
    for (std::int64_t i = ctx.k0; i < ctx.k; i += 32) {
      const std::int64_t left = ctx.k - i;
      // The weight row is not padded: mask its last load. The activations are.
      const __mmask32 m = left >= 32 ? __mmask32(0xFFFFFFFF)
                                     : static_cast<__mmask32>((std::uint64_t{1} << left) - 1);
      __m512i wv[R];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        // The same place in the next tile's rows: short rows defeat the hardware prefetchers.
        _mm_prefetch(reinterpret_cast<const char*>(w[r] + 2 * i + R * ctx.w_stride), _MM_HINT_T0);
        wv[r] = _mm512_maskz_loadu_epi16(m, w[r] + 2 * i);
      }
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        const __m512i av = _mm512_loadu_si512(a[c] + 2 * i);
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          acc[r][c] = _mm512_dpbf16_ps(acc[r][c], std::bit_cast<__m512bh>(wv[r]),
                                       std::bit_cast<__m512bh>(av));
        }
      }
    }
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        float& out = ctx.y[(c0 + c) * ctx.y_stride + r0 + r];
        out = (ctx.accumulate ? out : 0.0f) + _mm512_reduce_add_ps(acc[r][c]);
      }
    }
  }
};

void gemm(const void* w, std::size_t w_stride, std::int64_t nr, const void* a, std::size_t a_stride,
          std::int64_t nc, std::int64_t k, float* y, std::int64_t y_stride) {
  const TileCtx ctx{static_cast<const std::uint8_t*>(w),
                    w_stride,
                    static_cast<const std::uint8_t*>(a),
                    a_stride,
                    k,
                    y,
                    y_stride};
  // 1024 BF16 elements of 4 weight and 4 activation rows: 16 KiB, inside L1.
  if (nc <= 4) {
    drive<Bf16Tile, 4, 4>(ctx, nr, nc);
  } else {
    drive_k_blocked<Bf16Tile, 4, 4>(ctx, nr, nc, 1024);
  }
}

}  // namespace

const Bf16Kernels* avx512bf16_kernels() {
  static const Bf16Kernels k{act_row_bytes, prepare_act, gemm};
  return &k;
}

}  // namespace infergate::engine::ggml::detail

#else

namespace infergate::engine::ggml::detail {
const Bf16Kernels* avx512bf16_kernels() { return nullptr; }
}  // namespace infergate::engine::ggml::detail

#endif
