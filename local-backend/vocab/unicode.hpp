// The little UTF-8 the tokenizers need, and GPT-2's byte <-> character mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace infergate::engine::vocab::unicode {

// Length of the sequence a lead byte announces, from its high nibble; 1 for continuation bytes.
// This is llama.cpp's unicode_len_utf8, which both tokenizers use to cut text into symbols.
inline std::size_t utf8_len(char c) {
  static constexpr std::uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[static_cast<std::uint8_t>(c) >> 4];
}

// Decodes the code point at s[*pos] and advances *pos past it. Returns false (advancing one byte)
// for an invalid, overlong, surrogate or truncated sequence.
bool decode_utf8(std::string_view s, std::size_t* pos, std::uint32_t* cp);

void append_utf8(std::string& out, std::uint32_t cp);

// GPT-2's bytes_to_unicode(): the UTF-8 of the printable character that stands for byte b.
std::string_view byte_to_chars(std::uint8_t b);
// The byte a code point stands for, or -1.
int chars_to_byte(std::uint32_t cp);

}  // namespace infergate::engine::vocab::unicode
