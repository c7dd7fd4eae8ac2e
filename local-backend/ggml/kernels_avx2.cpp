// AVX2 + FMA + F16C path (compiled with -mavx2 -mfma -mf16c; run only when the CPU has them).
// Quantized dots follow ggml's AVX2 scheme: the weight block is unpacked to signed bytes, the
// sign trick makes maddubs (unsigned x signed) usable, and each block's integer dot is scaled
// and accumulated in F32.
#include "ggml/kernels.hpp"

#if defined(INFERGATE_HAVE_X86_KERNELS)

// GCC 12's intrinsic headers make undefined vectors by self-initialisation, which its own
// -Wuninitialized then reports wherever they are inlined (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ggml/quants.hpp"
#include "ggml/tile_driver.hpp"

namespace infergate::engine::ggml::detail {
namespace {

struct ActQ8 {
  float d;
  std::int8_t qs[QK8_0];
};

inline float hsum(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

inline float load_f16(const void* p) {
  std::uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

// 32 bits -> 32 bytes, 0xFF where the bit is set (ggml's bytes_from_bits_32).
inline __m256i bytes_from_bits_32(const std::uint8_t* x) {
  std::uint32_t x32;
  std::memcpy(&x32, x, sizeof x32);
  const __m256i shuf_mask = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                              0x0101010101010101, 0x0000000000000000);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(x32)), shuf_mask);
  const __m256i bit_mask = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  bytes = _mm256_or_si256(bytes, bit_mask);
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15) then high (16..31).
inline __m256i bytes_from_nibbles_32(const std::uint8_t* p) {
  const __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i bytes = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);
  return _mm256_and_si256(_mm256_set1_epi8(0xF), bytes);
}

// Signed bytes x, y -> 8 int32 sums of products of 4 neighbours.
inline __m256i mul_sum_i8(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// ---- activations --------------------------------------------------------------------------

void quantize_act_q8(const float* x, std::int64_t n, ActQ8* out) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  for (std::int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    INFERGATE_UNROLL
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(x + 8 * j);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[j]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float max_scalar = _mm_cvtss_f32(m);
    const float d = max_scalar / 127.0f;
    out[b].d = d;
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 127.0f / max_scalar : 0.0f);
    __m256i q[4];
    INFERGATE_UNROLL
    for (int j = 0; j < 4; ++j) {
      // Clamp so nan/inf inputs stay in range (cvtps gives INT_MIN for them otherwise).
      __m256 s = _mm256_round_ps(_mm256_mul_ps(v[j], id), _MM_FROUND_TO_NEAREST_INT);
      s = _mm256_min_ps(_mm256_max_ps(s, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
      q[j] = _mm256_cvtps_epi32(s);
    }
    // int32 -> int8 with the lane shuffles packs introduce undone by the final permute.
    __m256i p0 = _mm256_packs_epi32(q[0], q[1]);
    __m256i p1 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p0, p1);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].qs), p);
  }
}

std::size_t act_row_bytes(Type t, std::int64_t n) {
  switch (vec_dot_type(t)) {
    case Type::Q8_0:
      return static_cast<std::size_t>(n / QK8_0) * sizeof(ActQ8);
    case Type::Q8_K:
      return row_bytes(Type::Q8_K, n);
    default:
      return 0;
  }
}

void prepare_act(Type t, const float* x, std::int64_t n, void* dst) {
  switch (vec_dot_type(t)) {
    case Type::Q8_0:
      quantize_act_q8(x, n, static_cast<ActQ8*>(dst));
      return;
    case Type::Q8_K:
      quantize_row(Type::Q8_K, x, dst, n);
      return;
    default:
      return;
  }
}

// ---- Q4_0 / Q5_0 / Q8_0 x Q8 ----------------------------------------------------------------

template <Type T>
struct Q8Family;

template <>
struct Q8Family<Type::Q4_0> {
  static constexpr std::size_t kBlock = sizeof(block_q4_0);
  static __m256i unpack(const std::uint8_t* p) {
    return _mm256_sub_epi8(bytes_from_nibbles_32(p + 2), _mm256_set1_epi8(8));
  }
};

template <>
struct Q8Family<Type::Q5_0> {
  static constexpr std::size_t kBlock = sizeof(block_q5_0);
  static __m256i unpack(const std::uint8_t* p) {
    const __m256i q = bytes_from_nibbles_32(p + 6);
    // Where the fifth bit is clear, setting the high nibble makes the byte q - 16.
    const __m256i hi = _mm256_andnot_si256(bytes_from_bits_32(p + 2), _mm256_set1_epi8(-16));
    return _mm256_or_si256(q, hi);
  }
};

