// AVX-512 path (F, BW, VL, DQ, VNNI; compiled with those flags, run only when the CPU has them).
//
// Q4_0 / Q5_0 / Q8_0: two 32-blocks per 512-bit step. Weight bytes are made unsigned (nibbles
// as they are, Q8_0 by flipping the sign bit) so one vpdpbusd multiplies them with the signed
// activation bytes; the offset this adds (8, 16 or 128 times the sum of the activation block)
// is taken out by starting the vpdpbusd accumulator at minus that, precomputed with the
// activations. Activation bytes are stored permuted to match the order in which the weight
// bytes come out of the unpacking, so no weight shuffles are needed.
//
// Q4_K / Q6_K: vpmaddubsw (unsigned quants x signed activations, 16-bit pairs, no saturation
// for these ranges) then vpdpwssd with the sub-block scales, one float update per super-block.
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
#include <vector>

#include "ggml/quants.hpp"
#include "ggml/tile_driver.hpp"

namespace infergate::engine::ggml::detail {
namespace {

inline float load_f16(const void* p) {
  std::uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return _cvtsh_ss(h);
}

inline std::uint16_t load_u16(const void* p) {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline std::uint32_t load_u32(const void* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Weight rows are short (a few KiB) and a tile reads several at once, which the hardware
// prefetchers follow poorly: every kernel asks for the same place in the next tile's rows
// (`ahead` bytes further) while it works on this one.
inline void prefetch_ahead(const std::uint8_t* p, std::size_t ahead) {
  _mm_prefetch(reinterpret_cast<const char*>(p + ahead), _MM_HINT_T0);
}

// ---- Q4_0 / Q5_0 / Q8_0 ---------------------------------------------------------------------

// Prepared activation row for these types, per pair of 32-blocks (an odd last block is paired
// with a zero block): 64 quant bytes (permuted), then after all pairs the F32 scales (2 per
// pair), then the int32 accumulator starts (2 per pair).
struct Q8Layout {
  std::int64_t pairs;
  std::size_t qs_bytes() const { return static_cast<std::size_t>(pairs) * 64; }
  std::size_t bytes() const { return static_cast<std::size_t>(pairs) * (64 + 8 + 8); }
  static Q8Layout of(std::int64_t n) { return {(n / QK8_0 + 1) / 2}; }
};

template <Type T>
struct Q8Family;

// Nibble types: a pair unpacks to [b0 0..15 | b1 0..15 | b0 16..31 | b1 16..31], so 32-bit
// lanes 0-3 and 8-11 hold block 0, lanes 4-7 and 12-15 block 1.
template <>
struct Q8Family<Type::Q4_0> {
  static constexpr std::size_t kBlock = sizeof(block_q4_0);
  static constexpr int kOffset = 8;
  static constexpr bool kNibbles = true;
  static __m512i unpack(const std::uint8_t* p, bool tail) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i hi = tail ? _mm_setzero_si128()
                            : _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kBlock + 2));
    const __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(x), _mm256_srli_epi16(x, 4), 1);
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
  }
};

template <>
struct Q8Family<Type::Q5_0> {
  static constexpr std::size_t kBlock = sizeof(block_q5_0);
  static constexpr int kOffset = 16;
  static constexpr bool kNibbles = true;
  static __m512i unpack(const std::uint8_t* p, bool tail) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 6));
    const __m128i hi = tail ? _mm_setzero_si128()
                            : _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kBlock + 6));
    const __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(x), _mm256_srli_epi16(x, 4), 1);
    z = _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
    const std::uint64_t h0 = load_u32(p + 2);
    const std::uint64_t h1 = tail ? 0 : load_u32(p + kBlock + 2);
    const std::uint64_t bits =
        (h0 & 0xFFFF) | ((h1 & 0xFFFF) << 16) | ((h0 >> 16) << 32) | ((h1 >> 16) << 48);
    return _mm512_mask_add_epi8(z, _cvtu64_mask64(bits), z, _mm512_set1_epi8(0x10));
  }
};

// Q8_0: a pair is [b0 0..31 | b1 0..31], lanes 0-7 block 0, 8-15 block 1; +128 makes it
// unsigned.
template <>
struct Q8Family<Type::Q8_0> {
  static constexpr std::size_t kBlock = sizeof(block_q8_0);
  static constexpr int kOffset = 128;
  static constexpr bool kNibbles = false;
  static __m512i unpack(const std::uint8_t* p, bool tail) {
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
    const __m256i hi = tail ? _mm256_setzero_si256()
                            : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + kBlock + 2));
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_xor_si512(z, _mm512_set1_epi8(static_cast<char>(0x80)));
  }
};

// Which block (0 or 1 of a pair) each 32-bit lane belongs to, and the lanes that carry the
// accumulator start of each block.
template <bool Nibbles>
inline __m512i pair_lane_index() {
  return Nibbles ? _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1)
                 : _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
}
template <bool Nibbles>
constexpr __mmask16 kPairStartLanes = Nibbles ? 0x0011 : 0x0101;

