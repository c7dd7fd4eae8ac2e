// Provider presets: the embedded data file, how `preset:` fills a provider, what overrides it,
// and that docs/PROVIDERS.md describes every preset.
#include "infergate/config/presets.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "infergate/config/config.hpp"
#include "test_support.hpp"

namespace infergate::config {
namespace {

using namespace testing_support;  // NOLINT(google-build-using-namespace)

std::string read_source(const std::string& relative) {
  std::ifstream in(std::string(INFERGATE_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// --- the data file ----------------------------------------------------------------------------

TEST(Presets, EmbeddedDataIsValidAndCurrent) {
  ASSERT_EQ(provider_presets_error(), "");
  // The binary embeds the file as it was at build time; it must match the source tree.
  std::string why;
  auto source = parse_presets(read_source("config/presets/providers.yaml"), &why);
  ASSERT_TRUE(source.has_value()) << why;
  ASSERT_EQ(source->size(), provider_presets().size()) << "rebuild: presets changed";
  for (std::size_t i = 0; i < source->size(); ++i) {
    EXPECT_EQ((*source)[i].name, provider_presets()[i].name);
    EXPECT_EQ((*source)[i].base_url, provider_presets()[i].base_url);
  }
}

TEST(Presets, EveryRequiredPresetExists) {
  const char* required[] = {"together",    "sambanova",  "groq",       "fireworks",   "cerebras",
                            "nebius",      "novita",     "hyperbolic", "featherless", "nscale",
                            "deepinfra",   "mistral",    "deepseek",   "xai",         "openrouter",
                            "huggingface", "nvidia-nim", "openai",     "vllm",        "sglang",
                            "tgi",         "ollama",     "anthropic",  "gemini",      "bedrock"};
  for (const char* name : required) {
    const ProviderPreset* p = find_preset(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_TRUE(p->supports.chat) << name;
  }
  EXPECT_EQ(find_preset("nope"), nullptr);
}

TEST(Presets, KnownValues) {
  const ProviderPreset* together = find_preset("together");
  ASSERT_NE(together, nullptr);
  EXPECT_EQ(together->type, "openai");
  EXPECT_EQ(together->base_url, "https://api.together.xyz/v1");
  EXPECT_EQ(together->api_key_env, "TOGETHER_API_KEY");
  EXPECT_FALSE(together->self_hosted);
  EXPECT_EQ(find_preset("groq")->base_url, "https://api.groq.com/openai/v1");
  EXPECT_EQ(find_preset("huggingface")->base_url, "https://router.huggingface.co/v1");
  EXPECT_EQ(find_preset("huggingface")->api_key_env, "HF_TOKEN");
  const ProviderPreset* vllm = find_preset("vllm");
  EXPECT_TRUE(vllm->self_hosted);
  EXPECT_EQ(vllm->base_url, "");
  EXPECT_EQ(vllm->api_key_env, "");
  EXPECT_EQ(vllm->example_base_url, "http://localhost:8000/v1");
  EXPECT_EQ(find_preset("ollama")->example_base_url, "http://localhost:11434/v1");
  EXPECT_EQ(find_preset("anthropic")->type, "anthropic");
  EXPECT_EQ(find_preset("gemini")->type, "gemini");
  EXPECT_EQ(find_preset("bedrock")->type, "bedrock");
  EXPECT_EQ(find_preset("bedrock")->api_key_env, "");
}

TEST(Presets, ParserRejectsMalformedData) {
  const std::string good_tail =
      "    docs: https://d\n"
      "    supports: { chat: true, stream: true, tools: true, vision: true, embeddings: true, "
      "images: true }\n";
  const std::pair<std::string, std::string> cases[] = {
      {"presets:\n  x:\n    type: openai\n    base_url: https://h/v1\n    colour: red\n" +
           good_tail,
       "presets.x: unknown key 'colour'"},
      {"presets:\n  x:\n    type: grpc\n    base_url: https://h/v1\n" + good_tail,
       "presets.x.type: expected openai"},
      {"presets:\n  x:\n    type: openai\n    base_url: http://h/v1\n" + good_tail,
       "presets.x.base_url: a hosted provider is reached over https"},
      {"presets:\n  x:\n    type: openai\n    base_url: https://h/v1/\n" + good_tail,
       "presets.x.base_url: missing or not a normalized"},
      {"presets:\n  x:\n    type: openai\n    self_hosted: true\n" + good_tail,
       "presets.x.example_base_url: missing or not a valid URL"},
      {"presets:\n  x:\n    type: openai\n    base_url: https://h/v1\n    api_key_env: my-key\n" +
           good_tail,
       "presets.x.api_key_env: expected an environment variable name"},
      {"presets:\n  x:\n    type: openai\n    base_url: https://h/v1\n    docs: https://d\n"
       "    supports: { chat: true, stream: true }\n",
       "presets.x.supports.tools: missing"},
      {"presets:\n  Bad_Name:\n    type: openai\n", "presets.Bad_Name: preset names are"},
      {"presets: [1, 2]\n", "presets: expected a mapping"},
      {"presets: {x: [\n", "YAML: "},
  };
  for (const auto& [yaml, want] : cases) {
    std::string why;
    EXPECT_FALSE(parse_presets(yaml, &why).has_value()) << yaml;
    EXPECT_NE(why.find(want), std::string::npos) << "got: " << why << "\nwant: " << want;
  }
  std::string why;
  auto ok = parse_presets(
      "presets:\n  x:\n    type: openai\n    base_url: https://h/v1\n" + good_tail, &why);
  ASSERT_TRUE(ok.has_value()) << why;
  EXPECT_TRUE((*ok)[0].supports.images);
}

// --- preset: on a provider ----------------------------------------------------------------------

TEST(Presets, FillTypeBaseUrlAndKey) {
  const std::string y = "providers:\n  - { name: tg, preset: together }\n";
  auto r = load(y, env_of({{"TOGETHER_API_KEY", "tg-secret"}}));
  ASSERT_TRUE(loads(r));
  const ProviderConfig& p = r.config->providers[0];
  EXPECT_EQ(p.preset, "together");
  EXPECT_EQ(p.type, "openai");
  EXPECT_EQ(p.base_url, "https://api.together.xyz/v1");
  EXPECT_EQ(p.api_key, "tg-secret");
  EXPECT_TRUE(p.headers.empty());
  EXPECT_TRUE(p.drop_unsupported_params);
}

TEST(Presets, MissingKeyVariableNamesIt) {
  const std::string y = "providers:\n  - name: tg\n    preset: together\n";
  auto r = load(y);
  EXPECT_TRUE(only_error(r, at(y, "preset"), "providers[0].api_key",
                         "preset together reads the API key from the environment variable "
                         "TOGETHER_API_KEY, which is not set; set TOGETHER_API_KEY, or give "
                         "api_key: ${OTHER_VARIABLE}"));
  auto empty = load(y, env_of({{"TOGETHER_API_KEY", ""}}));
  EXPECT_TRUE(only_error(empty, at(y, "preset"), "providers[0].api_key", "which is empty"));
}

TEST(Presets, KeyVariableWithControlCharactersIsRefusedUnquoted) {
  const std::string y = "providers:\n  - { name: g, preset: groq }\n";
  auto r = load(y, env_of({{"GROQ_API_KEY", "gsk-abc\r\nX-Evil: 1"}}));
  ASSERT_TRUE(only_error(r, at(y, "preset"), "providers[0].api_key", "GROQ_API_KEY"));
  EXPECT_EQ(format(r.errors[0]).find("gsk-abc"), std::string::npos);
}

TEST(Presets, ExplicitKeysOverrideThePreset) {
  const std::string y = R"(providers:
  - name: or
    preset: openrouter
    base_url: https://openrouter.example.com/api/v1
    api_key: ${MY_OR_KEY}
    headers: { x-title: my-app, HTTP-Referer: "https://example.com" }
    drop_unsupported_params: false
  - name: quiet
    preset: together
    api_key: ""
  - name: vllm-as-anthropic
    preset: vllm
    type: anthropic
    base_url: http://10.0.0.5:8000
)";
  auto r = load(y, env_of({{"MY_OR_KEY", "or-secret"}}));
  ASSERT_TRUE(loads(r));
  const ProviderConfig& o = r.config->providers[0];
  EXPECT_EQ(o.type, "openai");
  EXPECT_EQ(o.base_url, "https://openrouter.example.com/api/v1");
  EXPECT_EQ(o.api_key, "or-secret");
  ASSERT_EQ(o.headers.size(), 2u);  // the preset's X-Title replaced by the provider's x-title
  EXPECT_EQ(o.headers[0], (std::pair<std::string, std::string>{"x-title", "my-app"}));
  EXPECT_EQ(o.headers[1].first, "HTTP-Referer");
  EXPECT_FALSE(o.drop_unsupported_params);
  EXPECT_EQ(r.config->providers[1].api_key, "");
  EXPECT_EQ(r.config->providers[1].base_url, "https://api.together.xyz/v1");
  EXPECT_EQ(r.config->providers[2].type, "anthropic");
  EXPECT_EQ(r.config->providers[2].base_url, "http://10.0.0.5:8000");
}

TEST(Presets, AnotherTypeDropsThePresetUrl) {
  // The preset's base URL is for its own wire format: with another type, that type's default
  // applies (or base_url is required, for openai).
  const std::string y = R"(providers:
  - { name: a, preset: deepseek, type: anthropic }
  - { name: b, preset: anthropic, type: openai }
)";
  auto r = load(y, env_of({{"DEEPSEEK_API_KEY", "d"}, {"ANTHROPIC_API_KEY", "a"}}));
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_TRUE(has_error(r, {3, 5}, "providers[1].base_url", "missing required key 'base_url'"));
  const std::string ok = "providers:\n  - { name: a, preset: deepseek, type: anthropic }\n";
  auto r2 = load(ok, env_of({{"DEEPSEEK_API_KEY", "d"}}));
  ASSERT_TRUE(loads(r2));
  EXPECT_EQ(r2.config->providers[0].base_url, "https://api.anthropic.com/v1");
  EXPECT_EQ(r2.config->providers[0].api_key, "d");
}

TEST(Presets, DefaultHeadersAreAddedFirst) {
  const std::string y =
      "providers:\n  - { name: or, preset: openrouter, headers: { X-Team: a } }\n";
  auto r = load(y, env_of({{"OPENROUTER_API_KEY", "k"}}));
  ASSERT_TRUE(loads(r));
  const auto& h = r.config->providers[0].headers;
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"X-Title", "infergate"}));
  EXPECT_EQ(h[1], (std::pair<std::string, std::string>{"X-Team", "a"}));
}

TEST(Presets, AuthorizationHeaderReplacesTheKeyVariable) {
  const std::string y =
      "providers:\n  - { name: m, preset: mistral, headers: { Authorization: "
      "\"Bearer ${TOKEN}\" } }\n";
  auto r = load(y, env_of({{"TOKEN", "t"}}));
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.config->providers[0].api_key, "");
}