template <>
struct Q8Family<Type::Q8_0> {
  static constexpr std::size_t kBlock = sizeof(block_q8_0);
  static __m256i unpack(const std::uint8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
  }
};

template <Type T>
struct Q8Tile {
  template <int R, int C>
  struct K {
    static void run(const TileCtx& ctx, std::int64_t r0, std::int64_t c0) {
      using F = Q8Family<T>;
      const std::int64_t nb = ctx.k / QK8_0;
      const std::uint8_t* w[R];
      const ActQ8* a[C];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) w[r] = ctx.w + (r0 + r) * ctx.w_stride;
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        a[c] = reinterpret_cast<const ActQ8*>(ctx.a + (c0 + c) * ctx.a_stride);
      }
      __m256 acc[R][C];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
      }
      for (std::int64_t b = 0; b < nb; ++b) {
        __m256i wq[R];
        __m256 dw[R];
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          const std::uint8_t* p = w[r] + b * F::kBlock;
          wq[r] = F::unpack(p);
          dw[r] = _mm256_set1_ps(load_f16(p));
        }
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[c][b].qs));
          const __m256 da = _mm256_set1_ps(a[c][b].d);
          INFERGATE_UNROLL
          for (int r = 0; r < R; ++r) {
            const __m256 dot = _mm256_cvtepi32_ps(mul_sum_i8(wq[r], aq));
            acc[r][c] = _mm256_fmadd_ps(dot, _mm256_mul_ps(dw[r], da), acc[r][c]);
          }
        }
      }
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) ctx.y[(c0 + c) * ctx.y_stride + r0 + r] = hsum(acc[r][c]);
      }
    }
  };
};

template <int R, int C>
using Q4_0Tile = Q8Tile<Type::Q4_0>::K<R, C>;
template <int R, int C>
using Q5_0Tile = Q8Tile<Type::Q5_0>::K<R, C>;
template <int R, int C>
using Q8_0Tile = Q8Tile<Type::Q8_0>::K<R, C>;

// ---- Q4_K x Q8_K ----------------------------------------------------------------------------

// The 12 packed bytes -> scales (bytes 0..7) and mins (bytes 8..15), as ggml's kmask trick.
inline void unpack_q4_K_scales(const std::uint8_t* packed, std::uint32_t utmp[4]) {
  constexpr std::uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  std::memcpy(utmp, packed, 12);
  utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
  const std::uint32_t uaux = utmp[1] & kmask1;
  utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
  utmp[2] = uaux;
  utmp[0] &= kmask1;
}

template <int R, int C>
struct Q4_KTile {
  static void run(const TileCtx& ctx, std::int64_t r0, std::int64_t c0) {
    const std::int64_t nb = ctx.k / QK_K;
    const block_q8_K* a[C];
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      a[c] = reinterpret_cast<const block_q8_K*>(ctx.a + (c0 + c) * ctx.a_stride);
    }
    INFERGATE_UNROLL
    for (int r = 0; r < R; ++r) {
      const auto* w = reinterpret_cast<const block_q4_K*>(ctx.w + (r0 + r) * ctx.w_stride);
      __m256 acc[C];
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
      for (std::int64_t b = 0; b < nb; ++b) {
        std::uint32_t utmp[4];
        unpack_q4_K_scales(w[b].scales, utmp);
        const auto* sc = reinterpret_cast<const std::uint8_t*>(utmp);
        const __m128i mins8 = _mm_cvtepu8_epi16(
            _mm_set_epi32(0, 0, static_cast<int>(utmp[3]), static_cast<int>(utmp[2])));
        const float dw = load_f16(&w[b].d);
        const float dmin = load_f16(&w[b].dmin);
        __m256i sumi[C];
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) sumi[c] = _mm256_setzero_si256();
        INFERGATE_UNROLL
        for (int j = 0; j < QK_K / 64; ++j) {
          const __m256i scale_l = _mm256_set1_epi16(sc[2 * j]);
          const __m256i scale_h = _mm256_set1_epi16(sc[2 * j + 1]);
          const __m256i q4 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * j));
          const __m256i q4l = _mm256_and_si256(q4, _mm256_set1_epi8(0xF));
          const __m256i q4h = _mm256_and_si256(_mm256_srli_epi16(q4, 4), _mm256_set1_epi8(0xF));
          INFERGATE_UNROLL
          for (int c = 0; c < C; ++c) {
            const auto* q8 = reinterpret_cast<const __m256i*>(a[c][b].qs + 64 * j);
            const __m256i pl =
                _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, _mm256_loadu_si256(q8)));
            const __m256i ph =
                _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, _mm256_loadu_si256(q8 + 1)));
            sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(pl, ph));
          }
        }
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          // Pairs of 16-sums make the 32-sums the mins apply to.
          const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[c][b].bsums));
          const __m128i s32 =
              _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
          const __m128i prod = _mm_madd_epi16(mins8, s32);
          const float da = a[c][b].d;
          acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
          acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * da),
                                   _mm256_zextps128_ps256(_mm_cvtepi32_ps(prod)), acc[c]);
        }
      }
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) ctx.y[(c0 + c) * ctx.y_stride + r0 + r] = hsum(acc[c]);
    }
  }
};

