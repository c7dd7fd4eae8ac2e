#include "gguf/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <utility>

namespace infergate::engine::gguf {

static_assert(std::endian::native == std::endian::little,
              "GGUF is read in place: little-endian hosts only");

namespace {

constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
// Smallest possible encodings, used to bound counts by the bytes left before allocating.
constexpr std::uint64_t kMinKvBytes = 8 + 4 + 1;  // key length, type, 1-byte value
constexpr std::uint64_t kMinTensorBytes =
    8 + 4 + 8 + 4 + 8;  // name length, n_dims, 1 dim, type, offset

std::string str(std::uint64_t v) { return std::to_string(v); }

// Printable, bounded rendering of a name read from the file, for error messages.
std::string quoted(std::string_view s) {
  std::string out = "'";
  const std::size_t n = std::min<std::size_t>(s.size(), 80);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > n) out += "...";
  return out + "'";
}

// Size of one element of a fixed-size value type; 0 for STRING, ARRAY and unknown ids.
std::size_t fixed_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return 8;
    case ValueType::STRING:
    case ValueType::ARRAY:
      return 0;
  }
  return 0;
}

bool is_known(std::uint32_t t) { return t <= static_cast<std::uint32_t>(ValueType::FLOAT64); }

bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

template <typename T>
T load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Decodes one fixed-size element into the scalar variant.
void decode_scalar(ValueType t, const std::uint8_t* p, Value* v) {
  switch (t) {
    case ValueType::UINT8:
      v->scalar = std::uint64_t{load<std::uint8_t>(p)};
      break;
    case ValueType::INT8:
      v->scalar = std::int64_t{load<std::int8_t>(p)};
      break;
    case ValueType::UINT16:
      v->scalar = std::uint64_t{load<std::uint16_t>(p)};
      break;
    case ValueType::INT16:
      v->scalar = std::int64_t{load<std::int16_t>(p)};
      break;
    case ValueType::UINT32:
      v->scalar = std::uint64_t{load<std::uint32_t>(p)};
      break;
    case ValueType::INT32:
      v->scalar = std::int64_t{load<std::int32_t>(p)};
      break;
    case ValueType::UINT64:
      v->scalar = load<std::uint64_t>(p);
      break;
    case ValueType::INT64:
      v->scalar = load<std::int64_t>(p);
      break;
    case ValueType::FLOAT32:
      v->scalar = double{load<float>(p)};
      break;
    case ValueType::FLOAT64:
      v->scalar = load<double>(p);
      break;
    case ValueType::BOOL:
      v->scalar = load<std::uint8_t>(p) != 0;
      break;
    case ValueType::STRING:
    case ValueType::ARRAY:
      break;
  }
}

// Integer element i of a numeric array as int64 (nullopt: not an integer type or out of range).
std::optional<std::int64_t> int_element(ValueType t, const std::uint8_t* base, std::uint64_t i) {
  const std::uint8_t* p = base + i * fixed_size(t);
  switch (t) {
    case ValueType::UINT8:
      return load<std::uint8_t>(p);
    case ValueType::INT8:
      return load<std::int8_t>(p);
    case ValueType::UINT16:
      return load<std::uint16_t>(p);
    case ValueType::INT16:
      return load<std::int16_t>(p);
    case ValueType::UINT32:
      return load<std::uint32_t>(p);
    case ValueType::INT32:
      return load<std::int32_t>(p);
    case ValueType::INT64:
      return load<std::int64_t>(p);
    case ValueType::UINT64: {
      const std::uint64_t u = load<std::uint64_t>(p);
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return std::nullopt;
      return static_cast<std::int64_t>(u);
    }
    default:
      return std::nullopt;
  }
}

// Bounds-checked little-endian cursor over the image. Every read names what it reads, so that
// an error says what was being read and at which byte.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size, std::string* error)
      : data_(data), size_(size), error_(error) {}

  std::size_t pos() const { return pos_; }
  std::uint64_t left() const { return size_ - pos_; }

  bool fail(const std::string& what) {
    if (error_) *error_ = what;
    return false;
  }

  bool need(std::uint64_t n, const std::string& what) {
    if (n > left())
      return fail(what + " at byte " + str(pos_) + ": needs " + str(n) + " bytes, only " +
                  str(left()) + " left in the file (" + str(size_) + " bytes)");
    return true;
  }

  template <typename T>
  bool read(T* out, const std::string& what) {
    if (!need(sizeof(T), what)) return false;
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  const std::uint8_t* take(std::uint64_t n, const std::string& what) {
    if (!need(n, what)) return nullptr;
    const std::uint8_t* p = data_ + pos_;
    pos_ += static_cast<std::size_t>(n);
    return p;
  }

  bool string(std::string_view* out, std::uint64_t limit, const std::string& what) {
    const std::size_t at = pos_;
    std::uint64_t len = 0;
    if (!read(&len, what + " (length)")) return false;
    if (len > limit)
      return fail(what + " at byte " + str(at) + ": length " + str(len) + " exceeds the limit of " +
                  str(limit) + " bytes");
    if (len > left())
      return fail(what + " at byte " + str(at) + ": length " + str(len) + " exceeds the " +
                  str(left()) + " bytes left in the file (" + str(size_) + " bytes)");
    *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += static_cast<std::size_t>(len);
    return true;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::string* error_;
};

struct SvHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
      return "UINT8";
    case ValueType::INT8:
      return "INT8";
    case ValueType::UINT16:
      return "UINT16";
    case ValueType::INT16:
      return "INT16";
    case ValueType::UINT32:
      return "UINT32";
    case ValueType::INT32:
      return "INT32";
    case ValueType::FLOAT32:
      return "FLOAT32";
    case ValueType::BOOL:
      return "BOOL";
    case ValueType::STRING:
      return "STRING";
    case ValueType::ARRAY:
      return "ARRAY";
    case ValueType::UINT64:
      return "UINT64";
    case ValueType::INT64:
      return "INT64";
    case ValueType::FLOAT64:
      return "FLOAT64";
  }
  return "unknown";
}

