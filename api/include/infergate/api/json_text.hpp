// Fast paths over client JSON text: parsing into nlohmann's DOM without its lexer, and walking
// the members of an already-validated object as raw text (for forwarding them unchanged).
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace infergate::api {

// Parses `text` into a DOM. simdjson validates and tokenises (about 1 instruction per byte
// against nlohmann's ~130), then the DOM is built from its tape; documents simdjson refuses but
// nlohmann accepts (integers beyond 64 bits, nesting deeper than 1024) take nlohmann's parser,
// so the result is exactly what `json::parse(text, nullptr, false)` gives: discarded when
// `text` is not valid JSON.
nlohmann::json parse_json(std::string_view text);

// Where a value of a validated JSON text ends: the index just past the value starting at `i`,
// or npos when the text is not what it should be.
std::size_t skip_json_value(std::string_view text, std::size_t i);

// Calls f(key, raw_value) for every member of the JSON object `text`, in order, with the raw
// bytes of each value. `text` must already be valid JSON (the walker checks bounds, not
// grammar). Returns false, having possibly called f for some members, when the text is not an
// object or a key contains an escape (the caller then takes its DOM path).
template <class F>
bool for_each_raw_member(std::string_view text, F&& f);

// --- implementation --------------------------------------------------------------------------

namespace json_text_detail {
inline std::size_t skip_ws(std::string_view t, std::size_t i) {
  while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  return i;
}
}  // namespace json_text_detail

template <class F>
bool for_each_raw_member(std::string_view t, F&& f) {
  using json_text_detail::skip_ws;
  std::size_t i = skip_ws(t, 0);
  if (i >= t.size() || t[i] != '{') return false;
  i = skip_ws(t, i + 1);
  if (i < t.size() && t[i] == '}') return true;
  while (i < t.size()) {
    if (t[i] != '"') return false;
    const std::size_t key_begin = i + 1;
    std::size_t key_end = key_begin;
    while (key_end < t.size() && t[key_end] != '"') {
      if (t[key_end] == '\\') return false;
      ++key_end;
    }
    if (key_end >= t.size()) return false;
    i = skip_ws(t, key_end + 1);
    if (i >= t.size() || t[i] != ':') return false;
    i = skip_ws(t, i + 1);
    const std::size_t value_begin = i;
    i = skip_json_value(t, i);
    if (i == std::string_view::npos) return false;
    f(t.substr(key_begin, key_end - key_begin), t.substr(value_begin, i - value_begin));
    i = skip_ws(t, i);
    if (i >= t.size()) return false;
    if (t[i] == '}') return true;
    if (t[i] != ',') return false;
    i = skip_ws(t, i + 1);
  }
  return false;
}

}  // namespace infergate::api
