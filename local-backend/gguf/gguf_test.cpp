#include "gguf/gguf.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>

namespace infergate::engine::gguf {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

std::vector<std::uint8_t> to_buffer(const Writer& w) {
  std::vector<std::uint8_t> out;
  std::string error;
  EXPECT_TRUE(w.write_to_buffer(&out, &error)) << error;
  return out;
}

// The File points into `image`, which must outlive it: no temporaries.
std::unique_ptr<File> parse_ok(std::vector<std::uint8_t>&& image) = delete;
std::unique_ptr<File> parse_ok(const std::vector<std::uint8_t>& image) {
  std::string error;
  auto f = File::parse(image.data(), image.size(), &error);
  EXPECT_TRUE(f) << error;
  return f;
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("gguf_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(GgufWriter, EveryScalarTypeRoundTrips) {
  Writer w;
  w.set_u8("u8", 250);
  w.set_i8("i8", -120);
  w.set_u16("u16", 65000);
  w.set_i16("i16", -32000);
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set_u64("u64", 0xfedcba9876543210ull);
  w.set_i64("i64", std::numeric_limits<std::int64_t>::min());
  w.set_f32("f32", 1.5e-6f);
  w.set_f64("f64", -3.141592653589793);
  w.set_bool("yes", true);
  w.set_bool("no", false);
  w.set_string("str", std::string("h\0llo \xe2\x9c\x93", 10));
  w.set_string("empty", "");
  const auto image = to_buffer(w);
  auto f = parse_ok(image);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->metadata().size(), 14u);
  EXPECT_EQ(f->metadata()[0].first, "u8");  // insertion order kept
  EXPECT_EQ(f->find("u8")->type, ValueType::UINT8);
  EXPECT_EQ(f->get_int("u8"), 250);
  EXPECT_EQ(f->find("i8")->type, ValueType::INT8);
  EXPECT_EQ(f->get_int("i8"), -120);
  EXPECT_EQ(f->find("u16")->type, ValueType::UINT16);
  EXPECT_EQ(f->get_int("u16"), 65000);
  EXPECT_EQ(f->find("i16")->type, ValueType::INT16);
  EXPECT_EQ(f->get_int("i16"), -32000);
  EXPECT_EQ(f->find("u32")->type, ValueType::UINT32);
  EXPECT_EQ(f->get_int("u32"), 4000000000ll);
  EXPECT_EQ(f->find("i32")->type, ValueType::INT32);
  EXPECT_EQ(f->get_int("i32"), -2000000000);
  EXPECT_EQ(f->find("u64")->type, ValueType::UINT64);
  EXPECT_EQ(std::get<std::uint64_t>(f->find("u64")->scalar), 0xfedcba9876543210ull);
  EXPECT_EQ(f->get_int("u64"), std::nullopt);  // out of int64 range
  EXPECT_EQ(f->find("i64")->type, ValueType::INT64);
  EXPECT_EQ(f->get_int("i64"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(f->find("f32")->type, ValueType::FLOAT32);
  EXPECT_EQ(f->get_float("f32"), static_cast<double>(1.5e-6f));
  EXPECT_EQ(f->find("f64")->type, ValueType::FLOAT64);
  EXPECT_EQ(f->get_float("f64"), -3.141592653589793);
  EXPECT_EQ(f->get_bool("yes"), true);
  EXPECT_EQ(f->get_bool("no"), false);
  EXPECT_EQ(f->get_string("str"), std::string_view("h\0llo \xe2\x9c\x93", 10));
  EXPECT_EQ(f->get_string("empty"), "");
  // Typed getters refuse other types; integers convert to float.
  EXPECT_EQ(f->get_string("u8"), std::nullopt);
  EXPECT_EQ(f->get_int("str"), std::nullopt);
  EXPECT_EQ(f->get_int("f32"), std::nullopt);
  EXPECT_EQ(f->get_bool("u8"), std::nullopt);
  EXPECT_EQ(f->get_float("i16"), -32000.0);
  EXPECT_EQ(f->get_int("missing"), std::nullopt);
  EXPECT_EQ(f->find("missing"), nullptr);
  EXPECT_TRUE(f->tensors().empty());
}

template <typename T>
void set_typed_array(Writer& w, const std::string& key, ValueType t, std::vector<T> v) {
  w.set_array(key, t, v.data(), v.size());
}

TEST(GgufWriter, EveryArrayTypeRoundTrips) {
  Writer w;
  set_typed_array<std::uint8_t>(w, "u8", ValueType::UINT8, {0, 1, 255});
  set_typed_array<std::int8_t>(w, "i8", ValueType::INT8, {-128, 0, 127});
  set_typed_array<std::uint16_t>(w, "u16", ValueType::UINT16, {0, 65535});
  set_typed_array<std::int16_t>(w, "i16", ValueType::INT16, {-32768, 32767});
  set_typed_array<std::uint32_t>(w, "u32", ValueType::UINT32, {0, 4294967295u});
  w.set_i32_array("i32", {-5, 0, 7, std::numeric_limits<std::int32_t>::max()});
  set_typed_array<std::uint64_t>(w, "u64", ValueType::UINT64, {1, 2, 3});
  set_typed_array<std::uint64_t>(w, "u64big", ValueType::UINT64, {~0ull});
  set_typed_array<std::int64_t>(w, "i64", ValueType::INT64, {-(1ll << 62), 1ll << 62});
  w.set_f32_array("f32", {0.5f, -2.25f, 1e30f});
  set_typed_array<double>(w, "f64", ValueType::FLOAT64, {0.125, -8.0});
  set_typed_array<std::uint8_t>(w, "bool", ValueType::BOOL, {1, 0, 1});
  w.set_string_array("str", {"a", "", "<|im_end|>", std::string("\0x", 2)});
  w.set_f32_array("empty", {});
  w.set_string_array("empty_str", {});
  const auto image = to_buffer(w);
  auto f = parse_ok(image);
  ASSERT_TRUE(f);

  const auto ints = [&](const char* k) { return f->get_int_array(k).value(); };
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(ints("u8"), (V{0, 1, 255}));
  EXPECT_EQ(ints("i8"), (V{-128, 0, 127}));
  EXPECT_EQ(ints("u16"), (V{0, 65535}));
  EXPECT_EQ(ints("i16"), (V{-32768, 32767}));
  EXPECT_EQ(ints("u32"), (V{0, 4294967295ll}));
  EXPECT_EQ(ints("i32"), (V{-5, 0, 7, std::numeric_limits<std::int32_t>::max()}));
  EXPECT_EQ(ints("u64"), (V{1, 2, 3}));
  EXPECT_EQ(f->get_int_array("u64big"), std::nullopt);
  EXPECT_EQ(ints("i64"), (V{-(1ll << 62), 1ll << 62}));
  EXPECT_EQ(f->get_float_array("f32").value(), (std::vector<float>{0.5f, -2.25f, 1e30f}));
  EXPECT_EQ(f->get_float_array("f64").value(), (std::vector<float>{0.125f, -8.0f}));
  EXPECT_EQ(f->get_float_array("i16").value(), (std::vector<float>{-32768.0f, 32767.0f}));
  EXPECT_EQ(f->get_int_array("f32"), std::nullopt);
  EXPECT_EQ(f->find("bool")->array_type, ValueType::BOOL);
  EXPECT_EQ(f->find("bool")->array_size, 3u);
  EXPECT_EQ(f->find("bool")->array_data[1], 0);
  const auto* strs = f->get_string_array("str");
  ASSERT_NE(strs, nullptr);
  EXPECT_EQ(*strs,
            (std::vector<std::string_view>{"a", "", "<|im_end|>", std::string_view("\0x", 2)}));
  EXPECT_EQ(f->get_string_array("f32"), nullptr);
  EXPECT_EQ(f->get_float_array("str"), std::nullopt);
  EXPECT_TRUE(f->get_float_array("empty").value().empty());
  EXPECT_TRUE(f->get_string_array("empty_str")->empty());
  for (const auto& [key, v] : f->metadata()) {
    EXPECT_EQ(v.type, ValueType::ARRAY) << key;
  }
}

TEST(GgufWriter, SettingAKeyAgainReplacesItInPlace) {
  Writer w;
  w.set_u32("a", 1);
  w.set_string("b", "x");
  w.set_string("a", "now a string");
  const auto image = to_buffer(w);
  auto f = parse_ok(image);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(f->get_string("a"), "now a string");
}

TEST(GgufWriter, CopyValueReproducesEveryType) {
  Writer w;
  w.set_u8("u8", 7);
  w.set_i16("i16", -7);
  w.set_u64("u64", 1ull << 40);
  w.set_f32("f32", 0.1f);
  w.set_f64("f64", 0.1);
  w.set_bool("b", true);
  w.set_string("s", "text");
  w.set_string_array("sa", {"x", "yz"});
  w.set_f32_array("fa", {1, 2, 3});
  set_typed_array<std::uint8_t>(w, "ba", ValueType::BOOL, {0, 1});
  const auto first = to_buffer(w);
  auto f = parse_ok(first);
  ASSERT_TRUE(f);
  Writer copy;
  for (const auto& [key, v] : f->metadata()) copy.copy_value(std::string(key), v);
  EXPECT_EQ(to_buffer(copy), first);  // byte for byte
}

// Every tensor type the engine knows, with odd shapes, in one file.
TEST(GgufWriter, EveryTensorTypeRoundTrips) {
  const ggml::Type types[] = {
      ggml::Type::F32,  ggml::Type::F16,  ggml::Type::BF16, ggml::Type::Q4_0, ggml::Type::Q4_1,
      ggml::Type::Q5_0, ggml::Type::Q5_1, ggml::Type::Q8_0, ggml::Type::Q8_1, ggml::Type::Q2_K,
      ggml::Type::Q3_K, ggml::Type::Q4_K, ggml::Type::Q5_K, ggml::Type::Q6_K, ggml::Type::Q8_K};
  Writer w;
  w.set_string("general.architecture", "test");
  std::vector<std::vector<std::uint8_t>> datas;
  std::vector<std::vector<std::int64_t>> shapes;
  int i = 0;
  for (ggml::Type t : types) {
    const auto tr = ggml::traits(static_cast<std::uint32_t>(t));
    std::vector<std::int64_t> shape = {tr.block_size * 2};
    for (int d = 0; d < i % 4; ++d) shape.push_back(d + 2);  // 1 to 4 dimensions
    std::int64_t rows = 1;
    for (std::size_t d = 1; d < shape.size(); ++d) rows *= shape[d];
    datas.push_back(random_bytes(ggml::row_bytes(t, shape[0]) * rows, i));
    shapes.push_back(shape);
    w.add_tensor("t." + std::string(tr.name), shape, t, datas.back());
    ++i;
  }
  const auto image = to_buffer(w);
  auto f = parse_ok(image);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->tensors().size(), std::size(types));
  for (std::size_t k = 0; k < std::size(types); ++k) {
    const TensorInfo& t = f->tensors()[k];
    const auto tr = ggml::traits(static_cast<std::uint32_t>(types[k]));
    EXPECT_EQ(t.name, "t." + std::string(tr.name));
    EXPECT_EQ(t.type, types[k]);
    EXPECT_EQ(t.shape, shapes[k]);
    EXPECT_EQ(t.bytes, datas[k].size());
    EXPECT_EQ(t.n_elements() / t.rows(), t.shape[0]);
    EXPECT_EQ(t.offset % 32, 0u);
    EXPECT_EQ((static_cast<const std::uint8_t*>(t.data) - f->image()) % 32, 0);
    EXPECT_EQ(std::memcmp(t.data, datas[k].data(), t.bytes), 0) << t.name;
    EXPECT_EQ(f->find_tensor(t.name), &t);
  }
  EXPECT_EQ(f->find_tensor("nope"), nullptr);
  EXPECT_EQ(f->data_offset() % 32, 0u);
}

TEST(GgufWriter, CustomAlignmentIsRecordedAndHonoured) {
  Writer w(128);
  w.add_tensor("a", {3}, ggml::Type::F32, random_bytes(12, 1));
  w.add_tensor("b", {5}, ggml::Type::F16, random_bytes(10, 2));
  const auto image = to_buffer(w);
  auto f = parse_ok(image);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->alignment(), 128u);
  EXPECT_EQ(f->get_int("general.alignment"), 128);
  EXPECT_EQ(f->find("general.alignment")->type, ValueType::UINT32);
  EXPECT_EQ(f->data_offset() % 128, 0u);
  EXPECT_EQ(f->find_tensor("b")->offset, 128u);
  EXPECT_EQ(image.size() % 128, 0u);
}

TEST(GgufWriter, FillerProducesTensorDataAtWriteTime) {
  Writer w;
  int calls = 0;
  w.add_generated_tensor("x", {8, 2}, ggml::Type::F32,
                         Writer::Filler([&](std::uint8_t* dst, std::size_t bytes, std::string*) {
                           ++calls;
                           for (std::size_t i = 0; i < bytes; ++i)
                             dst[i] = static_cast<std::uint8_t>(i);
                           return true;
                         }));
  const auto image = to_buffer(w);
  auto f = parse_ok(image);
  ASSERT_TRUE(f);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(static_cast<const std::uint8_t*>(f->find_tensor("x")->data)[63], 63);

  Writer bad;
  bad.add_generated_tensor("y", {4}, ggml::Type::F32,
                           Writer::Filler([](std::uint8_t*, std::size_t, std::string* error) {
                             *error = "generator failed";
                             return false;
                           }));
  std::vector<std::uint8_t> out;
  std::string error;
  EXPECT_FALSE(bad.write_to_buffer(&out, &error));
  EXPECT_EQ(error, "tensor 'y': generator failed");
}

TEST(GgufWriter, RejectsInvalidTensors) {
  struct Case {
    const char* what;
    std::function<void(Writer&)> add;
    const char* error;
  };
  const Case cases[] = {
      {"wrong data size",
       [](Writer& w) { w.add_tensor("a", {4}, ggml::Type::F32, random_bytes(15, 0)); },
       "tensor 'a': has 15 bytes of data, its shape and type need 16"},
      {"duplicate",
       [](Writer& w) {
         w.add_tensor("a", {1}, ggml::Type::F32, random_bytes(4, 0));
         w.add_tensor("a", {1}, ggml::Type::F32, random_bytes(4, 0));
       },
       "tensor 'a': duplicate tensor name"},
      {"block size", [](Writer& w) { w.add_tensor("q", {33}, ggml::Type::Q4_0, {}); },
       "tensor 'q': row length 33 is not a multiple of Q4_0's block size 32"},
      {"no dims", [](Writer& w) { w.add_tensor("a", {}, ggml::Type::F32, {}); },
       "tensor 'a': must have 1 to 4 dimensions"},
      {"five dims",
       [](Writer& w) {
         w.add_tensor("a", {1, 1, 1, 1, 1}, ggml::Type::F32, {});
       },
       "tensor 'a': must have 1 to 4 dimensions"},
      {"zero dim",
       [](Writer& w) {
         w.add_tensor("a", {4, 0}, ggml::Type::F32, {});
       },
       "tensor 'a': dimension 1 is not positive"},
      {"unknown type", [](Writer& w) { w.add_tensor("a", {4}, static_cast<ggml::Type>(99), {}); },
       "tensor 'a': unknown type"},
      {"empty name", [](Writer& w) { w.add_tensor("", {1}, ggml::Type::F32, random_bytes(4, 0)); },
       "tensor '': name must be 1 to 256 bytes"},
      {"alignment key", [](Writer& w) { w.set_u32("general.alignment", 64); },
       "general.alignment is set to something other than the writer's alignment 32"},
  };
  for (const Case& c : cases) {
    Writer w;
    c.add(w);
    std::vector<std::uint8_t> out;
    std::string error;
    EXPECT_FALSE(w.write_to_buffer(&out, &error)) << c.what;
    EXPECT_EQ(error, c.error) << c.what;
  }
  Writer odd(48);
  std::vector<std::uint8_t> out;
  std::string error;
  EXPECT_FALSE(odd.write_to_buffer(&out, &error));
  EXPECT_NE(error.find("alignment 48 is not a power of two"), std::string::npos) << error;
}

TEST(GgufWriter, RejectsInvalidMetadata) {
  const auto fails = [](const std::function<void(Writer&)>& set, const std::string& expect) {
    Writer w;
    set(w);
    std::vector<std::uint8_t> out;
    std::string error;
    EXPECT_FALSE(w.write_to_buffer(&out, &error)) << expect;
    EXPECT_NE(error.find(expect), std::string::npos) << error;
  };
  fails([](Writer& w) { w.set_array("a", ValueType::STRING, nullptr, 2); },
        "metadata key 'a': set_array needs a numeric or BOOL element type");
  fails([](Writer& w) { w.set_array("a", ValueType::INT32, nullptr, 2); },
        "metadata key 'a': set_array needs");
  Value nested;
  nested.type = ValueType::ARRAY;
  nested.array_type = ValueType::ARRAY;
  nested.array_size = 1;
  fails([&](Writer& w) { w.copy_value("n", nested); }, "nested arrays are not supported");
  Value unknown;
  unknown.type = static_cast<ValueType>(99);
  fails([&](Writer& w) { w.copy_value("u", unknown); }, "metadata key 'u': unknown value type 99");
  fails([](Writer& w) { w.set_u32(std::string(kMaxKeyBytes + 1, 'k'), 1); },
        "metadata key of 65537 bytes exceeds the limit of 65536");
  fails([](Writer& w) { w.set_string("s", std::string(kMaxStringBytes + 1, 'x')); },
        "metadata key 's': string of 67108865 bytes exceeds the limit");
}

TEST(GgufFile, WriteAndOpenFromDisk) {
  TempDir dir;
  Writer w;
  w.set_string("general.name", "disk");
  const auto data = random_bytes(64 * 34, 9);
  w.add_tensor("w", {64 * 32, 1}, ggml::Type::Q8_0, data);
  std::string error;
  const std::string path = dir.file("m.gguf");
  ASSERT_TRUE(w.write(path, &error)) << error;
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  auto f = File::open(path, &error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(f->get_string("general.name"), "disk");
  EXPECT_EQ(f->image_size(), fs::file_size(path));
  EXPECT_EQ(std::memcmp(f->find_tensor("w")->data, data.data(), data.size()), 0);
  // The mapping is page-aligned, so the file's alignment holds in memory too.
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f->find_tensor("w")->data) % 32, 0u);