std::int64_t TensorInfo::n_elements() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::int64_t TensorInfo::rows() const {
  std::int64_t n = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

// ---------------------------------------------------------------------------------------------
// Reader

struct File::Impl {
  void* map = nullptr;  // owned mapping (open()); parse() borrows the caller's bytes
  std::size_t map_size = 0;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::uint32_t version = 0;
  std::uint32_t alignment = kDefaultAlignment;
  std::size_t data_offset = 0;
  std::vector<std::pair<std::string_view, Value>> kv;
  std::unordered_map<std::string_view, std::size_t, SvHash, std::equal_to<>> kv_index;
  std::vector<TensorInfo> tensors;
  std::unordered_map<std::string_view, std::size_t, SvHash, std::equal_to<>> tensor_index;

  ~Impl() {
    if (map) munmap(map, map_size);
  }

  bool parse(std::string* error);
  bool parse_value(Cursor& c, ValueType type, Value* v, const std::string& what);
};

bool File::Impl::parse_value(Cursor& c, ValueType type, Value* v, const std::string& what) {
  v->type = type;
  if (type == ValueType::STRING) {
    std::string_view s;
    if (!c.string(&s, kMaxStringBytes, what)) return false;
    v->scalar = s;
    return true;
  }
  if (type != ValueType::ARRAY) {
    const std::uint8_t* p = c.take(fixed_size(type), what);
    if (!p) return false;
    decode_scalar(type, p, v);
    if (type == ValueType::BOOL && p[0] > 1)
      return c.fail(what + " at byte " + str(c.pos() - 1) + ": BOOL value " + str(p[0]) +
                    " is neither 0 nor 1");
    return true;
  }
  const std::size_t at = c.pos();
  std::uint32_t elem = 0;
  std::uint64_t count = 0;
  if (!c.read(&elem, what + " (array element type)")) return false;
  if (!is_known(elem))
    return c.fail(what + " at byte " + str(at) + ": unknown array element type " + str(elem));
  const auto et = static_cast<ValueType>(elem);
  if (et == ValueType::ARRAY)
    return c.fail(what + " at byte " + str(at) + ": nested arrays are not supported");
  if (!c.read(&count, what + " (array length)")) return false;
  v->array_type = et;
  v->array_size = count;
  if (et == ValueType::STRING) {
    // Each element is at least its 8-byte length.
    if (count > c.left() / 8)
      return c.fail(what + " at byte " + str(at) + ": array of " + str(count) +
                    " strings cannot fit in the " + str(c.left()) + " bytes left");
    v->strings.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
      std::string_view s;
      if (!c.string(&s, kMaxStringBytes, what + ", string " + str(i))) return false;
      v->strings.push_back(s);
    }
    return true;
  }
  const std::size_t es = fixed_size(et);
  if (count > c.left() / es)
    return c.fail(what + " at byte " + str(at) + ": array of " + str(count) + " " +
                  std::string(value_type_name(et)) + " needs " +
                  (count > std::numeric_limits<std::uint64_t>::max() / es ? std::string("more")
                                                                          : str(count * es)) +
                  " bytes, only " + str(c.left()) + " left");
  v->array_data = c.take(count * es, what);
  if (!v->array_data) return false;
  if (et == ValueType::BOOL) {
    for (std::uint64_t i = 0; i < count; ++i)
      if (v->array_data[i] > 1)
        return c.fail(what + ": BOOL element " + str(i) + " is neither 0 nor 1");
  }
  return true;
}