template <Type T>
void quantize_act_q8(const float* x, std::int64_t n, std::uint8_t* dst) {
  using F = Q8Family<T>;
  const std::int64_t nb = n / QK8_0;
  const Q8Layout lay = Q8Layout::of(n);
  std::uint8_t* qs = dst;
  auto* ds = reinterpret_cast<float*>(dst + lay.qs_bytes());
  auto* cs = reinterpret_cast<std::int32_t*>(dst + lay.qs_bytes() + 8 * lay.pairs);
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (std::int64_t b = 0; b < 2 * lay.pairs; ++b) {
    const std::int64_t p = b / 2;
    const int h = static_cast<int>(b % 2);
    // Byte offsets of elements 0..15 and 16..31 of this block inside its pair.
    std::uint8_t* o0 = qs + 64 * p + (F::kNibbles ? 16 * h : 32 * h);
    std::uint8_t* o1 = o0 + (F::kNibbles ? 32 : 16);
    if (b >= nb) {  // the zero partner of an odd last block
      std::memset(o0, 0, 16);
      std::memset(o1, 0, 16);
      ds[b] = 0.0f;
      cs[b] = 0;
      continue;
    }
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b);
    const __m512 v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
    const float d = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 127.0f / amax : 0.0f);
    const __m512 lim = _mm512_set1_ps(127.0f);
    // Clamped so that nan/inf inputs stay in int8 range.
    const __m512 s0 = _mm512_min_ps(
        lim,
        _mm512_max_ps(-lim, _mm512_roundscale_ps(_mm512_mul_ps(v0, id),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m512 s1 = _mm512_min_ps(
        lim,
        _mm512_max_ps(-lim, _mm512_roundscale_ps(_mm512_mul_ps(v1, id),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m512i q0 = _mm512_cvtps_epi32(s0);
    const __m512i q1 = _mm512_cvtps_epi32(s1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o0), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o1), _mm512_cvtsepi32_epi8(q1));
    ds[b] = d;
    cs[b] = -F::kOffset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

template <Type T>
struct Q8Tile {
  template <int R, int C>
  struct K {
    using F = Q8Family<T>;

    static void run(const TileCtx& ctx, std::int64_t r0, std::int64_t c0) {
      const std::int64_t nb = ctx.k / QK8_0;
      const Q8Layout lay = Q8Layout::of(ctx.k);
      const std::uint8_t* w[R];
      const std::uint8_t* a[C];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) w[r] = ctx.w + (r0 + r) * ctx.w_stride;
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) a[c] = ctx.a + (c0 + c) * ctx.a_stride;
      // Scales and accumulator starts sit at the same offsets in every activation row.
      const std::size_t d_off = lay.qs_bytes();
      const std::size_t s_off = lay.qs_bytes() + 8 * static_cast<std::size_t>(lay.pairs);
      const __m512i lane_block = pair_lane_index<F::kNibbles>();
      const std::size_t ahead = R * ctx.w_stride;
      __m512 acc[R][C];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
      }
      const auto step = [&]<bool Tail>(std::int64_t p) {
        __m512i wz[R];
        __m512 dw[R];
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          const std::uint8_t* src = w[r] + 2 * p * F::kBlock;
          prefetch_ahead(src, ahead);
          wz[r] = F::unpack(src, Tail);
          __m128i h = _mm_cvtsi32_si128(load_u16(src));
          if (!Tail) h = _mm_insert_epi16(h, load_u16(src + F::kBlock), 1);
          dw[r] = _mm512_permutexvar_ps(lane_block, _mm512_castps128_ps512(_mm_cvtph_ps(h)));
        }
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          const std::uint8_t* row = a[c];
          const __m512i az = _mm512_loadu_si512(row + 64 * p);
          const __m128 d2 =
              _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(row + d_off + 8 * p)));
          const __m512 da = _mm512_permutexvar_ps(lane_block, _mm512_castps128_ps512(d2));
          const __m128i c2 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + s_off + 8 * p));
          const __m512i start = _mm512_maskz_permutexvar_epi32(
              kPairStartLanes<F::kNibbles>, lane_block, _mm512_castsi128_si512(c2));
          INFERGATE_UNROLL
          for (int r = 0; r < R; ++r) {
            const __m512i dot = _mm512_dpbusd_epi32(start, wz[r], az);
            acc[r][c] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], da), acc[r][c]);
          }
        }
      };
      const std::int64_t full = nb / 2;
      for (std::int64_t p = 0; p < full; ++p) step.template operator()<false>(p);
      if (nb % 2) step.template operator()<true>(full);
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          ctx.y[(c0 + c) * ctx.y_stride + r0 + r] = _mm512_reduce_add_ps(acc[r][c]);
        }
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

// ---- Q4_0 / Q5_0 / Q8_0, wide path (many activation rows) -----------------------------------
//
// Lane = activation row: a group of 16 activation rows is stored interleaved, 4 bytes of each row
// per 32-bit lane, made unsigned (+128). One vpdpbusd with 4 bytes of a weight row broadcast to
// every lane then advances 16 dots at once, and a 32-block needs 8 of them before its integer
// sums are scaled: about a third of the instructions of the pair kernels per product. The +128 is
// taken out by starting each block's sums at -128 x (sum of the weight block), which the weight
// packing computes once per call and weight row; below ~12 activation rows that costs more than
// it saves (an 8-lane variant was measured no faster than the pair kernels at 8 rows).
//
// Group layout, per 32-block: 8 x 64 bytes of quants (step j: elements 4j..4j+3 of each row),
// then 16 F32 scales.
constexpr std::size_t kWideBlockBytes = kWideGroup * (8 * 4 + 4);
constexpr int kWideRows = 8;  // weight rows per register tile

std::size_t wide_group_bytes(Type t, std::int64_t n) {
  switch (t) {
    case Type::Q4_0:
    case Type::Q5_0:
    case Type::Q8_0:
      return static_cast<std::size_t>(n / QK8_0) * kWideBlockBytes;
    default:
      return 0;
  }
}

void prepare_wide(Type, const float* x, int rows, std::int64_t n, void* dst) {
  const std::int64_t nb = n / QK8_0;
  auto* out = static_cast<std::uint8_t*>(dst);
  if (rows < kWideGroup) std::memset(out, 0, static_cast<std::size_t>(nb) * kWideBlockBytes);
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 lim = _mm512_set1_ps(127.0f);
  const __m512i off = _mm512_set1_epi32(128);
  for (int l = 0; l < rows; ++l) {
    const float* xr = x + l * n;
    for (std::int64_t b = 0; b < nb; ++b) {
      std::uint8_t* blk = out + b * kWideBlockBytes;
      const __m512 v0 = _mm512_loadu_ps(xr + 32 * b);
      const __m512 v1 = _mm512_loadu_ps(xr + 32 * b + 16);
      const float amax = _mm512_reduce_max_ps(
          _mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
      const float d = amax / 127.0f;
      const __m512 id = _mm512_set1_ps(d != 0.0f ? 127.0f / amax : 0.0f);
      const __m512 s0 = _mm512_min_ps(
          lim,
          _mm512_max_ps(-lim, _mm512_roundscale_ps(_mm512_mul_ps(v0, id),
                                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
      const __m512 s1 = _mm512_min_ps(
          lim,
          _mm512_max_ps(-lim, _mm512_roundscale_ps(_mm512_mul_ps(v1, id),
                                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
      // int8 + 128 as unsigned bytes = int32 + 128 narrowed: 0..255 after the clamp.
      const __m128i q0 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(s0), off));
      const __m128i q1 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(s1), off));
      std::uint32_t words[8];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(words), q0);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(words + 4), q1);
      for (int j = 0; j < 8; ++j) std::memcpy(blk + 4 * (kWideGroup * j + l), &words[j], 4);
      std::memcpy(blk + 32 * kWideGroup + 4 * l, &d, 4);
    }
  }
}

// One register tile's weights, ready for the broadcast operand: signed bytes in element order
// (Q8_0 rows are used in place), plus per block and row the F32 scale and the accumulator start.
struct WidePack {
  const std::uint8_t* q[kWideRows];
  std::size_t q_block_stride;  // bytes from one block's quants to the next
  const float* dw;             // [block][kWideRows]
  const std::int32_t* start;   // [block][kWideRows]
};

// Sum of 32 signed bytes.
inline int sum_i8_32(__m256i v) {
  const __m256i sad = _mm256_sad_epu8(
      _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80))), _mm256_setzero_si256());
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
  return static_cast<int>(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1)) - 32 * 128;
}