TEST(Presets, InlineKeyHintNamesThePresetVariable) {
  const std::string y = "providers:\n  - { name: ds, preset: deepseek, api_key: sk-inline }\n";
  EXPECT_TRUE(only_error(load(y), at(y, "sk-inline"), "providers[0].api_key",
                         "e.g. api_key: ${DEEPSEEK_API_KEY}"));
}

TEST(Presets, UnknownPresetSuggests) {
  const std::string y = "providers:\n  - { name: a, preset: togther }\n";
  EXPECT_TRUE(only_error(load(y), at(y, "togther"), "providers[0].preset",
                         "unknown preset 'togther' (did you mean 'together'?); the presets are "
                         "listed in docs/PROVIDERS.md"));
  const std::string far = "providers:\n  - { name: a, preset: zzzzzzzz }\n";
  auto r = load(far);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].message.find("did you mean"), std::string::npos);
}

TEST(Presets, SelfHostedNeedsBaseUrlButNoKey) {
  const std::string y = "providers:\n  - { name: v, preset: vllm }\n";
  EXPECT_TRUE(only_error(load(y), {2, 5}, "providers[0].base_url",
                         "preset vllm is a self-hosted server: give its URL, e.g. base_url: "
                         "http://localhost:8000/v1"));
  const std::string ok =
      "providers:\n  - { name: o, preset: ollama, base_url: \"http://gpu-box:11434/v1\" }\n";
  auto r = load(ok);
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.config->providers[0].type, "openai");
  EXPECT_EQ(r.config->providers[0].base_url, "http://gpu-box:11434/v1");
  EXPECT_EQ(r.config->providers[0].api_key, "");
}