// ---- Q6_K x Q8_K ----------------------------------------------------------------------------

template <int R, int C>
struct Q6_KTile {
  static void run(const TileCtx& ctx, std::int64_t r0, std::int64_t c0) {
    const std::int64_t nb = ctx.k / QK_K;
    const block_q8_K* a[C];
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      a[c] = reinterpret_cast<const block_q8_K*>(ctx.a + (c0 + c) * ctx.a_stride);
    }
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i m2 = _mm256_set1_epi8(3);
    INFERGATE_UNROLL
    for (int r = 0; r < R; ++r) {
      const auto* w = reinterpret_cast<const block_q6_K*>(ctx.w + (r0 + r) * ctx.w_stride);
      __m256 acc[C];
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
      for (std::int64_t b = 0; b < nb; ++b) {
        const std::int8_t* scales = w[b].scales;
        const __m128i sc16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales));
        const __m256i sc16w = _mm256_cvtepi8_epi16(sc16);
        __m256i sumi[C];
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          // The -32 offset of every quant, applied once per block through the 16-sums.
          const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[c][b].bsums));
          sumi[c] = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16w), 5);
          sumi[c] = _mm256_sub_epi32(_mm256_setzero_si256(), sumi[c]);
        }
        const std::uint8_t* ql = w[b].ql;
        const std::uint8_t* qh = w[b].qh;
        INFERGATE_UNROLL
        for (int h = 0; h < 2; ++h) {
          const __m256i qhb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh + 32 * h));
          const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 64 * h));
          const __m256i ql1 =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 64 * h + 32));
          __m256i q[4];
          q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                                 _mm256_slli_epi16(_mm256_and_si256(qhb, m2), 4));
          q[1] = _mm256_or_si256(
              _mm256_and_si256(ql1, m4),
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qhb, 2), m2), 4));
          q[2] = _mm256_or_si256(
              _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qhb, 4), m2), 4));
          q[3] = _mm256_or_si256(
              _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qhb, 6), m2), 4));
          INFERGATE_UNROLL
          for (int k = 0; k < 4; ++k) {
            // Elements 32k..32k+31 of this half: two groups of 16, two scales.
            const int g = 8 * h + 2 * k;
            const __m256i scv =
                _mm256_set_m128i(_mm_set1_epi16(scales[g + 1]), _mm_set1_epi16(scales[g]));
            INFERGATE_UNROLL
            for (int c = 0; c < C; ++c) {
              const __m256i q8 = _mm256_loadu_si256(
                  reinterpret_cast<const __m256i*>(a[c][b].qs + 128 * h + 32 * k));
              sumi[c] =
                  _mm256_add_epi32(sumi[c], _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], q8), scv));
            }
          }
        }
        const float dw = load_f16(&w[b].d);
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          acc[c] =
              _mm256_fmadd_ps(_mm256_set1_ps(dw * a[c][b].d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
        }
      }
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) ctx.y[(c0 + c) * ctx.y_stride + r0 + r] = hsum(acc[c]);
    }
  }
};

// ---- F32 / F16 / BF16 x F32 -----------------------------------------------------------------