template <Type T>
void pack_wide(const std::uint8_t* w, std::size_t w_stride, int rows, std::int64_t nb,
               std::uint8_t* q_buf, float* dw, std::int32_t* start, WidePack* pack) {
  using F = Q8Family<T>;
  pack->dw = dw;
  pack->start = start;
  pack->q_block_stride = T == Type::Q8_0 ? F::kBlock : 32;
  for (int r = 0; r < kWideRows; ++r) {
    // Rows past the end of the matrix repeat the last one; their results are not stored.
    const std::uint8_t* row = w + std::min(r, rows - 1) * w_stride;
    std::uint8_t* qr = q_buf + static_cast<std::size_t>(r) * nb * 32;
    pack->q[r] = T == Type::Q8_0 ? row + 2 : qr;
    for (std::int64_t b = 0; b < nb; ++b) {
      const std::uint8_t* blk = row + b * F::kBlock;
      __m256i q;
      if constexpr (T == Type::Q8_0) {
        q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      } else {
        const std::size_t qs_off = T == Type::Q4_0 ? 2 : 6;
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + qs_off));
        q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
        if constexpr (T == Type::Q5_0) {
          q = _mm256_mask_add_epi8(q, _cvtu32_mask32(load_u32(blk + 2)), q, _mm256_set1_epi8(0x10));
        }
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(static_cast<char>(F::kOffset)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qr + 32 * b), q);
      }
      dw[b * kWideRows + r] = load_f16(blk);
      start[b * kWideRows + r] = -128 * sum_i8_32(q);
    }
  }
}

inline void wide_tile(const WidePack& pk, const std::uint8_t* group, std::int64_t nb,
                      float out[kWideRows][kWideGroup]) {
  __m512 acc[kWideRows];
  INFERGATE_UNROLL
  for (int r = 0; r < kWideRows; ++r) acc[r] = _mm512_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::uint8_t* blk = group + b * kWideBlockBytes;
    const std::size_t qoff = static_cast<std::size_t>(b) * pk.q_block_stride;
    __m512i sum[kWideRows];
    INFERGATE_UNROLL
    for (int r = 0; r < kWideRows; ++r) sum[r] = _mm512_set1_epi32(pk.start[b * kWideRows + r]);
    INFERGATE_UNROLL
    for (int j = 0; j < 8; ++j) {
      const __m512i a = _mm512_loadu_si512(blk + 64 * j);
      INFERGATE_UNROLL
      for (int r = 0; r < kWideRows; ++r) {
        const auto wv = static_cast<std::int32_t>(load_u32(pk.q[r] + qoff + 4 * j));
        sum[r] = _mm512_dpbusd_epi32(sum[r], a, _mm512_set1_epi32(wv));
      }
    }
    const __m512 da = _mm512_loadu_ps(reinterpret_cast<const float*>(blk + 512));
    INFERGATE_UNROLL
    for (int r = 0; r < kWideRows; ++r) {
      const __m512 scale = _mm512_mul_ps(da, _mm512_set1_ps(pk.dw[b * kWideRows + r]));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[r]), scale, acc[r]);
    }
  }
  INFERGATE_UNROLL
  for (int r = 0; r < kWideRows; ++r) _mm512_storeu_ps(out[r], acc[r]);
}

// Scratch for one thread's packed weight tile, grown on demand.
struct WideScratch {
  std::vector<std::uint8_t> q;
  std::vector<float> dw;
  std::vector<std::int32_t> start;
};
thread_local WideScratch t_wide;

template <Type T>
void gemm_wide_t(const void* w, std::size_t w_stride, std::int64_t nr, const void* a,
                 std::size_t group_stride, std::int64_t nc, std::int64_t k, float* y,
                 std::int64_t y_stride) {
  const std::int64_t nb = k / QK8_0;
  WideScratch& s = t_wide;
  if (T != Type::Q8_0) s.q.resize(static_cast<std::size_t>(kWideRows * nb * 32));
  s.dw.resize(static_cast<std::size_t>(kWideRows * nb));
  s.start.resize(static_cast<std::size_t>(kWideRows * nb));
  const auto* wb = static_cast<const std::uint8_t*>(w);
  const auto* ab = static_cast<const std::uint8_t*>(a);
  const std::int64_t groups = (nc + kWideGroup - 1) / kWideGroup;
  alignas(64) float out[kWideRows][kWideGroup];
  for (std::int64_t r0 = 0; r0 < nr; r0 += kWideRows) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kWideRows, nr - r0));
    WidePack pk;
    pack_wide<T>(wb + r0 * w_stride, w_stride, rows, nb, s.q.data(), s.dw.data(), s.start.data(),
                 &pk);
    for (std::int64_t g = 0; g < groups; ++g) {
      // A short last tile runs in full: pack_wide repeated its last row into the rest.
      wide_tile(pk, ab + g * group_stride, nb, out);
      const int cols = static_cast<int>(std::min<std::int64_t>(kWideGroup, nc - g * kWideGroup));
      for (int c = 0; c < cols; ++c) {
        float* yc = y + (g * kWideGroup + c) * y_stride + r0;
        for (int r = 0; r < rows; ++r) yc[r] = out[r][c];
      }
    }
  }
}

// ---- Q4_0 / Q8_0, packed weights (PackedWeights) -------------------------------------------
//
// Lane = weight row: a 64-byte vector holds 4 quants of each of 16 rows, so one vpdpbusd with 4
// activation bytes broadcast to every lane advances 16 dot products, and a 32-block needs 8 of
// them (Q4_0: 4 loads, each giving the low and the high nibbles). Weights are the unsigned
// operand (nibbles as they are, Q8_0 stored +128); the offset this adds is taken out by
// starting each block's sums at -offset x (sum of the activation block), computed with the
// activations. The 16 results of a tile come out in one register: no horizontal sums.
//
// Prepared activation row: n int8 quants in element order, then per block the F32 scale, then
// per block the int32 accumulator start.

