// GGUF files (versions 2 and 3): a memory-mapped, bounds-checked reader and a writer.
//
// Every count, offset, size and string in the file is checked against the file's size and sane
// limits before use; a truncated, corrupt or hostile file gives an error naming what is wrong.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ggml/ggml_types.hpp"

namespace infergate::engine::gguf {

enum class ValueType : std::uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// A metadata value. Arrays of strings keep string_views into the mapped file.
struct Value {
  ValueType type = ValueType::UINT8;
  ValueType array_type = ValueType::UINT8;  // when type == ARRAY
  std::uint64_t array_size = 0;             // when type == ARRAY
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string_view> scalar;
  const std::uint8_t* array_data = nullptr;  // raw elements of numeric arrays (little-endian)
  std::vector<std::string_view> strings;     // elements of string arrays
};

// "UINT32", "STRING", ... ("unknown" for ids outside the enum).
std::string_view value_type_name(ValueType t);

// Limits the reader enforces on top of "fits in the file".
inline constexpr std::uint64_t kMaxTensors = 1u << 20;
inline constexpr std::uint64_t kMaxKeyValues = 1u << 20;
inline constexpr std::uint64_t kMaxStringBytes = 64u << 20;
inline constexpr std::uint64_t kMaxKeyBytes = 64u << 10;
inline constexpr std::uint64_t kMaxTensorNameBytes = 256;
inline constexpr std::uint32_t kMaxDims = 4;
inline constexpr std::uint32_t kDefaultAlignment = 32;
inline constexpr std::uint32_t kMaxAlignment = 1u << 20;

struct TensorInfo {
  std::string_view name;
  std::vector<std::int64_t> shape;  // ggml order: shape[0] is the row length (fastest)
  ggml::Type type = ggml::Type::F32;
  std::uint64_t offset = 0;  // relative to the data section
  std::size_t bytes = 0;
  const void* data = nullptr;  // inside the mapping, aligned as the file says

  std::int64_t n_elements() const;
  std::int64_t rows() const;  // product of shape[1..]
};

class File {
 public:
  // Maps and validates `path`. On failure returns nullptr and sets *error.
  static std::unique_ptr<File> open(const std::string& path, std::string* error);
  // Parses an in-memory image (fuzzing, tests); the bytes must outlive the File.
  static std::unique_ptr<File> parse(const void* data, std::size_t size, std::string* error);
  ~File();

  std::uint32_t version() const;
  const Value* find(std::string_view key) const;
  // Typed getters: nullopt when missing or of another type (integers convert when in range).
  std::optional<std::string_view> get_string(std::string_view key) const;
  std::optional<std::int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  // Numeric array elements converted; nullopt when missing or not numeric.
  std::optional<std::vector<std::int64_t>> get_int_array(std::string_view key) const;
  std::optional<std::vector<float>> get_float_array(std::string_view key) const;
  const std::vector<std::string_view>* get_string_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo* find_tensor(std::string_view name) const;
  const std::vector<std::pair<std::string_view, Value>>& metadata() const;

  // The whole image (the mapping for open()) and where the tensor data section starts in it:
  // for madvise/prefetch by the model loader.
  const std::uint8_t* image() const;
  std::size_t image_size() const;
  std::size_t data_offset() const;
  std::uint32_t alignment() const;
  // Drops the resident pages wholly inside [p, p + bytes) from this process (the file's bytes
  // come back from the page cache if read again): for tensors the model copied elsewhere. Only
  // for open()'s own read-only mapping; a no-op for parse() and for ranges outside the image.
  void release_pages(const void* p, std::size_t bytes) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  File();
};

// Writes a GGUF v3 file: metadata in insertion order, then tensors aligned to `alignment`.
// Setting a key again replaces its value in place. If `alignment` is not the default, write()
// records it as general.alignment. Anything the reader would refuse (a nested array, an
// over-long key or string, a bad shape, data of the wrong size, duplicate tensor names) makes
// write() fail with the reason instead of writing a broken file.
class Writer {
 public:
  explicit Writer(std::uint32_t alignment = 32);
  void set_u8(const std::string& key, std::uint8_t v);
  void set_i8(const std::string& key, std::int8_t v);
  void set_u16(const std::string& key, std::uint16_t v);
  void set_i16(const std::string& key, std::int16_t v);
  void set_u32(const std::string& key, std::uint32_t v);
  void set_i32(const std::string& key, std::int32_t v);
  void set_u64(const std::string& key, std::uint64_t v);
  void set_i64(const std::string& key, std::int64_t v);
  void set_f32(const std::string& key, float v);
  void set_f64(const std::string& key, double v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, std::string v);
  void set_string_array(const std::string& key, std::vector<std::string> v);
  void set_f32_array(const std::string& key, std::vector<float> v);
  void set_i32_array(const std::string& key, std::vector<std::int32_t> v);
  // A numeric (or BOOL) array of `count` little-endian elements of `element_type`.
  void set_array(const std::string& key, ValueType element_type, const void* data,
                 std::uint64_t count);
  // Copies a metadata value from another file (e.g. a vocabulary GGUF).
  void copy_value(const std::string& key, const Value& v);
  // `data` holds row_bytes(type, shape[0]) x rows bytes, already in `type`'s encoding.
  void add_tensor(const std::string& name, std::vector<std::int64_t> shape, ggml::Type type,
                  std::vector<std::uint8_t> data);
  // A tensor whose bytes are produced while writing, so that a large model never sits in memory
  // whole: `fill` gets a buffer of exactly the tensor's byte size; returning false aborts write().
  using Filler = std::function<bool(std::uint8_t* dst, std::size_t bytes, std::string* error)>;
  void add_generated_tensor(const std::string& name, std::vector<std::int64_t> shape,
                            ggml::Type type, Filler fill);
  // Writes to `path` through a temporary file renamed into place on success.
  bool write(const std::string& path, std::string* error) const;
  // The same bytes, in memory.
  bool write_to_buffer(std::vector<std::uint8_t>* out, std::string* error) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace infergate::engine::gguf
