#include "eventstream.hpp"

#include <boost/crc.hpp>

namespace infergate::adapters::eventstream {

namespace {

std::uint32_t crc32(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

std::uint64_t read_be(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void write_be(std::string& out, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// Parses a header block. False on any malformation.
bool parse_headers(std::string_view block, std::vector<Header>& out) {
  std::size_t pos = 0;
  while (pos < block.size()) {
    if (out.size() >= Decoder::kMaxHeaders) return false;
    const std::size_t name_len = static_cast<unsigned char>(block[pos++]);
    if (name_len == 0 || block.size() - pos < name_len + 1) return false;
    Header h;
    h.name.assign(block.substr(pos, name_len));
    pos += name_len;
    const auto type = static_cast<unsigned char>(block[pos++]);
    if (type > static_cast<unsigned char>(ValueType::uuid)) return false;
    h.type = static_cast<ValueType>(type);
    auto fixed = [&](int n) -> bool {
      if (block.size() - pos < static_cast<std::size_t>(n)) return false;
      const std::uint64_t raw = read_be(block.data() + pos, n);
      // Sign-extend the big-endian two's-complement value.
      if (n < 8 && (raw >> (8 * n - 1)) != 0)
        h.number = static_cast<std::int64_t>(raw | (~std::uint64_t{0} << (8 * n)));
      else
        h.number = static_cast<std::int64_t>(raw);
      pos += static_cast<std::size_t>(n);
      return true;
    };
    switch (h.type) {
      case ValueType::bool_true:
        h.number = 1;
        break;
      case ValueType::bool_false:
        h.number = 0;
        break;
      case ValueType::byte:
        if (!fixed(1)) return false;
        break;
      case ValueType::int16:
        if (!fixed(2)) return false;
        break;
      case ValueType::int32:
        if (!fixed(4)) return false;
        break;
      case ValueType::int64:
      case ValueType::timestamp:
        if (!fixed(8)) return false;
        break;
      case ValueType::bytes:
      case ValueType::string: {
        if (block.size() - pos < 2) return false;
        const std::size_t len = read_be(block.data() + pos, 2);
        pos += 2;
        if (block.size() - pos < len) return false;
        h.bytes.assign(block.substr(pos, len));
        pos += len;
        break;
      }
      case ValueType::uuid:
        if (block.size() - pos < 16) return false;
        h.bytes.assign(block.substr(pos, 16));
        pos += 16;
        break;
    }
    out.push_back(std::move(h));
  }
  return true;
}

}  // namespace

std::string_view describe(DecodeError e) {
  switch (e) {
    case DecodeError::none:
      return "no error";
    case DecodeError::bad_length:
      return "event stream message has an invalid length";
    case DecodeError::too_large:
      return "event stream message too large";
    case DecodeError::prelude_crc:
      return "event stream prelude checksum mismatch";
    case DecodeError::message_crc:
      return "event stream message checksum mismatch";
    case DecodeError::bad_header:
      return "event stream message has a malformed header";
  }
  return "event stream error";
}

const Header* Message::find(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name == name) return &h;
  return nullptr;
}

std::string_view Message::string_header(std::string_view name) const {
  const Header* h = find(name);
  return h && h->type == ValueType::string ? std::string_view(h->bytes) : std::string_view{};
}

bool Decoder::fail(DecodeError e) {
  error_ = e;
  buffer_.clear();
  buffer_.shrink_to_fit();
  offset_ = 0;
  return false;
}

void Decoder::feed(std::string_view bytes) {
  if (failed()) return;
  if (offset_ > 0) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

bool Decoder::next(Message& msg) {
  if (failed()) return false;
  const std::string_view avail = std::string_view(buffer_).substr(offset_);
  if (avail.size() < kPreludeBytes) return false;
  const std::uint64_t total = read_be(avail.data(), 4);
  const std::uint64_t headers_len = read_be(avail.data() + 4, 4);
  const std::uint64_t prelude_crc = read_be(avail.data() + 8, 4);
  // The prelude is checked before its lengths are trusted.
  if (crc32(avail.substr(0, 8)) != prelude_crc) return fail(DecodeError::prelude_crc);
  if (total < kMinMessageBytes || headers_len > total - kMinMessageBytes)
    return fail(DecodeError::bad_length);
  if (total > max_message_bytes_ || headers_len > kMaxHeadersBytes)
    return fail(DecodeError::too_large);
  if (avail.size() < total) return false;

  const std::string_view whole = avail.substr(0, total);
  const std::uint64_t message_crc = read_be(whole.data() + total - 4, 4);
  if (crc32(whole.substr(0, total - 4)) != message_crc) return fail(DecodeError::message_crc);

  msg.headers.clear();
  if (!parse_headers(whole.substr(kPreludeBytes, headers_len), msg.headers))
    return fail(DecodeError::bad_header);
  msg.payload.assign(whole.substr(kPreludeBytes + headers_len, total - headers_len - 16));
  offset_ += total;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  return true;
}

std::string encode(const Message& msg) {
  std::string headers;
  for (const auto& h : msg.headers) {
    headers += static_cast<char>(h.name.size() & 0xFF);
    headers += h.name.substr(0, 255);
    headers += static_cast<char>(h.type);
    const auto v = static_cast<std::uint64_t>(h.number);
    switch (h.type) {
      case ValueType::bool_true:
      case ValueType::bool_false:
        break;
      case ValueType::byte:
        write_be(headers, v, 1);
        break;
      case ValueType::int16:
        write_be(headers, v, 2);
        break;
      case ValueType::int32:
        write_be(headers, v, 4);
        break;
      case ValueType::int64:
      case ValueType::timestamp:
        write_be(headers, v, 8);
        break;
      case ValueType::bytes:
      case ValueType::string:
        write_be(headers, std::min<std::size_t>(h.bytes.size(), 0xFFFF), 2);
        headers += h.bytes.substr(0, 0xFFFF);
        break;
      case ValueType::uuid: {
        std::string id = h.bytes.substr(0, 16);
        id.resize(16, '\0');
        headers += id;
        break;
      }
    }
  }
  std::string out;
  const std::size_t total = 16 + headers.size() + msg.payload.size();
  out.reserve(total);
  write_be(out, total, 4);
  write_be(out, headers.size(), 4);
  write_be(out, crc32(out), 4);
  out += headers;
  out += msg.payload;
  write_be(out, crc32(out), 4);
  return out;
}

Header string_header(std::string name, std::string value) {
  Header h;
  h.name = std::move(name);
  h.type = ValueType::string;
  h.bytes = std::move(value);
  return h;
}

}  // namespace infergate::adapters::eventstream
