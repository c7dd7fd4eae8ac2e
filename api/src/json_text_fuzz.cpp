// Fuzz target: parse_json must agree with nlohmann's parser on arbitrary bytes, and on every
// object it accepts, the raw member walker must stay in bounds and hand out values that parse
// to the DOM's members (the OpenAI adapter forwards those bytes upstream).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "infergate/api/json_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using nlohmann::json;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const json ours = infergate::api::parse_json(input);
  const json theirs = json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (ours.is_discarded() != theirs.is_discarded()) std::abort();
  if (ours.is_discarded()) return 0;
  if (ours != theirs) std::abort();
  if (!ours.is_object()) return 0;
  json rebuilt = json::object();
  const bool walked =
      infergate::api::for_each_raw_member(input, [&](std::string_view k, std::string_view v) {
        const json value = json::parse(v, nullptr, /*allow_exceptions=*/false);
        if (value.is_discarded()) std::abort();
        rebuilt[std::string(k)] = value;  // the last duplicate wins, as in the DOM
      });
  // The walker refuses only keys with escapes; otherwise its members are the DOM's.
  if (walked ? rebuilt != ours : input.find('\\') == std::string_view::npos) std::abort();
  return 0;
}