  EXPECT_FALSE(File::open(dir.file("missing.gguf"), &error));
  EXPECT_NE(error.find("missing.gguf: cannot open"), std::string::npos) << error;
  EXPECT_FALSE(File::open(dir.file(""), &error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
  { std::ofstream(dir.file("empty.gguf")); }
  EXPECT_FALSE(File::open(dir.file("empty.gguf"), &error));
  EXPECT_NE(error.find("empty file"), std::string::npos) << error;
  { std::ofstream(dir.file("text.gguf")) << "hello world, not a model"; }
  EXPECT_FALSE(File::open(dir.file("text.gguf"), &error));
  EXPECT_NE(error.find("text.gguf: not a GGUF file"), std::string::npos) << error;
  EXPECT_FALSE(w.write(dir.file("no/such/dir/x.gguf"), &error));
  EXPECT_NE(error.find("cannot create"), std::string::npos) << error;
}

// ---------------------------------------------------------------------------------------------
// The real vocabulary files from llama.cpp

std::string shared_data() {
#ifdef INFERGATE_SHARED_DATA
  return INFERGATE_SHARED_DATA;
#else
  return "";
#endif
}

TEST(GgufFile, ReadsRealVocabularyFiles) {
  const fs::path dir = fs::path(shared_data()) / "tokenizers";
  if (!fs::exists(dir / "ggml-vocab-gpt-2.gguf"))
    GTEST_SKIP() << "shared test data absent: " << dir;
  struct Expect {
    const char* file;
    const char* model;
    std::size_t tokens;
  };
  for (const Expect& e : {Expect{"ggml-vocab-gpt-2.gguf", "gpt2", 50257},
                          Expect{"ggml-vocab-llama-spm.gguf", "llama", 32000}}) {
    std::string error;
    auto f = File::open((dir / e.file).string(), &error);
    ASSERT_TRUE(f) << error;
    EXPECT_GE(f->version(), 2u);
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), e.model) << e.file;
    const auto* tokens = f->get_string_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->size(), e.tokens) << e.file;
    EXPECT_TRUE(f->get_int("tokenizer.ggml.eos_token_id").has_value()) << e.file;
    const auto types = f->get_int_array("tokenizer.ggml.token_type");
    ASSERT_TRUE(types.has_value()) << e.file;
    EXPECT_EQ(types->size(), e.tokens);