bool File::Impl::parse(std::string* error) {
  Cursor c(data, size, error);
  std::uint32_t magic = 0;
  if (size < 4) return c.fail("not a GGUF file: " + str(size) + " bytes, too short for the magic");
  c.read(&magic, "magic");
  if (magic != kMagic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "not a GGUF file: magic is %02x %02x %02x %02x", data[0],
                  data[1], data[2], data[3]);
    return c.fail(buf);
  }
  if (!c.read(&version, "version")) return false;
  if ((version & 0xffff) == 0 &&
      (__builtin_bswap32(version) == 2 || __builtin_bswap32(version) == 3))
    return c.fail("big-endian GGUF files are not supported (version field reads " +
                  str(__builtin_bswap32(version)) + " byte-swapped)");
  if (version == 1) return c.fail("GGUF version 1 is not supported (only versions 2 and 3)");
  if (version != 2 && version != 3)
    return c.fail("unsupported GGUF version " + str(version) + " (only versions 2 and 3)");

  std::uint64_t n_tensors = 0, n_kv = 0;
  if (!c.read(&n_tensors, "tensor count")) return false;
  if (!c.read(&n_kv, "metadata count")) return false;
  if (n_tensors > kMaxTensors)
    return c.fail("tensor count " + str(n_tensors) + " exceeds the limit of " + str(kMaxTensors));
  if (n_kv > kMaxKeyValues)
    return c.fail("metadata count " + str(n_kv) + " exceeds the limit of " + str(kMaxKeyValues));
  if (n_tensors * kMinTensorBytes + n_kv * kMinKvBytes > c.left())
    return c.fail(str(n_tensors) + " tensors and " + str(n_kv) +
                  " metadata entries cannot fit in the " + str(c.left()) +
                  " bytes left in the file");

  kv.reserve(static_cast<std::size_t>(n_kv));
  kv_index.reserve(static_cast<std::size_t>(n_kv));
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    const std::string entry = "metadata entry " + str(i);
    std::string_view key;
    if (!c.string(&key, kMaxKeyBytes, entry + " key")) return false;
    const std::string what = entry + " (" + quoted(key) + ")";
    const std::size_t type_at = c.pos();
    std::uint32_t type = 0;
    if (!c.read(&type, what + " type")) return false;
    if (!is_known(type))
      return c.fail(what + " at byte " + str(type_at) + ": unknown value type " + str(type));
    Value v;
    if (!parse_value(c, static_cast<ValueType>(type), &v, what)) return false;
    if (!kv_index.emplace(key, kv.size()).second) return c.fail(what + ": duplicate key");
    kv.emplace_back(key, std::move(v));
  }

  if (auto it = kv_index.find(std::string_view("general.alignment")); it != kv_index.end()) {
    const Value& v = kv[it->second].second;
    if (!is_integer(v.type))
      return c.fail("general.alignment has type " + std::string(value_type_name(v.type)) +
                    ", expected an integer");
    std::uint64_t a = 0;
    if (const auto* u = std::get_if<std::uint64_t>(&v.scalar)) a = *u;
    if (const auto* s = std::get_if<std::int64_t>(&v.scalar)) a = *s < 0 ? 0 : *s;
    if (a == 0 || !std::has_single_bit(a) || a > kMaxAlignment)
      return c.fail("general.alignment " + str(a) + " is not a power of two up to " +
                    str(kMaxAlignment));
    alignment = static_cast<std::uint32_t>(a);
  }

  tensors.reserve(static_cast<std::size_t>(n_tensors));
  tensor_index.reserve(static_cast<std::size_t>(n_tensors));
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    if (!c.string(&t.name, kMaxTensorNameBytes, "tensor " + str(i) + " name")) return false;
    const std::string what = "tensor " + quoted(t.name);
    if (t.name.empty()) return c.fail("tensor " + str(i) + ": empty name");
    std::uint32_t n_dims = 0;
    const std::size_t dims_at = c.pos();
    if (!c.read(&n_dims, what + " dimension count")) return false;
    if (n_dims < 1 || n_dims > kMaxDims)
      return c.fail(what + " at byte " + str(dims_at) + ": " + str(n_dims) +
                    " dimensions (must be 1 to " + str(kMaxDims) + ")");
    std::uint64_t elements = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      std::uint64_t ne = 0;
      if (!c.read(&ne, what + " dimension " + str(d))) return false;
      if (ne == 0) return c.fail(what + ": dimension " + str(d) + " is 0");
      if (ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
          __builtin_mul_overflow(elements, ne, &elements) ||
          elements > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return c.fail(what + ": element count overflows");
      t.shape.push_back(static_cast<std::int64_t>(ne));
    }
    std::uint32_t type = 0;
    const std::size_t type_at = c.pos();
    if (!c.read(&type, what + " type")) return false;
    const ggml::TypeTraits tr = ggml::traits(type);
    if (tr.name == nullptr || tr.block_size <= 0)
      return c.fail(what + " at byte " + str(type_at) + ": unknown tensor type " + str(type));
    t.type = static_cast<ggml::Type>(type);
    if (t.shape[0] % tr.block_size != 0)
      return c.fail(what + ": row length " + str(t.shape[0]) + " is not a multiple of " + tr.name +
                    "'s block size " + str(tr.block_size));
    std::uint64_t bytes = static_cast<std::uint64_t>(t.shape[0] / tr.block_size) * tr.type_size;
    if (__builtin_mul_overflow(bytes, elements / static_cast<std::uint64_t>(t.shape[0]), &bytes) ||
        bytes > std::numeric_limits<std::size_t>::max())
      return c.fail(what + ": byte size overflows");
    t.bytes = static_cast<std::size_t>(bytes);
    if (!c.read(&t.offset, what + " offset")) return false;
    if (t.offset % alignment != 0)
      return c.fail(what + ": offset " + str(t.offset) + " is not a multiple of the alignment " +
                    str(alignment));
    if (!tensor_index.emplace(t.name, tensors.size()).second)
      return c.fail(what + ": duplicate tensor name");
    tensors.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment. A file without tensors may
  // end right after its metadata.
  const std::uint64_t header_end = c.pos();
  const std::uint64_t start = (header_end + alignment - 1) / alignment * alignment;
  data_offset = static_cast<std::size_t>(std::min<std::uint64_t>(start, size));
  if (tensors.empty()) return true;
  if (start > size)
    return c.fail("the tensor data section would start at byte " + str(start) +
                  ", past the end of the file (" + str(size) + " bytes)");
  const std::uint64_t section = size - start;
  for (TensorInfo& t : tensors) {
    if (t.bytes > section || t.offset > section - t.bytes) {
      std::uint64_t end = 0;
      const bool overflow = __builtin_add_overflow(start, t.offset, &end) ||
                            __builtin_add_overflow(end, std::uint64_t{t.bytes}, &end);
      return c.fail("tensor " + quoted(t.name) + ": data ends at byte " +
                    (overflow ? std::string("beyond 2^64") : str(end)) +
                    " past the end of the file (" + str(size) + " bytes)");
    }
    t.data = data + start + t.offset;
  }
  std::vector<std::size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return tensors[a].offset < tensors[b].offset; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const TensorInfo& a = tensors[order[i - 1]];
    const TensorInfo& b = tensors[order[i]];
    if (a.offset + a.bytes > b.offset)
      return c.fail("tensors " + quoted(a.name) + " (bytes " + str(a.offset) + ".." +
                    str(a.offset + a.bytes) + " of the data section) and " + quoted(b.name) +
                    " (from byte " + str(b.offset) + ") overlap");
  }
  return true;
}

