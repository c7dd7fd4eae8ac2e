// Incremental detokenisation for streaming: token pieces go in, text that is safe to show comes
// out. Held back: the end of an incomplete UTF-8 character, and any tail that could be the start
// of a stop string. Output is always valid UTF-8 (invalid bytes become U+FFFD).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace infergate::engine::model {

// Returns `s` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);
// Length of the longest prefix of `s` that does not end inside a (so far valid) multi-byte
// character.
std::size_t complete_utf8_prefix(std::string_view s);

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops);

  // Appends one token's bytes and returns the text that can be emitted now. When a stop string
  // is complete, returns the text before it, sets *stopped, and discards everything after.
  std::string push(std::string_view piece, bool* stopped);
  // Everything still held back (at the end of generation).
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

}  // namespace infergate::engine::model