TEST(Presets, NativePresets) {
  const std::string y = R"(providers:
  - { name: c, preset: anthropic }
  - { name: g, preset: gemini }
  - name: b
    preset: bedrock
    aws: { region: ap-southeast-2, access_key_id: "${AK}", secret_access_key: "${SK}" }
)";
  auto r = load(
      y, env_of({{"ANTHROPIC_API_KEY", "a"}, {"GEMINI_API_KEY", "g"}, {"AK", "ak"}, {"SK", "sk"}}));
  ASSERT_TRUE(loads(r));
  const auto& ps = r.config->providers;
  EXPECT_EQ(ps[0].type, "anthropic");
  EXPECT_EQ(ps[0].api_key, "a");
  EXPECT_EQ(ps[0].base_url, "https://api.anthropic.com/v1");
  EXPECT_EQ(ps[1].type, "gemini");
  EXPECT_EQ(ps[1].api_key, "g");
  EXPECT_EQ(ps[2].type, "bedrock");
  EXPECT_EQ(ps[2].base_url, "https://bedrock-runtime.ap-southeast-2.amazonaws.com");
  EXPECT_EQ(ps[2].api_key, "");

  const std::string no_aws = "providers:\n  - { name: b, preset: bedrock }\n";
  EXPECT_TRUE(only_error(load(no_aws), {2, 5}, "providers[0].aws", "missing required key 'aws'"));
}