File::File() : impl_(std::make_unique<Impl>()) {}
File::~File() = default;

std::unique_ptr<File> File::open(const std::string& path, std::string* error) {
  std::string local_error;
  if (!error) error = &local_error;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = path + ": not a regular file";
    ::close(fd);
    return nullptr;
  }
  if (st.st_size <= 0) {
    *error = path + ": empty file";
    ::close(fd);
    return nullptr;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED) {
    *error = path + ": cannot map: " + std::strerror(map_errno);
    return nullptr;
  }
  std::unique_ptr<File> f(new File());
  f->impl_->map = map;
  f->impl_->map_size = size;
  f->impl_->data = static_cast<const std::uint8_t*>(map);
  f->impl_->size = size;
  if (!f->impl_->parse(error)) {
    *error = path + ": " + *error;
    return nullptr;
  }
  return f;
}

std::unique_ptr<File> File::parse(const void* data, std::size_t size, std::string* error) {
  std::string local_error;
  if (!error) error = &local_error;
  if (data == nullptr && size != 0) {
    *error = "null data";
    return nullptr;
  }
  std::unique_ptr<File> f(new File());
  static const std::uint8_t kEmpty = 0;
  f->impl_->data = data ? static_cast<const std::uint8_t*>(data) : &kEmpty;
  f->impl_->size = size;
  if (!f->impl_->parse(error)) return nullptr;
  return f;
}

std::uint32_t File::version() const { return impl_->version; }
std::uint32_t File::alignment() const { return impl_->alignment; }
const std::uint8_t* File::image() const { return impl_->data; }
std::size_t File::image_size() const { return impl_->size; }

void File::release_pages(const void* p, std::size_t bytes) const {
  if (impl_->map == nullptr || p == nullptr) return;
  const auto base = reinterpret_cast<std::uintptr_t>(impl_->map);
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  if (begin < base || bytes > impl_->map_size || begin - base > impl_->map_size - bytes) return;
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size <= 0) return;
  const auto page = static_cast<std::uintptr_t>(page_size);
  const std::uintptr_t first = (begin + page - 1) / page * page;
  const std::uintptr_t last = (begin + bytes) / page * page;
  if (last > first) {
    // A private, never written file mapping: MADV_DONTNEED only unmaps the page-cache pages.
    madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  }
}
std::size_t File::data_offset() const { return impl_->data_offset; }