    // Copying every key through the writer and reading it back gives the same values.
    Writer w;
    for (const auto& [key, v] : f->metadata()) w.copy_value(std::string(key), v);
    std::vector<std::uint8_t> image;
    ASSERT_TRUE(w.write_to_buffer(&image, &error)) << error;
    auto g = parse_ok(image);
    ASSERT_TRUE(g);
    ASSERT_EQ(g->metadata().size(), f->metadata().size());
    for (const auto& [key, v] : f->metadata()) {
      const Value* c = g->find(key);
      ASSERT_NE(c, nullptr) << key;
      EXPECT_EQ(c->type, v.type) << key;
      EXPECT_EQ(c->scalar, v.scalar) << key;
      EXPECT_EQ(c->array_type, v.array_type) << key;
      EXPECT_EQ(c->array_size, v.array_size) << key;
      EXPECT_EQ(c->strings, v.strings) << key;
      if (v.type == ValueType::ARRAY && v.array_type != ValueType::STRING) {
        EXPECT_EQ(g->get_int_array(key), f->get_int_array(key)) << key;
        EXPECT_EQ(g->get_float_array(key), f->get_float_array(key)) << key;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-made, corrupt files

// Emits raw GGUF bytes without any validation, to build files the Writer refuses to write.
class Raw {
 public:
  Raw& u32(std::uint32_t v) { return bytes(&v, 4); }
  Raw& u64(std::uint64_t v) { return bytes(&v, 8); }
  Raw& u8(std::uint8_t v) { return bytes(&v, 1); }
  Raw& str(std::string_view s) {
    u64(s.size());
    return bytes(s.data(), s.size());
  }
  Raw& bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), b, b + n);
    return *this;
  }
  Raw& header(std::uint64_t tensors, std::uint64_t kvs, std::uint32_t version = 3) {
    return u32(0x46554747).u32(version).u64(tensors).u64(kvs);
  }
  Raw& kv_u32(std::string_view key, std::uint32_t v) { return str(key).u32(4).u32(v); }
  Raw& tensor(std::string_view name, std::vector<std::uint64_t> dims, std::uint32_t type,
              std::uint64_t offset) {
    str(name).u32(static_cast<std::uint32_t>(dims.size()));
    for (auto d : dims) u64(d);
    return u32(type).u64(offset);
  }
  Raw& pad(std::size_t a = 32) {
    out.resize((out.size() + a - 1) / a * a, 0);
    return *this;
  }
  Raw& zeros(std::size_t n) {
    out.resize(out.size() + n, 0);
    return *this;
  }
  std::vector<std::uint8_t> out;
};

