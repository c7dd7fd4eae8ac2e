// GGML tensor types and quantization block layouts, bit-for-bit as GGUF files store them
// (ggml/include/ggml.h and ggml/src/ggml-common.h of the ggml project).
#pragma once

#include <cstddef>
#include <cstdint>

namespace infergate::engine::ggml {

// Values are the on-disk type ids.
enum class Type : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

using half = std::uint16_t;  // IEEE binary16 bits
using bf16 = std::uint16_t;  // bfloat16 bits

inline constexpr int QK4_0 = 32;
inline constexpr int QK4_1 = 32;
inline constexpr int QK5_0 = 32;
inline constexpr int QK5_1 = 32;
inline constexpr int QK8_0 = 32;
inline constexpr int QK_K = 256;
inline constexpr int K_SCALE_SIZE = 12;

struct block_q4_0 {
  half d;
  std::uint8_t qs[QK4_0 / 2];
};
static_assert(sizeof(block_q4_0) == 18);

struct block_q4_1 {
  half d;
  half m;
  std::uint8_t qs[QK4_1 / 2];
};
static_assert(sizeof(block_q4_1) == 20);

struct block_q5_0 {
  half d;
  std::uint8_t qh[4];
  std::uint8_t qs[QK5_0 / 2];
};
static_assert(sizeof(block_q5_0) == 22);

struct block_q5_1 {
  half d;
  half m;
  std::uint8_t qh[4];
  std::uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(block_q5_1) == 24);

struct block_q8_0 {
  half d;
  std::int8_t qs[QK8_0];
};
static_assert(sizeof(block_q8_0) == 34);

struct block_q4_K {
  half d;                             // super-block scale for quantized scales
  half dmin;                          // super-block scale for quantized mins
  std::uint8_t scales[K_SCALE_SIZE];  // scales and mins, quantized with 6 bits
  std::uint8_t qs[QK_K / 2];          // 4-bit quants
};
static_assert(sizeof(block_q4_K) == 144);

struct block_q6_K {
  std::uint8_t ql[QK_K / 2];      // quants, lower 4 bits
  std::uint8_t qh[QK_K / 4];      // quants, upper 2 bits
  std::int8_t scales[QK_K / 16];  // scales, quantized with 8 bits
  half d;                         // super-block scale
};
static_assert(sizeof(block_q6_K) == 210);

// Activations quantized for dot products with K-quants.
struct block_q8_K {
  float d;
  std::int8_t qs[QK_K];
  std::int16_t bsums[QK_K / 16];  // sums of quants in groups of 16
};
static_assert(sizeof(block_q8_K) == 292);

struct TypeTraits {
  const char* name = nullptr;  // nullptr: unknown type id
  int block_size = 0;          // elements per block
  std::size_t type_size = 0;   // bytes per block
};

// Traits of an on-disk type id; name == nullptr for ids this engine does not know.
constexpr TypeTraits traits(std::uint32_t id) {
  switch (static_cast<Type>(id)) {
    case Type::F32:
      return {"F32", 1, 4};
    case Type::F16:
      return {"F16", 1, 2};
    case Type::BF16:
      return {"BF16", 1, 2};
    case Type::Q4_0:
      return {"Q4_0", QK4_0, sizeof(block_q4_0)};
    case Type::Q4_1:
      return {"Q4_1", QK4_1, sizeof(block_q4_1)};
    case Type::Q5_0:
      return {"Q5_0", QK5_0, sizeof(block_q5_0)};
    case Type::Q5_1:
      return {"Q5_1", QK5_1, sizeof(block_q5_1)};
    case Type::Q8_0:
      return {"Q8_0", QK8_0, sizeof(block_q8_0)};
    case Type::Q8_1:
      return {"Q8_1", 32, 36};
    case Type::Q2_K:
      return {"Q2_K", QK_K, 84};
    case Type::Q3_K:
      return {"Q3_K", QK_K, 110};
    case Type::Q4_K:
      return {"Q4_K", QK_K, sizeof(block_q4_K)};
    case Type::Q5_K:
      return {"Q5_K", QK_K, 176};
    case Type::Q6_K:
      return {"Q6_K", QK_K, sizeof(block_q6_K)};
    case Type::Q8_K:
      return {"Q8_K", QK_K, sizeof(block_q8_K)};
  }
  return {};
}

// Bytes of one row of `n` elements, or 0 when n is not a whole number of blocks.
constexpr std::size_t row_bytes(Type t, std::int64_t n) {
  const TypeTraits tr = traits(static_cast<std::uint32_t>(t));
  if (tr.block_size == 0 || n < 0 || n % tr.block_size != 0) return 0;
  return static_cast<std::size_t>(n / tr.block_size) * tr.type_size;
}

}  // namespace infergate::engine::ggml