const Value* File::find(std::string_view key) const {
  auto it = impl_->kv_index.find(key);
  return it == impl_->kv_index.end() ? nullptr : &impl_->kv[it->second].second;
}

std::optional<std::string_view> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::STRING) return std::nullopt;
  return std::get<std::string_view>(v->scalar);
}

std::optional<std::int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v || !is_integer(v->type)) return std::nullopt;
  if (const auto* s = std::get_if<std::int64_t>(&v->scalar)) return *s;
  const std::uint64_t u = std::get<std::uint64_t>(v->scalar);
  if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return static_cast<std::int64_t>(u);
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == ValueType::FLOAT32 || v->type == ValueType::FLOAT64)
    return std::get<double>(v->scalar);
  if (!is_integer(v->type)) return std::nullopt;
  if (const auto* s = std::get_if<std::int64_t>(&v->scalar)) return static_cast<double>(*s);
  return static_cast<double>(std::get<std::uint64_t>(v->scalar));
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::BOOL) return std::nullopt;
  return std::get<bool>(v->scalar);
}

std::optional<std::vector<std::int64_t>> File::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::ARRAY || !is_integer(v->array_type)) return std::nullopt;
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(v->array_size));
  for (std::uint64_t i = 0; i < v->array_size; ++i) {
    auto e = int_element(v->array_type, v->array_data, i);
    if (!e) return std::nullopt;
    out.push_back(*e);
  }
  return out;
}

std::optional<std::vector<float>> File::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::ARRAY) return std::nullopt;
  const ValueType t = v->array_type;
  std::vector<float> out;
  if (t == ValueType::FLOAT32) {
    out.resize(static_cast<std::size_t>(v->array_size));
    if (!out.empty()) std::memcpy(out.data(), v->array_data, out.size() * sizeof(float));
    return out;
  }
  out.reserve(static_cast<std::size_t>(v->array_size));
  if (t == ValueType::FLOAT64) {
    for (std::uint64_t i = 0; i < v->array_size; ++i)
      out.push_back(static_cast<float>(load<double>(v->array_data + i * 8)));
    return out;
  }
  if (t == ValueType::UINT64) {
    for (std::uint64_t i = 0; i < v->array_size; ++i)
      out.push_back(static_cast<float>(load<std::uint64_t>(v->array_data + i * 8)));
    return out;
  }
  if (!is_integer(t)) return std::nullopt;
  for (std::uint64_t i = 0; i < v->array_size; ++i)
    out.push_back(static_cast<float>(*int_element(t, v->array_data, i)));
  return out;
}

const std::vector<std::string_view>* File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type != ValueType::ARRAY || v->array_type != ValueType::STRING) return nullptr;
  return &v->strings;
}

const std::vector<TensorInfo>& File::tensors() const { return impl_->tensors; }

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(name);
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const std::vector<std::pair<std::string_view, Value>>& File::metadata() const { return impl_->kv; }

// ---------------------------------------------------------------------------------------------
// Writer

namespace {

void put_bytes(std::vector<std::uint8_t>* out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  out->insert(out->end(), b, b + n);
}

template <typename T>
void put(std::vector<std::uint8_t>* out, T v) {
  put_bytes(out, &v, sizeof v);
}

void put_string(std::vector<std::uint8_t>* out, std::string_view s) {
  put<std::uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

// Encodes a scalar of fixed-size type `t` from whatever alternative the variant holds.
void put_scalar(
    std::vector<std::uint8_t>* out, ValueType t,
    const std::variant<std::uint64_t, std::int64_t, double, bool, std::string_view>& s) {
  const auto as_u64 = [&]() -> std::uint64_t {
    return std::visit(
        [](const auto& x) -> std::uint64_t {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<X, std::string_view>)
            return 0;
          else
            return static_cast<std::uint64_t>(x);
        },
        s);
  };
  const auto as_i64 = [&]() -> std::int64_t {
    return std::visit(
        [](const auto& x) -> std::int64_t {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<X, std::string_view>)
            return 0;
          else
            return static_cast<std::int64_t>(x);
        },
        s);
  };
  const auto as_f64 = [&]() -> double {
    return std::visit(
        [](const auto& x) -> double {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<X, std::string_view>)
            return 0;
          else
            return static_cast<double>(x);
        },
        s);
  };
  switch (t) {
    case ValueType::UINT8:
      put(out, static_cast<std::uint8_t>(as_u64()));
      break;
    case ValueType::INT8:
      put(out, static_cast<std::int8_t>(as_i64()));
      break;
    case ValueType::UINT16:
      put(out, static_cast<std::uint16_t>(as_u64()));
      break;
    case ValueType::INT16:
      put(out, static_cast<std::int16_t>(as_i64()));
      break;
    case ValueType::UINT32:
      put(out, static_cast<std::uint32_t>(as_u64()));
      break;
    case ValueType::INT32:
      put(out, static_cast<std::int32_t>(as_i64()));
      break;
    case ValueType::UINT64:
      put(out, as_u64());
      break;
    case ValueType::INT64:
      put(out, as_i64());
      break;
    case ValueType::FLOAT32:
      put(out, static_cast<float>(as_f64()));
      break;
    case ValueType::FLOAT64:
      put(out, as_f64());
      break;
    case ValueType::BOOL:
      put(out, static_cast<std::uint8_t>(as_u64() != 0));
      break;
    case ValueType::STRING: {
      const auto* sv = std::get_if<std::string_view>(&s);
      put_string(out, sv ? *sv : std::string_view());
      break;
    }
    case ValueType::ARRAY:
      break;
  }
}