template <Type T>
inline __m256 load8(const std::uint8_t* row, std::int64_t i) {
  if constexpr (T == Type::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  } else if constexpr (T == Type::F16) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const half*>(row) + i)));
  } else {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const bf16*>(row) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <Type T>
inline float load1(const std::uint8_t* row, std::int64_t i) {
  if constexpr (T == Type::F32) {
    return reinterpret_cast<const float*>(row)[i];
  } else if constexpr (T == Type::F16) {
    return load_f16(reinterpret_cast<const half*>(row) + i);
  } else {
    return bf16_to_fp32(reinterpret_cast<const bf16*>(row)[i]);
  }
}

template <Type T>
struct FloatTile {
  template <int R, int C>
  struct K {
    static void run(const TileCtx& ctx, std::int64_t r0, std::int64_t c0) {
      const std::uint8_t* w[R];
      const float* a[C];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) w[r] = ctx.w + (r0 + r) * ctx.w_stride;
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        a[c] = reinterpret_cast<const float*>(ctx.a + (c0 + c) * ctx.a_stride);
      }
      __m256 acc[R][C];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
      }
      std::int64_t i = ctx.k0;
      for (; i + 8 <= ctx.k; i += 8) {
        __m256 wv[R];
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) wv[r] = load8<T>(w[r], i);
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m256 av = _mm256_loadu_ps(a[c] + i);
          INFERGATE_UNROLL
          for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], av, acc[r][c]);
        }
      }
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          float s = hsum(acc[r][c]);
          for (std::int64_t j = i; j < ctx.k; ++j) s += load1<T>(w[r], j) * a[c][j];
          float& out = ctx.y[(c0 + c) * ctx.y_stride + r0 + r];
          out = (ctx.accumulate ? out : 0.0f) + s;
        }
      }
    }
  };
};

// Chunk of the dot length for float weights, so a tile's rows stay in L1 (see
// drive_k_blocked); a multiple of 8, so only the last chunk has a scalar tail.
constexpr std::int64_t kFloatKChunk = 512;

template <int R, int C>
using F32Tile = FloatTile<Type::F32>::K<R, C>;
template <int R, int C>
using F16Tile = FloatTile<Type::F16>::K<R, C>;
template <int R, int C>
using BF16Tile = FloatTile<Type::BF16>::K<R, C>;

void gemm(Type t, const void* w, std::size_t w_stride, std::int64_t nr, const void* a,
          std::size_t a_stride, std::int64_t nc, std::int64_t k, float* y, std::int64_t y_stride) {
  const TileCtx ctx{static_cast<const std::uint8_t*>(w),
                    w_stride,
                    static_cast<const std::uint8_t*>(a),
                    a_stride,
                    k,
                    y,
                    y_stride};
  switch (t) {
    case Type::Q4_0:
      return drive<Q4_0Tile, 2, 4>(ctx, nr, nc);
    case Type::Q5_0:
      return drive<Q5_0Tile, 2, 4>(ctx, nr, nc);
    case Type::Q8_0:
      return drive<Q8_0Tile, 2, 4>(ctx, nr, nc);
    case Type::Q4_K:
      return drive<Q4_KTile, 1, 4>(ctx, nr, nc);
    case Type::Q6_K:
      return drive<Q6_KTile, 1, 4>(ctx, nr, nc);
    // K-blocking only pays when activation tiles are reused across weight rows (see the
    // AVX-512 path).
    case Type::F32:
      return nc <= 4 ? drive<F32Tile, 3, 4>(ctx, nr, nc)
                     : drive_k_blocked<F32Tile, 3, 4>(ctx, nr, nc, kFloatKChunk);
    case Type::F16:
      return nc <= 4 ? drive<F16Tile, 3, 4>(ctx, nr, nc)
                     : drive_k_blocked<F16Tile, 3, 4>(ctx, nr, nc, kFloatKChunk);
    case Type::BF16:
      return nc <= 4 ? drive<BF16Tile, 3, 4>(ctx, nr, nc)
                     : drive_k_blocked<BF16Tile, 3, 4>(ctx, nr, nc, kFloatKChunk);
    default:
      return;
  }
}

float dot_f32(const float* a, const float* b, std::int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float dot_f16_f32(const half* a, const float* b, std::int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    const __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 8)));
    acc0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    acc0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + i), acc0);
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += load_f16(a + i) * b[i];
  return s;
}