template <Type T>
constexpr int kPackedOffset = T == Type::Q4_0 ? 8 : 128;

std::size_t packed_act_row_bytes(Type t, std::int64_t n) {
  if (t != Type::Q4_0 && t != Type::Q8_0) return 0;
  return static_cast<std::size_t>(n / QK8_0) * (QK8_0 + 4 + 4);
}

void prepare_packed_act(Type t, const float* x, std::int64_t n, void* dst) {
  const std::int64_t nb = n / QK8_0;
  auto* qs = static_cast<std::int8_t*>(dst);
  auto* ds = reinterpret_cast<float*>(qs + nb * QK8_0);
  auto* cs = reinterpret_cast<std::int32_t*>(ds + nb);
  const int offset = t == Type::Q4_0 ? kPackedOffset<Type::Q4_0> : kPackedOffset<Type::Q8_0>;
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 lim = _mm512_set1_ps(127.0f);
  for (std::int64_t b = 0; b < nb; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b);
    const __m512 v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
    const float d = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 127.0f / amax : 0.0f);
    // Clamped so that nan/inf inputs stay in int8 range (as quantize_act_q8).
    const __m512 s0 = _mm512_min_ps(
        lim,
        _mm512_max_ps(-lim, _mm512_roundscale_ps(_mm512_mul_ps(v0, id),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m512 s1 = _mm512_min_ps(
        lim,
        _mm512_max_ps(-lim, _mm512_roundscale_ps(_mm512_mul_ps(v1, id),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m512i q0 = _mm512_cvtps_epi32(s0);
    const __m512i q1 = _mm512_cvtps_epi32(s1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b + 16), _mm512_cvtsepi32_epi8(q1));
    ds[b] = d;
    cs[b] = -offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

inline __m512i bcast4(const std::int8_t* p) {
  return _mm512_set1_epi32(static_cast<std::int32_t>(load_u32(p)));
}

// acc + vpdpbusd(w, 4 bytes at p broadcast to every lane), the broadcast embedded in the
// instruction's memory operand ({1to16}): GCC emits a separate vpbroadcastd otherwise, one more
// vector uop per vpdpbusd.
inline __m512i dpbusd_bcast(__m512i acc, __m512i w, const std::int8_t* p) {
#if defined(__GNUC__)
  __asm__("vpdpbusd %2%{1to16%}, %1, %0"
          : "+v"(acc)
          : "v"(w), "m"(*reinterpret_cast<const std::int32_t*>(p)));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, w, bcast4(p));
#endif
}

// Software prefetch distance of the packed kernels, and when they use it: C activation rows
// of nb blocks each (40 bytes a block prepared) past 8 KiB, or 8 rows.
constexpr std::size_t kPrefetchAhead = 4096;
constexpr bool packed_prefetch(int c, std::int64_t nb) {
  return c >= 8 || static_cast<std::int64_t>(c) * nb * (QK8_0 + 8) > 8 * 1024;
}

// One tile (16 rows) times C activation rows over the whole dot length.
template <Type T, int C>
void packed_tile(const std::uint8_t* wt, std::int64_t nb, const std::uint8_t* a,
                 std::size_t a_stride, float* y, std::int64_t y_stride) {
  constexpr std::size_t kBB = packed_block_bytes(T);
  constexpr int kScaleBytes = 2 * kPackRows;
  // With few activation rows, two sum chains per block (low / high half of the block) keep the
  // vpdpbusd latency from bounding a block.
  constexpr bool kSplit = C <= 2;
  const std::int8_t* aq[C];
  const float* ad[C];
  const std::int32_t* ac[C];
  INFERGATE_UNROLL
  for (int c = 0; c < C; ++c) {
    aq[c] = reinterpret_cast<const std::int8_t*>(a + static_cast<std::size_t>(c) * a_stride);
    ad[c] = reinterpret_cast<const float*>(aq[c] + nb * QK8_0);
    ac[c] = reinterpret_cast<const std::int32_t*>(ad[c] + nb);
  }
  __m512 acc[C];
  INFERGATE_UNROLL
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  // Each thread reads one linear stream of weights, which the hardware prefetchers follow while
  // the activations stay in L1. They stop keeping up once the activations' C rows no longer fit
  // beside the stream (long rows, e.g. the FFN down projection) or the kernel spends long on
  // each line (8 rows): then the weights are prefetched kPrefetchAhead bytes ahead (measured on
  // Zen 5, one thread, 8 rows: down 263 -> 146 us, gate/up 151 -> 141 us). Single rows of
  // model width stay with the hardware prefetchers: prefetching 1-4 KiB ahead was measured to
  // make single-sequence decode 10-15% slower.
  const bool prefetch = packed_prefetch(C, nb);
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::uint8_t* blk = wt + static_cast<std::size_t>(b) * kBB;
    if (prefetch) {
      INFERGATE_UNROLL
      for (std::size_t o = 0; o < kBB; o += 64) prefetch_ahead(blk + o, kPrefetchAhead);
    }
    __m512i s[C];
    __m512i s2[C];
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      s[c] = _mm512_set1_epi32(ac[c][b]);
      if (kSplit) s2[c] = _mm512_setzero_si512();
    }
    const std::int64_t e = b * QK8_0;
    if constexpr (T == Type::Q4_0) {
      INFERGATE_UNROLL
      for (int p = 0; p < 4; ++p) {
        const __m512i v = _mm512_loadu_si512(blk + kScaleBytes + 64 * p);
        const __m512i lo = _mm512_and_si512(v, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          s[c] = dpbusd_bcast(s[c], lo, aq[c] + e + 4 * p);
          if (kSplit) {
            s2[c] = dpbusd_bcast(s2[c], hi, aq[c] + e + 16 + 4 * p);
          } else {
            s[c] = dpbusd_bcast(s[c], hi, aq[c] + e + 16 + 4 * p);
          }
        }
      }
    } else {
      INFERGATE_UNROLL
      for (int j = 0; j < 8; ++j) {
        const __m512i v = _mm512_loadu_si512(blk + kScaleBytes + 64 * j);
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          if (kSplit && j % 2 == 1) {
            s2[c] = dpbusd_bcast(s2[c], v, aq[c] + e + 4 * j);
          } else {
            s[c] = dpbusd_bcast(s[c], v, aq[c] + e + 4 * j);
          }
        }
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      const __m512i sum = kSplit ? _mm512_add_epi32(s[c], s2[c]) : s[c];
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(ad[c][b])),
                               acc[c]);
    }
  }
  INFERGATE_UNROLL
  for (int c = 0; c < C; ++c) _mm512_storeu_ps(y + c * y_stride, acc[c]);
}