// Where the writer's bytes go: a file or a memory buffer.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool put(const void* p, std::size_t n) = 0;
  virtual std::string failure() const = 0;
};

class BufferSink : public Sink {
 public:
  explicit BufferSink(std::vector<std::uint8_t>* out) : out_(out) {}
  bool put(const void* p, std::size_t n) override {
    put_bytes(out_, p, n);
    return true;
  }
  std::string failure() const override { return "out of memory"; }

 private:
  std::vector<std::uint8_t>* out_;
};

class FileSink : public Sink {
 public:
  FileSink(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  bool put(const void* p, std::size_t n) override {
    if (n == 0 || std::fwrite(p, 1, n, f_) == n) return true;
    errno_ = errno;
    return false;
  }
  std::string failure() const override {
    return path_ + ": write failed: " + std::strerror(errno_);
  }

 private:
  std::FILE* f_;
  std::string path_;
  int errno_ = 0;
};

}  // namespace

struct Writer::Impl {
  struct Kv {
    std::string key;
    std::vector<std::uint8_t> encoded;  // type id followed by the value
  };
  struct Tensor {
    std::string name;
    std::vector<std::int64_t> shape;
    ggml::Type type;
    std::vector<std::uint8_t> data;
    Filler fill;  // when set, produces the data at write time
  };

  std::uint32_t alignment;
  std::vector<Kv> kv;
  std::unordered_map<std::string, std::size_t> kv_index;
  // The first invalid setter call (a value the reader would refuse); write() reports it.
  std::string invalid;

  void reject(const std::string& key, const std::string& why) {
    if (invalid.empty()) invalid = "metadata key '" + key + "': " + why;
  }
  void check_string(const std::string& key, std::string_view s) {
    if (s.size() > kMaxStringBytes)
      reject(key,
             "string of " + str(s.size()) + " bytes exceeds the limit of " + str(kMaxStringBytes));
  }
  std::vector<Tensor> tensors;

  std::vector<std::uint8_t>& slot(const std::string& key, ValueType t) {
    auto [it, inserted] = kv_index.emplace(key, kv.size());
    if (inserted) kv.push_back({key, {}});
    std::vector<std::uint8_t>& e = kv[it->second].encoded;
    e.clear();
    put(&e, static_cast<std::uint32_t>(t));
    return e;
  }

  template <typename T>
  void scalar(const std::string& key, ValueType t, T v) {
    put(&slot(key, t), v);
  }

  void array_header(std::vector<std::uint8_t>* e, ValueType elem, std::uint64_t n) {
    put(e, static_cast<std::uint32_t>(elem));
    put(e, n);
  }

  bool header(std::vector<std::uint8_t>* out, std::vector<std::size_t>* tensor_bytes,
              std::string* error) const;
  bool emit(Sink* sink, std::string* error) const;
};

Writer::Writer(std::uint32_t alignment) : impl_(std::make_shared<Impl>()) {
  impl_->alignment = alignment;
}

void Writer::set_u8(const std::string& k, std::uint8_t v) { impl_->scalar(k, ValueType::UINT8, v); }
void Writer::set_i8(const std::string& k, std::int8_t v) { impl_->scalar(k, ValueType::INT8, v); }
void Writer::set_u16(const std::string& k, std::uint16_t v) {
  impl_->scalar(k, ValueType::UINT16, v);
}
void Writer::set_i16(const std::string& k, std::int16_t v) {
  impl_->scalar(k, ValueType::INT16, v);
}
void Writer::set_u32(const std::string& k, std::uint32_t v) {
  impl_->scalar(k, ValueType::UINT32, v);
}
void Writer::set_i32(const std::string& k, std::int32_t v) {
  impl_->scalar(k, ValueType::INT32, v);
}
void Writer::set_u64(const std::string& k, std::uint64_t v) {
  impl_->scalar(k, ValueType::UINT64, v);
}
void Writer::set_i64(const std::string& k, std::int64_t v) {
  impl_->scalar(k, ValueType::INT64, v);
}
void Writer::set_f32(const std::string& k, float v) { impl_->scalar(k, ValueType::FLOAT32, v); }
void Writer::set_f64(const std::string& k, double v) { impl_->scalar(k, ValueType::FLOAT64, v); }
void Writer::set_bool(const std::string& k, bool v) {
  impl_->scalar(k, ValueType::BOOL, static_cast<std::uint8_t>(v));
}

