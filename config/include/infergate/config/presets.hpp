// Provider presets: named starting points for a provider entry (`preset: together`), read from
// config/presets/providers.yaml, which is embedded in the binary at build time.
//
// A preset gives the wire format, base URL, default headers and the environment variable the API
// key is read from; keys written on the provider override it (see docs/PROVIDERS.md).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::config {

// What an upstream offers through its wire format (documentation; routing does not use it).
struct PresetSupport {
  bool chat = false;
  bool stream = false;
  bool tools = false;
  bool vision = false;
  bool embeddings = false;
  bool images = false;
};

struct ProviderPreset {
  std::string name;              // e.g. "together"
  std::string type;              // openai | anthropic | gemini | bedrock
  std::string base_url;          // "" when self_hosted; "{region}" stands for aws.region
  bool self_hosted = false;      // base_url must come from the provider entry
  std::string example_base_url;  // self-hosted: the server's default listen address
  std::string api_key_env;       // "" = no key needed
  std::vector<std::pair<std::string, std::string>> headers;  // default upstream headers
  std::string docs;                                          // where the base URL is documented
  PresetSupport supports;
};

// Every preset, in file order. Empty when the embedded data is broken (a build defect that the
// config tests catch); provider_presets_error() then says why.
std::span<const ProviderPreset> provider_presets();
const std::string& provider_presets_error();

// nullptr when there is no preset of that name.
const ProviderPreset* find_preset(std::string_view name);

// Parses preset data in the format of config/presets/providers.yaml. On failure returns nullopt
// and sets *error (which names the entry and key).
std::optional<std::vector<ProviderPreset>> parse_presets(const std::string& yaml,
                                                         std::string* error);

}  // namespace infergate::config