template <Type T>
void gemm_packed_t(const void* wp, std::int64_t tile0, std::int64_t n_tiles, const void* a,
                   std::size_t a_stride, std::int64_t nc, std::int64_t k, float* y,
                   std::int64_t y_stride) {
  using Fn = void (*)(const std::uint8_t*, std::int64_t, const std::uint8_t*, std::size_t, float*,
                      std::int64_t);
  constexpr int kMaxC = 8;
  static constexpr Fn table[kMaxC] = {packed_tile<T, 1>, packed_tile<T, 2>, packed_tile<T, 3>,
                                      packed_tile<T, 4>, packed_tile<T, 5>, packed_tile<T, 6>,
                                      packed_tile<T, 7>, packed_tile<T, 8>};
  const std::int64_t nb = k / QK8_0;
  const std::size_t tile_bytes = packed_block_bytes(T) * static_cast<std::size_t>(nb);
  const auto* ab = static_cast<const std::uint8_t*>(a);
  for (std::int64_t t = 0; t < n_tiles; ++t) {
    const auto* wt =
        static_cast<const std::uint8_t*>(wp) + static_cast<std::size_t>(tile0 + t) * tile_bytes;
    for (std::int64_t c0 = 0; c0 < nc; c0 += kMaxC) {
      const int cc = static_cast<int>(std::min<std::int64_t>(kMaxC, nc - c0));
      table[cc - 1](wt, nb, ab + static_cast<std::size_t>(c0) * a_stride, a_stride,
                    y + c0 * y_stride + t * kPackRows, y_stride);
    }
  }
}

void gemm_packed(Type t, const void* wp, std::int64_t tile0, std::int64_t n_tiles, const void* a,
                 std::size_t a_stride, std::int64_t nc, std::int64_t k, float* y,
                 std::int64_t y_stride) {
  switch (t) {
    case Type::Q4_0:
      return gemm_packed_t<Type::Q4_0>(wp, tile0, n_tiles, a, a_stride, nc, k, y, y_stride);
    case Type::Q8_0:
      return gemm_packed_t<Type::Q8_0>(wp, tile0, n_tiles, a, a_stride, nc, k, y, y_stride);
    default:
      return;
  }
}

// ---- Q8_K activations -------------------------------------------------------------------------

// quantize_row_q8_K_ref, vectorised; the same values (round to nearest even, same scale).
void quantize_act_q8_K(const float* x, std::int64_t n, block_q8_K* y) {
  for (std::int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    __m512 v[16];
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    __m512 vmin = _mm512_set1_ps(INFINITY);
    for (int j = 0; j < 16; ++j) {
      v[j] = _mm512_loadu_ps(x + 16 * j);
      vmax = _mm512_max_ps(vmax, v[j]);
      vmin = _mm512_min_ps(vmin, v[j]);
    }
    const float mx = _mm512_reduce_max_ps(vmax);
    const float mn = _mm512_reduce_min_ps(vmin);
    float max = std::fabs(mn) > std::fabs(mx) ? mn : mx;
    if (std::fabs(mn) == std::fabs(mx)) {
      // Same magnitude both ways: the reference keeps the first one it met.
      for (int j = 0; j < QK_K; ++j) {
        if (std::fabs(x[j]) == std::fabs(mx)) {
          max = x[j];
          break;
        }
      }
    }
    if (!(std::fabs(max) > 0.0f)) {
      std::memset(&y[i], 0, sizeof(block_q8_K));
      continue;
    }
    const float iscale = -127.f / max;
    const __m512 is = _mm512_set1_ps(iscale);
    for (int j = 0; j < 16; ++j) {
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(v[j], is));
      q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs + 16 * j), _mm512_cvtsepi32_epi8(q));
      y[i].bsums[j] = static_cast<std::int16_t>(_mm512_reduce_add_epi32(q));
    }
    y[i].d = 1 / iscale;
  }
}

// ---- Q4_K x Q8_K ----------------------------------------------------------------------------

inline __m256i q4_K_scales_mins(const std::uint8_t* packed) {
  constexpr std::uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  std::uint32_t utmp[4];
  std::memcpy(utmp, packed, 12);
  utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
  const std::uint32_t uaux = utmp[1] & kmask1;
  utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
  utmp[2] = uaux;
  utmp[0] &= kmask1;
  // 16-bit lanes: scales 0..7, then mins 0..7.
  return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(utmp)));
}

template <int R, int C>
struct Q4_KTile {
  static void run(const TileCtx& ctx, std::int64_t r0, std::int64_t c0) {
    const std::int64_t nb = ctx.k / QK_K;
    const block_q4_K* w[R];
    const block_q8_K* a[C];
    INFERGATE_UNROLL
    for (int r = 0; r < R; ++r) {
      w[r] = reinterpret_cast<const block_q4_K*>(ctx.w + (r0 + r) * ctx.w_stride);
    }
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      a[c] = reinterpret_cast<const block_q8_K*>(ctx.a + (c0 + c) * ctx.a_stride);
    }
    // 16-bit lane i of step j takes scale 2j (i < 16) or 2j+1; the mins, each twice, line up
    // with the 16 sums of 16 activations.
    __m512i scale_idx[4];
    INFERGATE_UNROLL
    for (int j = 0; j < 4; ++j) {
      scale_idx[j] = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(2 * j)),
                                        _mm256_set1_epi16(static_cast<short>(2 * j + 1)), 1);
    }
    const __m256i min_idx =
        _mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc[R][C];
    INFERGATE_UNROLL
    for (int r = 0; r < R; ++r) {
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
    }
    for (std::int64_t b = 0; b < nb; ++b) {
      __m512i sm[R];
      __m256i mins[R];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        const auto* row = reinterpret_cast<const std::uint8_t*>(&w[r][b]);
        for (std::size_t off = 0; off < sizeof(block_q4_K); off += 64) {
          prefetch_ahead(row + off, R * ctx.w_stride);
        }
        const __m256i s = q4_K_scales_mins(w[r][b].scales);
        sm[r] = _mm512_castsi256_si512(s);
        mins[r] = _mm256_permutexvar_epi16(min_idx, s);
      }
      __m512i sumi[R][C];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) sumi[r][c] = _mm512_setzero_si512();
      }
      INFERGATE_UNROLL
      for (int j = 0; j < QK_K / 64; ++j) {
        __m512i wz[R];
        __m512i sv[R];
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m256i q =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].qs + 32 * j));
          wz[r] = _mm512_and_si512(
              _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1), m4);
          sv[r] = _mm512_permutexvar_epi16(scale_idx[j], sm[r]);
        }
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m512i az = _mm512_loadu_si512(a[c][b].qs + 64 * j);
          INFERGATE_UNROLL
          for (int r = 0; r < R; ++r) {
            sumi[r][c] = _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(wz[r], az), sv[r]);
          }
        }
      }
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[c][b].bsums));
        const float da = a[c][b].d;
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m256 mm = _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mins[r]));
          const float dw = load_f16(&w[r][b].d) * da;
          const float dm = load_f16(&w[r][b].dmin) * da;
          acc[r][c] =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[r][c]), _mm512_set1_ps(dw), acc[r][c]);
          acc[r][c] = _mm512_fnmadd_ps(_mm512_zextps256_ps512(mm), _mm512_set1_ps(dm), acc[r][c]);
        }
      }
    }
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        ctx.y[(c0 + c) * ctx.y_stride + r0 + r] = _mm512_reduce_add_ps(acc[r][c]);
      }
    }
  }
};