void Writer::set_string(const std::string& k, std::string v) {
  impl_->check_string(k, v);
  put_string(&impl_->slot(k, ValueType::STRING), v);
}

void Writer::set_string_array(const std::string& k, std::vector<std::string> v) {
  auto& e = impl_->slot(k, ValueType::ARRAY);
  impl_->array_header(&e, ValueType::STRING, v.size());
  for (const auto& s : v) {
    impl_->check_string(k, s);
    put_string(&e, s);
  }
}

void Writer::set_f32_array(const std::string& k, std::vector<float> v) {
  set_array(k, ValueType::FLOAT32, v.data(), v.size());
}

void Writer::set_i32_array(const std::string& k, std::vector<std::int32_t> v) {
  set_array(k, ValueType::INT32, v.data(), v.size());
}

void Writer::set_array(const std::string& k, ValueType element_type, const void* data,
                       std::uint64_t count) {
  auto& e = impl_->slot(k, ValueType::ARRAY);
  const std::size_t es = fixed_size(element_type);
  if (es == 0 || (count > 0 && data == nullptr)) {
    impl_->reject(k, "set_array needs a numeric or BOOL element type and data");
    count = 0;
  }
  impl_->array_header(&e, element_type, count);
  if (count) put_bytes(&e, data, static_cast<std::size_t>(count * es));
}

void Writer::copy_value(const std::string& key, const Value& v) {
  if (!is_known(static_cast<std::uint32_t>(v.type))) {
    impl_->reject(key, "unknown value type " + str(static_cast<std::uint32_t>(v.type)));
    return;
  }
  auto& e = impl_->slot(key, v.type);
  if (v.type != ValueType::ARRAY) {
    if (const auto* sv = std::get_if<std::string_view>(&v.scalar)) impl_->check_string(key, *sv);
    put_scalar(&e, v.type, v.scalar);
    return;
  }
  if (v.array_type == ValueType::STRING) {
    impl_->array_header(&e, ValueType::STRING, v.strings.size());
    for (std::string_view s : v.strings) {
      impl_->check_string(key, s);
      put_string(&e, s);
    }
    return;
  }
  const std::size_t es = fixed_size(v.array_type);
  if (es == 0 || (v.array_size > 0 && v.array_data == nullptr))
    impl_->reject(key, "array of " + std::string(value_type_name(v.array_type)) +
                           " without element data (nested arrays are not supported)");
  const std::uint64_t n = (es == 0 || v.array_data == nullptr) ? 0 : v.array_size;
  impl_->array_header(&e, v.array_type, n);
  if (n) put_bytes(&e, v.array_data, static_cast<std::size_t>(n * es));
}

void Writer::add_tensor(const std::string& name, std::vector<std::int64_t> shape, ggml::Type type,
                        std::vector<std::uint8_t> data) {
  impl_->tensors.push_back({name, std::move(shape), type, std::move(data), nullptr});
}

void Writer::add_generated_tensor(const std::string& name, std::vector<std::int64_t> shape,
                                  ggml::Type type, Filler fill) {
  impl_->tensors.push_back({name, std::move(shape), type, {}, std::move(fill)});
}

