// The provider presets: the embedded config/presets/providers.yaml, parsed and checked once.
#include "infergate/config/presets.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <initializer_list>
#include <set>

#include "infergate/config/config.hpp"
#include "infergate_provider_presets.hpp"

namespace infergate::config {

namespace {

constexpr std::size_t kMaxPresets = 500;
constexpr std::string_view kPresetTypes[] = {"openai",  "anthropic", "gemini",
                                             "bedrock", "replicate", "fal"};

struct Fail {
  std::string message;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Fail{where + ": " + what};
}

void only_keys(const YAML::Node& map, const std::string& where,
               std::initializer_list<std::string_view> allowed) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail(where, "unknown key '" + key + "'");
  }
}

std::string text(const YAML::Node& map, const std::string& where, const char* key) {
  const YAML::Node n = map[key];
  if (!n) return {};
  if (!n.IsScalar()) fail(where + "." + key, "expected a string");
  return n.Scalar();
}

bool flag(const YAML::Node& map, const std::string& where, const char* key, bool required) {
  const YAML::Node n = map[key];
  if (!n) {
    if (required) fail(where + "." + key, "missing (every capability is stated explicitly)");
    return false;
  }
  if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
    fail(where + "." + key, "expected true or false");
  return n.Scalar() == "true";
}

bool env_name_ok(std::string_view s) {
  if (s.empty() || s.size() > 128 || (s.front() >= '0' && s.front() <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool name_ok(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

ProviderPreset parse_one(const std::string& name, const YAML::Node& n) {
  const std::string where = "presets." + name;
  if (!name_ok(name)) fail(where, "preset names are lowercase letters, digits and '-'");
  if (!n.IsMap()) fail(where, "expected a mapping");
  only_keys(n, where,
            {"type", "base_url", "self_hosted", "example_base_url", "api_key_env", "headers",
             "docs", "supports"});
  ProviderPreset p;
  p.name = name;
  p.type = text(n, where, "type");
  if (std::find(std::begin(kPresetTypes), std::end(kPresetTypes), p.type) == std::end(kPresetTypes))
    fail(where + ".type", "expected openai, anthropic, gemini, bedrock, replicate or fal");
  p.self_hosted = flag(n, where, "self_hosted", false);
  p.base_url = text(n, where, "base_url");
  p.example_base_url = text(n, where, "example_base_url");
  if (p.self_hosted) {
    if (!p.base_url.empty()) fail(where + ".base_url", "a self-hosted preset has no base_url");
    if (!parse_base_url(p.example_base_url))
      fail(where + ".example_base_url", "missing or not a valid URL");
  } else {
    if (!p.example_base_url.empty())
      fail(where + ".example_base_url", "only for self-hosted presets");
    std::string probe = p.base_url;
    if (const auto at = probe.find("{region}"); at != std::string::npos) {
      if (p.type != "bedrock") fail(where + ".base_url", "{region} is for type bedrock only");
      probe.replace(at, 8, "us-east-1");
    }
    const auto url = parse_base_url(probe);
    if (!url || url->normalized != probe)
      fail(where + ".base_url", "missing or not a normalized http(s) URL");
    if (!url->https) fail(where + ".base_url", "a hosted provider is reached over https");
  }
  p.api_key_env = text(n, where, "api_key_env");
  if (!p.api_key_env.empty() && !env_name_ok(p.api_key_env))
    fail(where + ".api_key_env", "expected an environment variable name (A-Z, 0-9, _)");
  if (p.type == "bedrock" && !p.api_key_env.empty())
    fail(where + ".api_key_env", "bedrock signs with aws credentials, not an api key");
  if (const YAML::Node h = n["headers"]) {
    if (!h.IsMap()) fail(where + ".headers", "expected a mapping");
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (!it->first.IsScalar() || !it->second.IsScalar())
        fail(where + ".headers", "expected header name: value");
      p.headers.emplace_back(it->first.Scalar(), it->second.Scalar());
    }
  }
  p.docs = text(n, where, "docs");
  if (!p.docs.starts_with("https://")) fail(where + ".docs", "expected an https:// link");
  const YAML::Node s = n["supports"];
  if (!s || !s.IsMap()) fail(where + ".supports", "missing or not a mapping");
  only_keys(s, where + ".supports", {"chat", "stream", "tools", "vision", "embeddings", "images"});
  const std::string sw = where + ".supports";
  p.supports = {flag(s, sw, "chat", true),       flag(s, sw, "stream", true),
                flag(s, sw, "tools", true),      flag(s, sw, "vision", true),
                flag(s, sw, "embeddings", true), flag(s, sw, "images", true)};
  return p;
}

struct Table {
  std::vector<ProviderPreset> presets;
  std::string error;
};

const Table& table() {
  static const Table t = [] {
    Table out;
    if (auto parsed = parse_presets(generated::kProviderPresets, &out.error))
      out.presets = std::move(*parsed);
    else
      out.error = "embedded provider presets are invalid: " + out.error;
    return out;
  }();
  return t;
}

}  // namespace

std::optional<std::vector<ProviderPreset>> parse_presets(const std::string& yaml,
                                                         std::string* error) {
  try {
    const YAML::Node doc = YAML::Load(yaml);
    if (!doc.IsMap()) fail("(root)", "expected a mapping with 'presets'");
    only_keys(doc, "(root)", {"presets"});
    const YAML::Node list = doc["presets"];
    if (!list || !list.IsMap()) fail("presets", "expected a mapping of name to preset");
    if (list.size() > kMaxPresets) fail("presets", "too many presets");
    std::vector<ProviderPreset> out;
    std::set<std::string> seen;
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (!it->first.IsScalar()) fail("presets", "preset names must be strings");
      const std::string name = it->first.Scalar();
      if (!seen.insert(name).second) fail("presets." + name, "defined twice");
      out.push_back(parse_one(name, it->second));
    }
    return out;
  } catch (const Fail& f) {
    if (error) *error = f.message;
  } catch (const YAML::Exception& e) {
    if (error) *error = "YAML: " + e.msg;
  }
  return std::nullopt;
}

std::span<const ProviderPreset> provider_presets() { return table().presets; }

const std::string& provider_presets_error() { return table().error; }

const ProviderPreset* find_preset(std::string_view name) {
  for (const auto& p : table().presets)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace infergate::config