std::string parse_error(const std::vector<std::uint8_t>& image) {
  // An exactly-sized heap copy, so ASan catches any read past the end.
  std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[image.size() + (image.empty() ? 1 : 0)]);
  if (!image.empty()) std::memcpy(buf.get(), image.data(), image.size());
  std::string error;
  auto f = File::parse(buf.get(), image.size(), &error);
  if (f) return "<parsed>";
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(GgufCorrupt, HandMadeValidFileParses) {
  // The baseline the corruptions below start from must itself be valid.
  Raw r;
  r.header(2, 1).kv_u32("general.alignment", 32);
  r.tensor("a", {8}, 0, 0).tensor("b", {32, 2}, 8, 32).pad().zeros(32 + 68).pad();
  EXPECT_EQ(parse_error(r.out), "<parsed>");
}

TEST(GgufCorrupt, TruncatedAtEveryOffsetFails) {
  Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "<s>"});
  w.set_f32_array("tokenizer.ggml.scores", {0, -1, -2});
  w.add_tensor("token_embd.weight", {32, 3}, ggml::Type::Q8_0, random_bytes(34 * 3, 1));
  w.add_tensor("output_norm.weight", {8}, ggml::Type::F32, random_bytes(32, 2));
  const auto image = to_buffer(w);
  ASSERT_EQ(image.size() % 32, 0u);  // last tensor ends exactly at the end: no slack
  ASSERT_TRUE(parse_ok(image));
  for (std::size_t n = 0; n < image.size(); ++n) {
    const std::vector<std::uint8_t> cut(image.begin(), image.begin() + static_cast<long>(n));
    EXPECT_NE(parse_error(cut), "<parsed>") << "truncated to " << n << " bytes";
  }
}

