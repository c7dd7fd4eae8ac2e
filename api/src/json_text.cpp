#include "infergate/api/json_text.hpp"

#include <cstring>
#include <string>

#include <simdjson.h>

namespace infergate::api {
namespace {

using nlohmann::json;

// simdjson's DOM limits nesting to 1024; the conversion recurses at most that deep.
bool convert(simdjson::dom::element e, json& out) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      out = json::object();
      for (auto field : simdjson::dom::object(e)) {
        // Duplicate keys: the last one wins, as with nlohmann's own parser.
        if (!convert(field.value, out[std::string(field.key)])) return false;
      }
      return true;
    }
    case simdjson::dom::element_type::ARRAY: {
      out = json::array();
      auto& arr = out.get_ref<json::array_t&>();
      simdjson::dom::array a(e);
      arr.reserve(a.size());
      for (auto v : a) {
        arr.emplace_back();
        if (!convert(v, arr.back())) return false;
      }
      return true;
    }
    case simdjson::dom::element_type::STRING:
      out = std::string(std::string_view(e));
      return true;
    case simdjson::dom::element_type::INT64:
      out = std::int64_t(e);
      return true;
    case simdjson::dom::element_type::UINT64:
      // nlohmann stores non-negative integers that fit int64 as unsigned too.
      out = std::uint64_t(e);
      return true;
    case simdjson::dom::element_type::DOUBLE:
      out = double(e);
      return true;
    case simdjson::dom::element_type::BOOL:
      out = bool(e);
      return true;
    case simdjson::dom::element_type::NULL_VALUE:
      out = nullptr;
      return true;
  }
  return false;
}

// Bodies up to this size reuse the thread's parser and buffer; larger ones (rare, up to the
// body limit) get their own, freed afterwards, so no thread keeps megabytes after one big prompt.
constexpr std::size_t kReusedBufferBytes = 256 * 1024;

bool parse_with(simdjson::dom::parser& parser, std::string& padded, std::string_view text,
                json& out) {
  if (padded.size() < text.size() + simdjson::SIMDJSON_PADDING) {
    padded.resize(text.size() + simdjson::SIMDJSON_PADDING);
  }
  if (!text.empty()) std::memcpy(padded.data(), text.data(), text.size());
  simdjson::dom::element root;
  return parser.parse(padded.data(), text.size(), /*realloc_if_needed=*/false).get(root) ==
             simdjson::SUCCESS &&
         convert(root, out);
}

}  // namespace

json parse_json(std::string_view text) {
  json out;
  bool parsed = false;
  if (text.size() <= kReusedBufferBytes) {
    thread_local simdjson::dom::parser parser;
    thread_local std::string padded;
    parsed = parse_with(parser, padded, text, out);
  } else {
    simdjson::dom::parser parser;
    std::string padded;
    parsed = parse_with(parser, padded, text, out);
  }
  if (parsed) return out;
  // Not valid JSON, or valid in ways simdjson does not take: nlohmann decides.
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::size_t skip_json_value(std::string_view t, std::size_t i) {
  constexpr auto npos = std::string_view::npos;
  if (i >= t.size()) return npos;
  auto skip_string = [&t](std::size_t j) -> std::size_t {  // j at the opening quote
    for (++j; j < t.size(); ++j) {
      if (t[j] == '\\') {
        ++j;
      } else if (t[j] == '"') {
        return j + 1;
      }
    }
    return npos;
  };
  const char c = t[i];
  if (c == '"') return skip_string(i);
  if (c == '{' || c == '[') {
    std::size_t depth = 0;
    for (std::size_t j = i; j < t.size();) {
      const char d = t[j];
      if (d == '"') {
        j = skip_string(j);
        if (j == npos) return npos;
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return j + 1;
      }
      ++j;
    }
    return npos;
  }
  // A number, true, false or null: up to the next delimiter.
  std::size_t j = i;
  while (j < t.size() && t[j] != ',' && t[j] != '}' && t[j] != ']' && t[j] != ' ' && t[j] != '\t' &&
         t[j] != '\n' && t[j] != '\r')
    ++j;
  return j == i ? npos : j;
}

}  // namespace infergate::api
