// GGUF files (versions 2 and 3): a memory-mapped, bounds-checked reader and a writer.
//
// Every count, offset, size and string in the file is checked against the file's size and sane
// limits before use; a truncated, corrupt or hostile file gives an error naming what is wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ggml/ggml_types.hpp"

namespace infergate::engine::gguf {

enum class ValueType : std::uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

// A metadata value. Arrays of strings keep string_views into the mapped file.
struct Value {
  ValueType type = ValueType::UINT8;
  ValueType array_type = ValueType::UINT8;  // when type == ARRAY
  std::uint64_t array_size = 0;             // when type == ARRAY
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string_view> scalar;
  const std::uint8_t* array_data = nullptr; // raw elements of numeric arrays (little-endian)
  std::vector<std::string_view> strings;    // elements of string arrays
};

struct TensorInfo {
  std::string_view name;
  std::vector<std::int64_t> shape;  // ggml order: shape[0] is the row length (fastest)
  ggml::Type type = ggml::Type::F32;
  std::uint64_t offset = 0;         // relative to the data section
  std::size_t bytes = 0;
  const void* data = nullptr;       // inside the mapping, aligned as the file says
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  File();
};

// Writes a GGUF v3 file: metadata in insertion order, then tensors aligned to `alignment`.
class Writer {
 public:
  explicit Writer(std::uint32_t alignment = 32);
  void set_u32(const std::string& key, std::uint32_t v);
  void set_i32(const std::string& key, std::int32_t v);
  void set_u64(const std::string& key, std::uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, std::string v);
  void set_string_array(const std::string& key, std::vector<std::string> v);
  void set_f32_array(const std::string& key, std::vector<float> v);
  void set_i32_array(const std::string& key, std::vector<std::int32_t> v);
  // Copies a metadata value from another file (e.g. a vocabulary GGUF).
  void copy_value(const std::string& key, const Value& v);
  // `data` holds row_bytes(type, shape[0]) x rows bytes, already in `type`'s encoding.
  void add_tensor(const std::string& name, std::vector<std::int64_t> shape, ggml::Type type,
                  std::vector<std::uint8_t> data);
  bool write(const std::string& path, std::string* error) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace infergate::engine::gguf