TEST(GgufCorrupt, ErrorsNameTheProblem) {
  struct Case {
    const char* what;
    std::vector<std::uint8_t> image;
    const char* error;  // a substring of the message
  };
  const std::uint64_t huge = ~0ull;
  std::vector<Case> cases;
  const auto add = [&](const char* what, Raw r, const char* error) {
    cases.push_back({what, std::move(r.out), error});
  };
  add("empty", Raw(), "too short for the magic");
  add("bad magic", Raw().u32(0x46554746).u32(3).u64(0).u64(0),
      "not a GGUF file: magic is 46 47 55 46");
  add("version 1", Raw().header(0, 0, 1), "GGUF version 1 is not supported");
  add("version 4", Raw().header(0, 0, 4), "unsupported GGUF version 4");
  add("big endian", Raw().header(0, 0, 0x03000000), "big-endian GGUF files are not supported");
  add("huge tensor count", Raw().header(huge, 0), "tensor count 18446744073709551615 exceeds");
  add("huge kv count", Raw().header(0, 1ull << 40), "metadata count 1099511627776 exceeds");
  add("counts beyond the file", Raw().header(1000, 1000).zeros(64), "cannot fit in the 64 bytes");
  add("key longer than the file", Raw().header(0, 1).u64(1000).zeros(20),
      "metadata entry 0 key at byte 24: length 1000 exceeds the 20 bytes left");
  add("key over the limit", Raw().header(0, 1).u64(huge).zeros(20), "exceeds the limit of 65536");
  add("unknown value type", Raw().header(0, 1).str("k").u32(13).u32(0),
      "metadata entry 0 ('k') at byte 33: unknown value type 13");
  add("string length huge", Raw().header(0, 1).str("k").u32(8).u64(huge),
      "exceeds the limit of 67108864 bytes");
  add("string past end", Raw().header(0, 1).str("k").u32(8).u64(100).zeros(10),
      "length 100 exceeds the 10 bytes left");
  add("array length huge", Raw().header(0, 1).str("k").u32(9).u32(4).u64(huge).zeros(8),
      "array of 18446744073709551615 UINT32 needs more bytes");
  add("array past end", Raw().header(0, 1).str("k").u32(9).u32(4).u64(10).zeros(8),
      "array of 10 UINT32 needs 40 bytes, only 8 left");
  add("string array huge", Raw().header(0, 1).str("k").u32(9).u32(8).u64(1ull << 60).zeros(8),
      "strings cannot fit");
  add("nested array", Raw().header(0, 1).str("k").u32(9).u32(9).u64(1).u32(4).u64(0),
      "nested arrays are not supported");
  add("unknown array type", Raw().header(0, 1).str("k").u32(9).u32(77).u64(0),
      "unknown array element type 77");
  add("bool 2", Raw().header(0, 1).str("k").u32(7).u8(2).zeros(12),
      "BOOL value 2 is neither 0 nor 1");
  add("duplicate key", Raw().header(0, 2).kv_u32("k", 1).kv_u32("k", 2),
      "metadata entry 1 ('k'): duplicate key");
  add("alignment 0", Raw().header(0, 1).kv_u32("general.alignment", 0).zeros(40),
      "general.alignment 0 is not a power of two");
  add("alignment 48", Raw().header(0, 1).kv_u32("general.alignment", 48).zeros(40),
      "general.alignment 48 is not a power of two");
  add("alignment string", Raw().header(0, 1).str("general.alignment").u32(8).str("32").zeros(40),
      "general.alignment has type STRING");
  add("tensor name huge", Raw().header(1, 0).u64(huge).zeros(64),
      "tensor 0 name at byte 24: length 18446744073709551615 exceeds the limit of 256");
  add("tensor empty name", Raw().header(1, 0).str("").zeros(64), "tensor 0: empty name");
  add("zero dims", Raw().header(1, 0).tensor("t", {}, 0, 0).zeros(64),
      "tensor 't' at byte 33: 0 dimensions (must be 1 to 4)");
  add("five dims", Raw().header(1, 0).str("t").u32(5).zeros(80), "5 dimensions (must be 1 to 4)");
  add("dimension zero", Raw().header(1, 0).tensor("t", {4, 0}, 0, 0).pad().zeros(64),
      "tensor 't': dimension 1 is 0");
  add("negative dimension", Raw().header(1, 0).tensor("t", {huge}, 0, 0).pad().zeros(64),
      "tensor 't': element count overflows");
  add("overflowing shape",
      Raw().header(1, 0).tensor("t", {1ull << 32, 1ull << 32}, 0, 0).pad().zeros(64),
      "tensor 't': element count overflows");
  add("overflowing bytes",
      Raw().header(1, 0).tensor("t", {1ull << 31, 1ull << 31}, 0, 0).pad().zeros(64),
      "tensor 't': byte size overflows");
  add("unknown tensor type", Raw().header(1, 0).tensor("t", {4}, 4, 0).pad().zeros(64),
      "unknown tensor type 4");
  add("block size", Raw().header(1, 0).tensor("t", {33}, 2, 0).pad().zeros(64),
      "tensor 't': row length 33 is not a multiple of Q4_0's block size 32");
  add("misaligned offset", Raw().header(1, 0).tensor("t", {4}, 0, 16).pad().zeros(64),
      "tensor 't': offset 16 is not a multiple of the alignment 32");
  add("misaligned offset (custom alignment)",
      Raw().header(1, 1).kv_u32("general.alignment", 64).tensor("t", {4}, 0, 32).pad(64).zeros(128),
      "offset 32 is not a multiple of the alignment 64");
  add("data past the end",
      Raw().header(1, 0).tensor("blk.0.attn_q.weight", {64, 64}, 0, 0).pad().zeros(100),
      "tensor 'blk.0.attn_q.weight': data ends at byte 16480 past the end of the file (196 bytes)");
  add("offset past the end", Raw().header(1, 0).tensor("t", {4}, 0, 1ull << 62).pad().zeros(64),
      "tensor 't': data ends at byte 4611686018427387984 past the end of the file");
  add("offset overflowing", Raw().header(1, 0).tensor("t", {8}, 0, huge - 31).pad().zeros(64),
      "tensor 't': data ends at byte beyond 2^64");
  add("data section past the end", Raw().header(1, 0).tensor("t", {1}, 0, 0),
      "the tensor data section would start at byte 64, past the end of the file (57 bytes)");
  add("overlapping tensors",
      Raw().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad().zeros(128),
      "tensors 'a' (bytes 0..64 of the data section) and 'b' (from byte 32) overlap");
  add("duplicate tensor",
      Raw().header(2, 0).tensor("a", {4}, 0, 0).tensor("a", {4}, 0, 32).pad().zeros(64),
      "tensor 'a': duplicate tensor name");
  add("unprintable name", Raw().header(1, 0).tensor("\x01\xff", {4}, 77, 0).pad().zeros(64),
      "tensor '\\x01\\xff' at byte 46: unknown tensor type 77");

  for (const Case& c : cases) {
    const std::string error = parse_error(c.image);
    EXPECT_NE(error.find(c.error), std::string::npos)
        << c.what << ": expected \"" << c.error << "\" in \"" << error << "\"";
  }
}

