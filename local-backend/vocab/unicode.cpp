#include "vocab/unicode.hpp"

#include <array>

namespace infergate::engine::vocab::unicode {

bool decode_utf8(std::string_view s, std::size_t* pos, std::uint32_t* cp) {
  const std::size_t i = *pos;
  const auto b0 = static_cast<std::uint8_t>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<std::uint8_t>(s[i + k]) & 0xC0) == 0x80;
  };
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(s[i + k]) & 0x3F; };
  std::uint32_t c = 0;
  std::size_t n = 0;
  if (b0 < 0x80) {
    c = b0;
    n = 1;
  } else if ((b0 & 0xE0) == 0xC0 && cont(1)) {
    c = ((b0 & 0x1Fu) << 6) | byte(1);
    n = c >= 0x80 ? 2 : 0;
  } else if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    c = ((b0 & 0x0Fu) << 12) | (byte(1) << 6) | byte(2);
    n = (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) ? 3 : 0;
  } else if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    c = ((b0 & 0x07u) << 18) | (byte(1) << 12) | (byte(2) << 6) | byte(3);
    n = (c >= 0x10000 && c <= 0x10FFFF) ? 4 : 0;
  }
  if (n == 0) {
    *pos = i + 1;
    return false;
  }
  *pos = i + n;
  *cp = c;
  return true;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// bytes_to_unicode(): printable Latin-1 bytes stand for themselves; the other 68 bytes, in order,
// for U+0100, U+0101, ...
struct ByteMap {
  std::array<std::uint32_t, 256> cp{};
  std::array<std::string, 256> utf8;
  ByteMap() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      cp[b] = printable ? static_cast<std::uint32_t>(b) : static_cast<std::uint32_t>(256 + n++);
      append_utf8(utf8[b], cp[b]);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

}  // namespace

std::string_view byte_to_chars(std::uint8_t b) { return byte_map().utf8[b]; }

int chars_to_byte(std::uint32_t cp) {
  // Printable Latin-1 maps to itself; U+0100..U+0143 to the 68 others, in byte order.
  if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) {
    return static_cast<int>(cp);
  }
  if (cp >= 256 && cp < 256 + 68) {
    static const std::array<std::uint8_t, 68> inverse = [] {
      std::array<std::uint8_t, 68> inv{};
      const ByteMap& m = byte_map();
      for (int b = 0; b < 256; ++b) {
        if (m.cp[b] >= 256) inv[m.cp[b] - 256] = static_cast<std::uint8_t>(b);
      }
      return inv;
    }();
    return inverse[cp - 256];
  }
  return -1;
}

}  // namespace infergate::engine::vocab::unicode