// ---- Q6_K x Q8_K ----------------------------------------------------------------------------

template <int R, int C>
struct Q6_KTile {
  static void run(const TileCtx& ctx, std::int64_t r0, std::int64_t c0) {
    const std::int64_t nb = ctx.k / QK_K;
    const block_q6_K* w[R];
    const block_q8_K* a[C];
    INFERGATE_UNROLL
    for (int r = 0; r < R; ++r) {
      w[r] = reinterpret_cast<const block_q6_K*>(ctx.w + (r0 + r) * ctx.w_stride);
    }
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      a[c] = reinterpret_cast<const block_q8_K*>(ctx.a + (c0 + c) * ctx.a_stride);
    }
    // 64 quants per step = 4 groups of 16 = 4 scales, each over 8 16-bit lanes.
    __m512i scale_idx[4];
    INFERGATE_UNROLL
    for (int s = 0; s < 4; ++s) {
      const short g = static_cast<short>(4 * s);
      scale_idx[s] = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_setr_epi16(g, g, g, g, g, g, g, g, g + 1, g + 1, g + 1,
                                                   g + 1, g + 1, g + 1, g + 1, g + 1)),
          _mm256_setr_epi16(g + 2, g + 2, g + 2, g + 2, g + 2, g + 2, g + 2, g + 2, g + 3, g + 3,
                            g + 3, g + 3, g + 3, g + 3, g + 3, g + 3),
          1);
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    __m512 acc[R][C];
    INFERGATE_UNROLL
    for (int r = 0; r < R; ++r) {
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
    }
    for (std::int64_t b = 0; b < nb; ++b) {
      __m256i sc16[R];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        const auto* row = reinterpret_cast<const std::uint8_t*>(&w[r][b]);
        for (std::size_t off = 0; off < sizeof(block_q6_K); off += 64) {
          prefetch_ahead(row + off, R * ctx.w_stride);
        }
        sc16[r] =
            _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[r][b].scales)));
      }
      __m512i sumi[R][C];
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[c][b].bsums));
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          // Every quant carries a -32 offset: minus 32 x sum(scale x 16-sum), once per block.
          const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16[r]), 5);
          sumi[r][c] = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
        }
      }
      INFERGATE_UNROLL
      for (int h = 0; h < 2; ++h) {
        __m512i lo[R], hi[R], sv_lo[R], sv_hi[R];
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m512i ql = _mm512_loadu_si512(w[r][b].ql + 64 * h);
          const __m256i qh =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].qh + 32 * h));
          const __m512i qhz =
              _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
          lo[r] = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                  _mm512_and_si512(_mm512_slli_epi16(qhz, 4), m30));
          hi[r] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                  _mm512_and_si512(qhz, m30));
          const __m512i s = _mm512_castsi256_si512(sc16[r]);
          sv_lo[r] = _mm512_permutexvar_epi16(scale_idx[2 * h], s);
          sv_hi[r] = _mm512_permutexvar_epi16(scale_idx[2 * h + 1], s);
        }
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m512i a_lo = _mm512_loadu_si512(a[c][b].qs + 128 * h);
          const __m512i a_hi = _mm512_loadu_si512(a[c][b].qs + 128 * h + 64);
          INFERGATE_UNROLL
          for (int r = 0; r < R; ++r) {
            sumi[r][c] =
                _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(lo[r], a_lo), sv_lo[r]);
            sumi[r][c] =
                _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(hi[r], a_hi), sv_hi[r]);
          }
        }
      }
      INFERGATE_UNROLL
      for (int c = 0; c < C; ++c) {
        const float da = a[c][b].d;
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[r][c]),
                                      _mm512_set1_ps(load_f16(&w[r][b].d) * da), acc[r][c]);
        }
      }
    }
    INFERGATE_UNROLL
    for (int c = 0; c < C; ++c) {
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        ctx.y[(c0 + c) * ctx.y_stride + r0 + r] = _mm512_reduce_add_ps(acc[r][c]);
      }
    }
  }
};

// ---- F32 / F16 / BF16 x F32 -----------------------------------------------------------------

template <Type T>
inline __m512 load16(const std::uint8_t* row, std::int64_t i, __mmask16 m) {
  if constexpr (T == Type::F32) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + i);
  } else if constexpr (T == Type::F16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const half*>(row) + i));
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const bf16*>(row) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
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
      __m512 acc[R][C];
      INFERGATE_UNROLL
      for (int r = 0; r < R; ++r) {
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
      }
      // One loop, the last partial step masked (see Q8Tile::run).
      for (std::int64_t i = ctx.k0; i < ctx.k; i += 16) {
        const std::int64_t left = ctx.k - i;
        const __mmask16 m =
            left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
        __m512 wv[R];
        INFERGATE_UNROLL
        for (int r = 0; r < R; ++r) {
          // F16/BF16 steps are half a line: every line is asked for twice, which is cheap.
          constexpr std::int64_t kElemBytes = T == Type::F32 ? 4 : 2;
          prefetch_ahead(w[r] + i * kElemBytes, R * ctx.w_stride);
          wv[r] = load16<T>(w[r], i, m);
        }
        INFERGATE_UNROLL
        for (int c = 0; c < C; ++c) {
          const __m512 av = _mm512_maskz_loadu_ps(m, a[c] + i);
          INFERGATE_UNROLL
          for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], av, acc[r][c]);
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
};