// Random single-byte and 8-byte corruptions of a valid model-like file never crash; most fail.
TEST(GgufCorrupt, RandomCorruptionsNeverCrash) {
  Writer w;
  w.set_string("general.architecture", "llama");
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "c", "d"});
  w.set_i32_array("tokenizer.ggml.token_type", {1, 1, 3, 3});
  w.add_tensor("x", {64, 2}, ggml::Type::Q4_0, random_bytes(36 * 2, 3));
  w.add_tensor("y", {256}, ggml::Type::Q6_K, random_bytes(210, 4));
  const auto image = to_buffer(w);
  std::mt19937_64 rng(42);
  int failures = 0;
  for (int i = 0; i < 4000; ++i) {
    auto bad = image;
    const std::size_t at = rng() % bad.size();
    if (i % 2) {
      bad[at] = static_cast<std::uint8_t>(rng());
    } else {
      const std::uint64_t v = rng() % 3 == 0 ? ~0ull : rng() >> (rng() % 64);
      std::memcpy(bad.data() + std::min(at, bad.size() - 8), &v, 8);
    }
    if (parse_error(bad) != "<parsed>") ++failures;
  }
  EXPECT_GT(failures, 1000);
}

// The committed fuzz seeds are valid files (so the fuzzer starts from deep inside the parser).
// With INFERGATE_WRITE_FUZZ_CORPUS=DIR set, this test (re)writes them there first.
TEST(GgufFuzzCorpus, SeedsAreValidFiles) {
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> seeds;
  {
    Writer w;
    w.set_string("general.architecture", "llama");
    w.set_string("general.name", "seed");
    w.set_u32("llama.block_count", 1);
    w.set_f32("llama.rope.freq_base", 10000.0f);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_i64("i64", -1);
    w.set_f64("f64", 0.5);
    w.set_u8("u8", 1);
    w.set_i16("i16", -2);
    w.add_tensor("token_embd.weight", {32, 4}, ggml::Type::Q8_0, random_bytes(34 * 4, 5));
    w.add_tensor("blk.0.attn_norm.weight", {32}, ggml::Type::F32, random_bytes(128, 6));
    w.add_tensor("blk.0.ffn_down.weight", {256, 1}, ggml::Type::Q4_K, random_bytes(144, 7));
    w.add_tensor("output.weight", {16, 2, 1, 1}, ggml::Type::F16, random_bytes(64, 8));
    seeds.emplace_back("model-tiny.gguf", to_buffer(w));
  }
  {
    Writer w;
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<std::int32_t> types;
    for (int i = 0; i < 48; ++i) {
      tokens.push_back(i < 3 ? std::vector<std::string>{"<unk>", "<s>", "</s>"}[i]
                             : std::string(1, static_cast<char>('a' + i % 26)) + std::to_string(i));
      scores.push_back(-static_cast<float>(i));
      types.push_back(i < 3 ? 3 : 1);
    }
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string_array("tokenizer.ggml.tokens", tokens);
    w.set_f32_array("tokenizer.ggml.scores", scores);
    w.set_i32_array("tokenizer.ggml.token_type", types);
    w.set_string_array("tokenizer.ggml.merges", {"a b", "ab c", "x y"});
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    w.set_string("tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}");
    seeds.emplace_back("vocab-tiny.gguf", to_buffer(w));
  }
  {
    Writer w(64);
    w.set_string("general.architecture", "qwen2");
    w.add_tensor("blk.0.attn_q.bias", {8}, ggml::Type::F32, random_bytes(32, 9));
    w.add_tensor("blk.0.attn_q.weight", {32, 2}, ggml::Type::Q4_0, random_bytes(36, 10));
    w.add_tensor("blk.0.ffn_up.weight", {256}, ggml::Type::Q6_K, random_bytes(210, 11));
    w.add_tensor("blk.0.ffn_gate.weight", {32}, ggml::Type::Q5_0, random_bytes(22, 12));
    w.add_tensor("bf", {4}, ggml::Type::BF16, random_bytes(8, 13));
    auto image = to_buffer(w);
    seeds.emplace_back("align64-v3.gguf", image);
    image[4] = 2;  // the same layout as a version 2 file
    seeds.emplace_back("align64-v2.gguf", image);
  }
  if (const char* out = std::getenv("INFERGATE_WRITE_FUZZ_CORPUS")) {
    for (const auto& [name, bytes] : seeds) {
      std::ofstream f(fs::path(out) / name, std::ios::binary);
      f.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
      ASSERT_TRUE(f.good()) << name;
    }
  }
  for (const auto& [name, bytes] : seeds) {
    ASSERT_TRUE(parse_ok(bytes)) << name;
    EXPECT_LT(bytes.size(), 8192u) << name;
  }
#ifdef INFERGATE_SOURCE_DIR
  const fs::path dir = fs::path(INFERGATE_SOURCE_DIR) / "local-backend/gguf/fuzz-corpus";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
    EXPECT_TRUE(parse_ok(bytes)) << e.path();
    ++n;
  }
  EXPECT_GE(n, 4);
#endif
}

}  // namespace
}  // namespace infergate::engine::gguf