// Validates everything and encodes the header up to the start of the data section.
bool Writer::Impl::header(std::vector<std::uint8_t>* out, std::vector<std::size_t>* tensor_bytes,
                          std::string* error) const {
  if (!invalid.empty()) {
    *error = invalid;
    return false;
  }
  if (kv.size() + 1 > kMaxKeyValues || tensors.size() > kMaxTensors) {
    *error = "too many metadata entries or tensors";
    return false;
  }
  for (const Kv& e : kv) {
    if (e.key.size() > kMaxKeyBytes) {
      *error = "metadata key of " + str(e.key.size()) + " bytes exceeds the limit of " +
               str(kMaxKeyBytes);
      return false;
    }
  }
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > kMaxAlignment) {
    *error = "alignment " + str(alignment) + " is not a power of two up to " + str(kMaxAlignment);
    return false;
  }
  std::vector<const Kv*> entries;
  for (const Kv& e : kv) entries.push_back(&e);
  Kv align_kv{"general.alignment", {}};
  if (auto it = kv_index.find("general.alignment"); it != kv_index.end()) {
    const std::vector<std::uint8_t>& enc = kv[it->second].encoded;
    std::uint32_t t = 0, a = 0;
    std::memcpy(&t, enc.data(), 4);
    if (t != static_cast<std::uint32_t>(ValueType::UINT32) || enc.size() != 8 ||
        (std::memcpy(&a, enc.data() + 4, 4), a != alignment)) {
      *error = "general.alignment is set to something other than the writer's alignment " +
               str(alignment);
      return false;
    }
  } else if (alignment != kDefaultAlignment) {
    put(&align_kv.encoded, static_cast<std::uint32_t>(ValueType::UINT32));
    put(&align_kv.encoded, alignment);
    entries.push_back(&align_kv);
  }

  put(out, kMagic);
  put(out, std::uint32_t{3});
  put<std::uint64_t>(out, tensors.size());
  put<std::uint64_t>(out, entries.size());
  for (const Kv* e : entries) {
    put_string(out, e->key);
    put_bytes(out, e->encoded.data(), e->encoded.size());
  }

  std::unordered_map<std::string_view, int> names;
  std::uint64_t offset = 0;
  tensor_bytes->clear();
  for (const Tensor& t : tensors) {
    const std::string what = "tensor '" + t.name + "'";
    if (t.name.empty() || t.name.size() > kMaxTensorNameBytes) {
      *error = what + ": name must be 1 to " + str(kMaxTensorNameBytes) + " bytes";
      return false;
    }
    if (!names.emplace(t.name, 0).second) {
      *error = what + ": duplicate tensor name";
      return false;
    }
    const ggml::TypeTraits tr = ggml::traits(static_cast<std::uint32_t>(t.type));
    if (tr.name == nullptr) {
      *error = what + ": unknown type";
      return false;
    }
    if (t.shape.empty() || t.shape.size() > kMaxDims) {
      *error = what + ": must have 1 to 4 dimensions";
      return false;
    }
    std::uint64_t rows = 1;
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] <= 0) {
        *error = what + ": dimension " + str(d) + " is not positive";
        return false;
      }
      if (d > 0 && __builtin_mul_overflow(rows, static_cast<std::uint64_t>(t.shape[d]), &rows)) {
        *error = what + ": element count overflows";
        return false;
      }
    }
    const std::size_t row = ggml::row_bytes(t.type, t.shape[0]);
    if (row == 0) {
      *error = what + ": row length " + str(t.shape[0]) + " is not a multiple of " + tr.name +
               "'s block size " + str(tr.block_size);
      return false;
    }
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(std::uint64_t{row}, rows, &bytes)) {
      *error = what + ": byte size overflows";
      return false;
    }
    if (!t.fill && t.data.size() != bytes) {
      *error = what + ": has " + str(t.data.size()) + " bytes of data, its shape and type need " +
               str(bytes);
      return false;
    }
    put_string(out, t.name);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(t.shape.size()));
    for (std::int64_t d : t.shape) put<std::uint64_t>(out, static_cast<std::uint64_t>(d));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(t.type));
    put<std::uint64_t>(out, offset);
    tensor_bytes->push_back(static_cast<std::size_t>(bytes));
    offset += (bytes + alignment - 1) / alignment * alignment;
  }
  out->resize((out->size() + alignment - 1) / alignment * alignment, 0);
  return true;
}

bool Writer::Impl::emit(Sink* sink, std::string* error) const {
  std::vector<std::uint8_t> head;
  std::vector<std::size_t> bytes;
  if (!header(&head, &bytes, error)) return false;
  if (!sink->put(head.data(), head.size())) {
    *error = sink->failure();
    return false;
  }
  const std::vector<std::uint8_t> zeros(alignment, 0);
  std::vector<std::uint8_t> scratch;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::uint8_t* p = t.data.data();
    if (t.fill) {
      // One tensor's bytes at a time: the buffer is reused, never grown past the largest tensor.
      scratch.assign(bytes[i], 0);
      std::string why;
      if (!t.fill(scratch.data(), bytes[i], &why)) {
        *error = "tensor '" + t.name + "': " + (why.empty() ? "could not produce its data" : why);
        return false;
      }
      p = scratch.data();
    }
    const std::size_t pad = (alignment - bytes[i] % alignment) % alignment;
    if (!sink->put(p, bytes[i]) || !sink->put(zeros.data(), pad)) {
      *error = sink->failure();
      return false;
    }
  }
  return true;
}

bool Writer::write_to_buffer(std::vector<std::uint8_t>* out, std::string* error) const {
  std::string local_error;
  if (!error) error = &local_error;
  out->clear();
  BufferSink sink(out);
  return impl_->emit(&sink, error);
}

bool Writer::write(const std::string& path, std::string* error) const {
  std::string local_error;
  if (!error) error = &local_error;
  // Written beside the target and renamed into place, so a reader never sees half a file.
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    *error = tmp + ": cannot create: " + std::strerror(errno);
    return false;
  }
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  FileSink sink(f, tmp);
  bool ok = impl_->emit(&sink, error);
  if (std::fclose(f) != 0 && ok) {
    *error = tmp + ": write failed: " + std::strerror(errno);
    ok = false;
  }
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = path + ": cannot rename into place: " + std::strerror(errno);
    ok = false;
  }
  if (!ok) std::remove(tmp.c_str());
  return ok;
}

}  // namespace infergate::engine::gguf