// Chunk of the dot length for F32/F16/BF16 weights: a 4 x 6 tile's share (4 weight rows of up
// to 4 bytes an element, 6 activation rows of 4) stays well inside L1.
constexpr std::int64_t kFloatKChunk = 512;
// The most activation rows multiplied without K-blocking (see gemm).
constexpr std::int64_t kFloatDecodeRows = 16;

template <int R, int C>
using F32Tile = FloatTile<Type::F32>::K<R, C>;
template <int R, int C>
using F16Tile = FloatTile<Type::F16>::K<R, C>;
template <int R, int C>
using BF16Tile = FloatTile<Type::BF16>::K<R, C>;

const Bf16Kernels* bf16_hw() {
  static const Bf16Kernels* k = cpu_supports_avx512_bf16() ? avx512bf16_kernels() : nullptr;
  return k;
}

std::size_t act_row_bytes(Type t, std::int64_t n) {
  switch (t) {
    case Type::Q4_0:
    case Type::Q5_0:
    case Type::Q8_0:
      return Q8Layout::of(n).bytes();
    case Type::Q4_K:
    case Type::Q6_K:
      return row_bytes(Type::Q8_K, n);
    case Type::BF16:
      return bf16_hw() ? bf16_hw()->act_row_bytes(n) : 0;
    default:
      return 0;
  }
}

void prepare_act(Type t, const float* x, std::int64_t n, void* dst) {
  auto* out = static_cast<std::uint8_t*>(dst);
  switch (t) {
    case Type::Q4_0:
      return quantize_act_q8<Type::Q4_0>(x, n, out);
    case Type::Q5_0:
      return quantize_act_q8<Type::Q5_0>(x, n, out);
    case Type::Q8_0:
      return quantize_act_q8<Type::Q8_0>(x, n, out);
    case Type::Q4_K:
    case Type::Q6_K:
      return quantize_act_q8_K(x, n, static_cast<block_q8_K*>(dst));
    case Type::BF16:
      if (bf16_hw()) bf16_hw()->prepare_act(x, n, dst);
      return;
    default:
      return;
  }
}

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
      return drive<Q4_0Tile, 4, 4>(ctx, nr, nc);
    case Type::Q5_0:
      return drive<Q5_0Tile, 4, 4>(ctx, nr, nc);
    case Type::Q8_0:
      return drive<Q8_0Tile, 4, 4>(ctx, nr, nc);
    case Type::Q4_K:
      return drive<Q4_KTile, 2, 4>(ctx, nr, nc);
    case Type::Q6_K:
      return drive<Q6_KTile, 2, 4>(ctx, nr, nc);
    // K-blocking pays only when activation tiles are reused across many weight rows; a few
    // activation rows (decode) stream each weight row once, front to back. Up to
    // kFloatDecodeRows rows (several sequences decoding together) 3 x 8 tiles, so 8 rows take
    // one pass instead of a 6-row and a 2-row one (measured, one thread, F16 4864 x 896 at 8
    // rows: 1015 us k-blocked, 582 us with 3 x 8 tiles, compute-bound).
    case Type::F32:
      return nc <= 6                  ? drive<F32Tile, 4, 6>(ctx, nr, nc)
             : nc <= kFloatDecodeRows ? drive<F32Tile, 3, 8>(ctx, nr, nc)
                                      : drive_k_blocked<F32Tile, 4, 6>(ctx, nr, nc, kFloatKChunk);
    case Type::F16:
      return nc <= 6                  ? drive<F16Tile, 4, 6>(ctx, nr, nc)
             : nc <= kFloatDecodeRows ? drive<F16Tile, 3, 8>(ctx, nr, nc)
                                      : drive_k_blocked<F16Tile, 4, 6>(ctx, nr, nc, kFloatKChunk);
    case Type::BF16:
      if (bf16_hw()) return bf16_hw()->gemm(w, w_stride, nr, a, a_stride, nc, k, y, y_stride);
      return nc <= 6                  ? drive<BF16Tile, 4, 6>(ctx, nr, nc)
             : nc <= kFloatDecodeRows ? drive<BF16Tile, 3, 8>(ctx, nr, nc)
                                      : drive_k_blocked<BF16Tile, 4, 6>(ctx, nr, nc, kFloatKChunk);
    default:
      return;
  }
}

void gemm_wide(Type t, const void* w, std::size_t w_stride, std::int64_t nr, const void* a,
               std::size_t group_stride, std::int64_t nc, std::int64_t k, float* y,
               std::int64_t y_stride) {
  switch (t) {
    case Type::Q4_0:
      return gemm_wide_t<Type::Q4_0>(w, w_stride, nr, a, group_stride, nc, k, y, y_stride);
    case Type::Q5_0:
      return gemm_wide_t<Type::Q5_0>(w, w_stride, nr, a, group_stride, nc, k, y, y_stride);
    case Type::Q8_0:
      return gemm_wide_t<Type::Q8_0>(w, w_stride, nr, a, group_stride, nc, k, y, y_stride);
    default:
      return;
  }
}