TEST(Presets, PresetDoesNotApplyToLocal) {
  // Every preset is a network upstream: switching its type to local leaves nothing to apply.
  const std::string y = "providers:\n  - { name: l, preset: together, type: local }\n";
  EXPECT_TRUE(only_error(load(y), at(y, "preset"), "providers[0].preset",
                         "does not apply to providers of type local"));
}

// --- documentation ----------------------------------------------------------------------------

TEST(Presets, ProvidersDocListsEveryPreset) {
  const std::string doc = read_source("docs/PROVIDERS.md");
  ASSERT_FALSE(doc.empty()) << "docs/PROVIDERS.md missing";
  const std::size_t presets_at = doc.find("\n## Presets\n");
  const std::size_t support_at = doc.find("\n### What each preset supports\n");
  ASSERT_NE(presets_at, std::string::npos);
  ASSERT_NE(support_at, std::string::npos);
  ASSERT_LT(presets_at, support_at);
  auto line_at = [&](std::size_t from, std::size_t to, const std::string& start) {
    const std::size_t at_row = doc.find("\n" + start, from);
    if (at_row == std::string::npos || at_row > to) return std::string();
    return doc.substr(at_row + 1, doc.find('\n', at_row + 1) - at_row - 1);
  };
  for (const ProviderPreset& p : provider_presets()) {
    const std::string row = "| `" + p.name + "` |";
    const std::string line = line_at(presets_at, support_at, row);
    ASSERT_FALSE(line.empty()) << "no row for " << p.name << " in the presets table";
    const std::string url = p.self_hosted ? p.example_base_url : p.base_url;
    EXPECT_NE(line.find("`" + url + "`"), std::string::npos) << line;
    if (!p.api_key_env.empty()) {
      EXPECT_NE(line.find("`" + p.api_key_env + "`"), std::string::npos) << line;
    }
    EXPECT_TRUE(line.starts_with(row + " " + p.type + " |")) << line;
    const std::string sline = line_at(support_at, doc.size(), row);
    const bool flags[] = {p.supports.chat,   p.supports.stream,     p.supports.tools,
                          p.supports.vision, p.supports.embeddings, p.supports.images};
    std::string want = row;
    for (bool f : flags) want += f ? " yes |" : " - |";
    EXPECT_EQ(sline, want);
  }
}

}  // namespace
}  // namespace infergate::config