// Attention: 8 key positions per register, up to 4 query heads per pass (one conversion of each
// key vector for all of them); values: 8 dimensions per register, up to 4 heads x 2 registers.
template <int NH>
void attn_scores_t(const half* kt, std::int64_t ld_k, int hd, const float* q, int n_kv, float scale,
                   float* scores, std::int64_t ld_s) {
  int j0 = 0;
  for (; j0 + 8 <= n_kv; j0 += 8) {
    __m256 acc[NH];
    for (int h = 0; h < NH; ++h) acc[h] = _mm256_setzero_ps();
    for (int d = 0; d < hd; ++d) {
      const __m256 k =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kt + d * ld_k + j0)));
      for (int h = 0; h < NH; ++h) {
        acc[h] = _mm256_fmadd_ps(_mm256_set1_ps(q[h * hd + d]), k, acc[h]);
      }
    }
    for (int h = 0; h < NH; ++h) {
      _mm256_storeu_ps(scores + h * ld_s + j0, _mm256_mul_ps(acc[h], _mm256_set1_ps(scale)));
    }
  }
  for (; j0 < n_kv; ++j0) {
    for (int h = 0; h < NH; ++h) {
      float s = 0.0f;
      for (int d = 0; d < hd; ++d) s += q[h * hd + d] * load_f16(kt + d * ld_k + j0);
      scores[h * ld_s + j0] = s * scale;
    }
  }
}

void attn_scores(const half* kt, std::int64_t ld_k, int hd, const float* q, int n_q, int n_kv,
                 float scale, float* scores, std::int64_t ld_s) {
  for (int h0 = 0; h0 < n_q; h0 += 4) {
    const float* qh = q + h0 * hd;
    float* sh = scores + h0 * ld_s;
    switch (std::min(4, n_q - h0)) {
      case 1:
        attn_scores_t<1>(kt, ld_k, hd, qh, n_kv, scale, sh, ld_s);
        break;
      case 2:
        attn_scores_t<2>(kt, ld_k, hd, qh, n_kv, scale, sh, ld_s);
        break;
      case 3:
        attn_scores_t<3>(kt, ld_k, hd, qh, n_kv, scale, sh, ld_s);
        break;
      default:
        attn_scores_t<4>(kt, ld_k, hd, qh, n_kv, scale, sh, ld_s);
        break;
    }
  }
}

void attn_values(const half* v, int hd, const float* p, std::int64_t ld_p, int n_q, int n_kv,
                 float* out) {
  for (int h0 = 0; h0 < n_q; h0 += 4) {
    const int nh = std::min(4, n_q - h0);
    int d0 = 0;
    for (; d0 + 16 <= hd; d0 += 16) {
      __m256 acc[4][2];
      for (int h = 0; h < 4; ++h) acc[h][0] = acc[h][1] = _mm256_setzero_ps();
      for (int j = 0; j < n_kv; ++j) {
        const half* vj = v + static_cast<std::int64_t>(j) * hd + d0;
        const __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vj)));
        const __m256 v1 =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vj + 8)));
        for (int h = 0; h < nh; ++h) {
          const __m256 pj = _mm256_set1_ps(p[(h0 + h) * ld_p + j]);
          acc[h][0] = _mm256_fmadd_ps(pj, v0, acc[h][0]);
          acc[h][1] = _mm256_fmadd_ps(pj, v1, acc[h][1]);
        }
      }
      for (int h = 0; h < nh; ++h) {
        _mm256_storeu_ps(out + (h0 + h) * hd + d0, acc[h][0]);
        _mm256_storeu_ps(out + (h0 + h) * hd + d0 + 8, acc[h][1]);
      }
    }
    for (; d0 < hd; ++d0) {
      for (int h = 0; h < nh; ++h) {
        float s = 0.0f;
        for (int j = 0; j < n_kv; ++j) {
          s += p[(h0 + h) * ld_p + j] * load_f16(v + static_cast<std::int64_t>(j) * hd + d0);
        }
        out[(h0 + h) * hd + d0] = s;
      }
    }
  }
}

}  // namespace

const Kernels* avx2_kernels() {
  static const Kernels k = [] {
    Kernels t;
    t.simd = Simd::avx2;
    t.name = "avx2";
    t.act_row_bytes = act_row_bytes;
    t.prepare_act = prepare_act;
    t.gemm = gemm;
    t.attn_scores = attn_scores;
    t.attn_values = attn_values;
    t.dot_f32 = dot_f32;
    t.dot_f16_f32 = dot_f16_f32;
    return t;
  }();
  return &k;
}

}  // namespace infergate::engine::ggml::detail

#else

namespace infergate::engine::ggml::detail {
const Kernels* avx2_kernels() { return nullptr; }
}  // namespace infergate::engine::ggml::detail

#endif