float dot_f32(const float* a, const float* b, std::int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m =
        n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_f16_f32(const half* a, const float* b, std::int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
    const __m512 a1 =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 16)));
    acc0 = _mm512_fmadd_ps(a0, _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(a1, _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m =
        n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 a0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a + i));
    acc0 = _mm512_fmadd_ps(a0, _mm512_maskz_loadu_ps(m, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// Bytes ahead the attention kernels prefetch: keys two passes of 32 positions ahead in each row;
// values 16 positions ahead.
constexpr std::size_t kKeyAheadBytes = 2 * 32 * sizeof(half);
constexpr int kValueAheadPositions = 16;

// Attention: 2 x 16 key positions per pass (the last ones masked), up to 8 query heads per pass
// so each key vector is converted once for all of them; values: 16 dimensions per register, up
// to 4 heads x 4 registers.
template <int NH>
void attn_scores_t(const half* kt, std::int64_t ld_k, int hd, const float* q, int n_kv, float scale,
                   float* scores, std::int64_t ld_s) {
  const __m512 vs = _mm512_set1_ps(scale);
  // Each pass reads a line or two from each of hd rows far apart, a pattern the hardware
  // prefetchers do not follow, and a sequence's cache is rarely in cache by the next step (the
  // weights streamed in between): the first two passes are asked for up front, and every pass
  // asks for the one two ahead (measured on Zen 5, 8 sequences at 1000 tokens: attention time
  // halved).
  for (int d = 0; d < hd; ++d) {
    const auto* row = reinterpret_cast<const std::uint8_t*>(kt + d * ld_k);
    prefetch_ahead(row, 0);
    if (n_kv > 32) prefetch_ahead(row, 64);
  }
  // Two registers of positions per pass: twice the independent FMA chains (the sum over d is
  // otherwise bound by FMA latency) and one broadcast of q[h][d] for both.
  for (int j0 = 0; j0 < n_kv; j0 += 32) {
    __mmask16 m[2];
    INFERGATE_UNROLL
    for (int i = 0; i < 2; ++i) {
      const int left = n_kv - j0 - 16 * i;
      m[i] = left >= 16  ? __mmask16(0xFFFF)
             : left <= 0 ? __mmask16(0)
                         : static_cast<__mmask16>((1u << left) - 1);
    }
    __m512 acc[2][NH];
    INFERGATE_UNROLL
    for (int h = 0; h < NH; ++h) acc[0][h] = acc[1][h] = _mm512_setzero_ps();
    for (int d = 0; d < hd; ++d) {
      const half* kd = kt + d * ld_k + j0;
      prefetch_ahead(reinterpret_cast<const std::uint8_t*>(kd), kKeyAheadBytes);
      const __m512 k0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[0], kd));
      const __m512 k1 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[1], kd + 16));
      INFERGATE_UNROLL
      for (int h = 0; h < NH; ++h) {
        const __m512 qd = _mm512_set1_ps(q[h * hd + d]);
        acc[0][h] = _mm512_fmadd_ps(qd, k0, acc[0][h]);
        acc[1][h] = _mm512_fmadd_ps(qd, k1, acc[1][h]);
      }
    }
    INFERGATE_UNROLL
    for (int h = 0; h < NH; ++h) {
      _mm512_mask_storeu_ps(scores + h * ld_s + j0, m[0], _mm512_mul_ps(acc[0][h], vs));
      _mm512_mask_storeu_ps(scores + h * ld_s + j0 + 16, m[1], _mm512_mul_ps(acc[1][h], vs));
    }
  }
}

void attn_scores(const half* kt, std::int64_t ld_k, int hd, const float* q, int n_q, int n_kv,
                 float scale, float* scores, std::int64_t ld_s) {
  using Fn =
      void (*)(const half*, std::int64_t, int, const float*, int, float, float*, std::int64_t);
  static constexpr Fn table[8] = {attn_scores_t<1>, attn_scores_t<2>, attn_scores_t<3>,
                                  attn_scores_t<4>, attn_scores_t<5>, attn_scores_t<6>,
                                  attn_scores_t<7>, attn_scores_t<8>};
  for (int h0 = 0; h0 < n_q; h0 += 8) {
    table[std::min(8, n_q - h0) - 1](kt, ld_k, hd, q + h0 * hd, n_kv, scale, scores + h0 * ld_s,
                                     ld_s);
  }
}

template <int NH>
void attn_values_t(const half* v, int hd, const float* p, std::int64_t ld_p, int n_kv, float* out) {
  for (int d0 = 0; d0 < hd; d0 += 64) {
    __mmask16 m[4];
    INFERGATE_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int left = hd - d0 - 16 * i;
      m[i] = left >= 16  ? __mmask16(0xFFFF)
             : left <= 0 ? __mmask16(0)
                         : static_cast<__mmask16>((1u << left) - 1);
    }
    __m512 acc[NH][4];
    INFERGATE_UNROLL
    for (int h = 0; h < NH; ++h) {
      INFERGATE_UNROLL
      for (int i = 0; i < 4; ++i) acc[h][i] = _mm512_setzero_ps();
    }
    for (int j = 0; j < n_kv; ++j) {
      const half* vj = v + static_cast<std::int64_t>(j) * hd + d0;
      // One line per 32 values: with hd 64 (128 bytes a position) both lines of the position
      // kValueAheadPositions further; hd 128 asks per 64-dimension pass (d0).
      const auto* ahead = reinterpret_cast<const std::uint8_t*>(vj);
      const std::size_t dist = static_cast<std::size_t>(kValueAheadPositions) * hd * sizeof(half);
      prefetch_ahead(ahead, dist);
      prefetch_ahead(ahead, dist + 64);
      __m512 vv[4];
      INFERGATE_UNROLL
      for (int i = 0; i < 4; ++i)
        vv[i] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[i], vj + 16 * i));
      INFERGATE_UNROLL
      for (int h = 0; h < NH; ++h) {
        const __m512 pj = _mm512_set1_ps(p[h * ld_p + j]);
        INFERGATE_UNROLL
        for (int i = 0; i < 4; ++i) acc[h][i] = _mm512_fmadd_ps(pj, vv[i], acc[h][i]);
      }
    }
    INFERGATE_UNROLL
    for (int h = 0; h < NH; ++h) {
      INFERGATE_UNROLL
      for (int i = 0; i < 4; ++i)
        _mm512_mask_storeu_ps(out + h * hd + d0 + 16 * i, m[i], acc[h][i]);
    }
  }
}

void attn_values(const half* v, int hd, const float* p, std::int64_t ld_p, int n_q, int n_kv,
                 float* out) {
  using Fn = void (*)(const half*, int, const float*, std::int64_t, int, float*);
  static constexpr Fn table[4] = {attn_values_t<1>, attn_values_t<2>, attn_values_t<3>,
                                  attn_values_t<4>};
  for (int h0 = 0; h0 < n_q; h0 += 4) {
    table[std::min(4, n_q - h0) - 1](v, hd, p + h0 * ld_p, ld_p, n_kv, out + h0 * hd);
  }
}

}  // namespace

const Kernels* avx512_kernels() {
  static const Kernels k = [] {
    Kernels t;
    t.simd = Simd::avx512;
    t.name = "avx512";
    t.act_row_bytes = act_row_bytes;
    t.prepare_act = prepare_act;
    t.gemm = gemm;
    t.wide_group_bytes = wide_group_bytes;
    t.prepare_wide = prepare_wide;
    t.gemm_wide = gemm_wide;
    t.packed_act_row_bytes = packed_act_row_bytes;
    t.prepare_packed_act = prepare_packed_act;
    t.gemm_packed = gemm_packed;
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
const Kernels* avx512_kernels() { return nullptr; }
}  // namespace infergate::engine::ggml::detail

#endif
