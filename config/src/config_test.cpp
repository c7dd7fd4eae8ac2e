// The loader: every validation rule with its position and key path, env substitution, limits,
// and the example files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "infergate/config/config.hpp"
#include "test_support.hpp"

namespace infergate::config {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHashA = "3b461a397265f41fa4714bdc3465400ee76f52f873dcc9d3bb41190b0ff56ab2";
constexpr const char* kHashB = "bb26fdd579d58e70a78e42db46aae988f0cd1e9bd0b954d64586ccf2170467f4";

using namespace testing_support;  // NOLINT(google-build-using-namespace)

// --- defaults and structure -------------------------------------------------------------------

TEST(ConfigLoad, EmptyDocumentGivesDefaults) {
  for (const char* text : {"", "# only a comment\n", "server:\nproviders:\nmodels:\n"}) {
    auto r = load(text);
    ASSERT_TRUE(loads(r)) << "'" << text << "'";
    const Config& c = *r.config;
    EXPECT_EQ(c.server.host, "127.0.0.1");
    EXPECT_EQ(c.server.port, 8080);
    EXPECT_EQ(c.server.max_body_bytes, 4u * 1024 * 1024);
    EXPECT_EQ(c.server.request_timeout, Millis(600'000));
    EXPECT_FALSE(c.server.tls.has_value());
    EXPECT_EQ(c.server.access_log, "-");
    EXPECT_TRUE(c.providers.empty());
    EXPECT_EQ(c.routing.max_attempts, 3);
    EXPECT_EQ(c.source, "t.yaml");
  }
}

TEST(ConfigLoad, ReadsEveryServerOption) {
  const std::string y = R"(server:
  host: "::1"
  port: 0
  port_file: run/port
  io_threads: 4
  busy_poll_us: 150
  access_log: ""
  limits: { max_header_bytes: 8KiB, max_body_bytes: 1048576, max_requests_per_connection: 10, max_connections: 5 }
  timeouts: { request_read: 250ms, idle: 2m, request: 1h, shutdown_grace: 0 }
)";
  auto r = load(y);
  ASSERT_TRUE(loads(r));
  const ServerConfig& s = r.config->server;
  EXPECT_EQ(s.host, "::1");
  EXPECT_EQ(s.port, 0);
  EXPECT_EQ(s.port_file, "run/port");
  EXPECT_EQ(s.io_threads, 4);
  EXPECT_EQ(s.busy_poll_us, 150);
  EXPECT_EQ(s.access_log, "");
  EXPECT_EQ(s.max_header_bytes, 8192u);
  EXPECT_EQ(s.max_body_bytes, 1048576u);
  EXPECT_EQ(s.max_requests_per_connection, 10);
  EXPECT_EQ(s.max_connections, 5u);
  EXPECT_EQ(s.request_read_timeout, Millis(250));
  EXPECT_EQ(s.idle_timeout, Millis(120'000));
  EXPECT_EQ(s.request_timeout, Millis(3'600'000));
  EXPECT_EQ(s.shutdown_grace, Millis(0));
}

TEST(ConfigLoad, BusyPollIsBounded) {
  EXPECT_EQ(load("server: {port: 1}\n").config->server.busy_poll_us, 0);  // off unless asked
  EXPECT_TRUE(only_error(load("server: {busy_poll_us: 10001}"), {1, 24}, "server.busy_poll_us",
                         "must be 0..10000"));
}

TEST(ConfigLoad, RootMustBeAMapping) {
  const std::string y = "- server\n- providers\n";
  EXPECT_TRUE(only_error(load(y), {1, 1}, "", "must be a mapping of sections"));
}

TEST(ConfigLoad, SectionOfWrongType) {
  const std::string y = "server: [1, 2]\nproviders: {a: 1}\n";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_TRUE(has_error(r, {1, 9}, "server", "expected a mapping, got a list"));
  EXPECT_TRUE(has_error(r, {2, 12}, "providers", "expected a list of providers, got a mapping"));
}

// --- unknown and duplicate keys ---------------------------------------------------------------

TEST(ConfigLoad, UnknownKeyWithSuggestion) {
  const std::string y = "server:\n  prot: 8080\n";
  EXPECT_TRUE(
      only_error(load(y), {2, 3}, "server.prot", "unknown key 'prot' (did you mean 'port'?)"));
}

TEST(ConfigLoad, UnknownSectionWithSuggestion) {
  const std::string y = "sever:\n  port: 1\n";
  EXPECT_TRUE(only_error(load(y), {1, 1}, "sever", "unknown key 'sever' (did you mean 'server'?)"));
}

TEST(ConfigLoad, UnknownKeyWithoutNearMiss) {
  const std::string y = R"(providers:
  - name: a
    base_url: http://h
    frobnicate: true
)";
  auto r = load(y);
  EXPECT_TRUE(only_error(r, {4, 5}, "providers[0].frobnicate", "unknown key 'frobnicate'"));
  EXPECT_EQ(r.errors[0].message.find("did you mean"), std::string::npos);
}

TEST(ConfigLoad, DuplicateMappingKey) {
  const std::string y = "server:\n  port: 1\n  port: 2\n";
  EXPECT_TRUE(only_error(load(y), {3, 3}, "server.port", "duplicate key (first given at line 2)"));
}

TEST(ConfigLoad, MergeKeysAreExplained) {
  const std::string y = "server:\n  <<: {port: 1}\n";
  EXPECT_TRUE(only_error(load(y), {2, 3}, "server.<<", "merge keys are not supported"));
}

TEST(ConfigLoad, NonStringKey) {
  const std::string y = "server:\n  [a]: 1\n";
  EXPECT_TRUE(only_error(load(y), {2, 3}, "server", "keys must be plain strings"));
}

// --- types and ranges -------------------------------------------------------------------------

TEST(ConfigLoad, WrongTypes) {
  const std::string y = R"(server:
  port: [1]
  io_threads: abc
  access_log: {a: 1}
  port_file:
)";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 4u) << dump(r);
  EXPECT_TRUE(has_error(r, at(y, "[1]"), "server.port", "expected an integer, got a list"));
  EXPECT_TRUE(
      has_error(r, at(y, "abc"), "server.io_threads", "expected an integer 0..256, got 'abc'"));
  EXPECT_TRUE(
      has_error(r, at(y, "{a: 1}"), "server.access_log", "expected a string, got a mapping"));
  EXPECT_TRUE(has_error(r, {5, 12}, "server.port_file", "write \"\" for an empty string"));
}

TEST(ConfigLoad, OutOfRangeNumbers) {
  const std::string y = R"(server:
  port: 70000
  io_threads: 257
routing:
  max_attempts: 0
)";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 3u) << dump(r);
  EXPECT_TRUE(has_error(r, {2, 9}, "server.port", "out of range: must be 0..65535, got '70000'"));
  EXPECT_TRUE(has_error(r, {3, 15}, "server.io_threads", "must be 0..256"));
  EXPECT_TRUE(has_error(r, {5, 17}, "routing.max_attempts", "must be 1..64"));

  EXPECT_TRUE(
      only_error(load("server: {io_threads: -1}"), {1, 22}, "server.io_threads", "out of range"));
  EXPECT_TRUE(only_error(load("server: {port: 99999999999999999999999}"), {1, 16}, "server.port",
                         "out of range"));
  EXPECT_TRUE(
      only_error(load("server: {port: 80.5}"), {1, 16}, "server.port", "expected an integer"));
  auto ok = load("server: {port: 65535, io_threads: 256}\nrouting: {max_attempts: 1}\n");
  ASSERT_TRUE(loads(ok));
  EXPECT_EQ(ok.config->server.port, 65535);
  EXPECT_EQ(ok.config->routing.max_attempts, 1);
}

TEST(ConfigLoad, Booleans) {
  const std::string base = "providers:\n  - { name: a, base_url: \"http://h\", tls_verify: ";
  auto r = load(base + "false }\n");
  ASSERT_TRUE(loads(r));
  EXPECT_FALSE(r.config->providers[0].tls_verify);
  const std::string bad = base + "yes }\n";
  EXPECT_TRUE(only_error(load(bad), at(bad, "yes"), "providers[0].tls_verify",
                         "expected true or false, got 'yes'"));
}

TEST(ConfigLoad, Durations) {
  const std::string y = R"(server:
  timeouts:
    request_read: 5x
    idle: 1.5s
    request: 25h
    shutdown_grace: 2h
)";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 4u) << dump(r);
  EXPECT_TRUE(has_error(r, {3, 19}, "server.timeouts.request_read", "malformed duration"));
  EXPECT_TRUE(has_error(r, {4, 11}, "server.timeouts.idle", "got '1.5s'"));
  EXPECT_TRUE(has_error(r, {5, 14}, "server.timeouts.request", "out of range: must be 1ms..24h"));
  EXPECT_TRUE(has_error(r, {6, 21}, "server.timeouts.shutdown_grace", "must be 0ms..1h"));

  auto ok = load("server:\n  timeouts: { request_read: 2500, idle: 1h }\n");
  ASSERT_TRUE(loads(ok));
  EXPECT_EQ(ok.config->server.request_read_timeout, Millis(2500));
  EXPECT_EQ(ok.config->server.idle_timeout, Millis(3'600'000));
  EXPECT_TRUE(only_error(load("server: {timeouts: {idle: 0}}"), {1, 27}, "server.timeouts.idle",
                         "must be 1ms..24h"));
}

TEST(ConfigLoad, Sizes) {
  const std::string y = R"(server:
  limits:
    max_header_bytes: 4MB
    max_body_bytes: 2GiB
    max_connections: 0
)";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 3u) << dump(r);
  EXPECT_TRUE(has_error(r, {3, 23}, "server.limits.max_header_bytes", "write KiB, MiB or GiB"));
  EXPECT_TRUE(has_error(r, {4, 21}, "server.limits.max_body_bytes",
                        "out of range: must be 1KiB..1GiB, got '2GiB'"));
  EXPECT_TRUE(has_error(r, {5, 22}, "server.limits.max_connections", "must be 1..1000000"));
}

// --- required fields, duplicates, references --------------------------------------------------

TEST(ConfigLoad, RequiredFields) {
  const std::string y = R"(providers:
  - type: openai
    base_url: http://h
models:
  - name: m
  - name: n
    deployments:
      - { provider: p }
keys:
  - id: k
)";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 4u) << dump(r);
  EXPECT_TRUE(has_error(r, {2, 5}, "providers[0].name", "missing required key 'name'"));
  EXPECT_TRUE(has_error(r, {5, 5}, "models[0].deployments", "missing required key 'deployments'"));
  EXPECT_TRUE(
      has_error(r, {8, 9}, "models[1].deployments[0].model", "missing required key 'model'"));
  EXPECT_TRUE(has_error(r, {10, 5}, "keys[0].sha256", "missing required key 'sha256'"));
}

TEST(ConfigLoad, ListItemsMustBeMappings) {
  const std::string y = "providers:\n  - just-a-name\n  -\n";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_TRUE(has_error(r, {2, 5}, "providers[0]", "expected a mapping, got a scalar"));
  EXPECT_TRUE(has_error(r, {3, 3}, "providers[1]", "got nothing"));
}

TEST(ConfigLoad, AtLeastOneDeployment) {
  const std::string y = "models:\n  - { name: m, deployments: [] }\n";
  EXPECT_TRUE(only_error(load(y), at(y, "[]"), "models[0].deployments", "at least one deployment"));
}

TEST(ConfigLoad, DuplicateNamesAndHashes) {
  const std::string y = std::string(R"(providers:
  - { name: a, base_url: "http://h" }
  - { name: a, base_url: "http://h" }
models:
  - { name: m, deployments: [{ provider: a, model: x }] }
  - { name: m, deployments: [{ provider: a, model: x }] }
orgs: [{ name: o }, { name: o }]
keys:
  - { id: k, sha256: )") +
                        kHashA + R"(, org: o }
  - { id: k, sha256: )" +
                        kHashB + R"(, org: o }
  - { id: j, sha256: )" +
                        kHashA + R"(, org: o }
)";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 5u) << dump(r);
  EXPECT_TRUE(has_error(r, {3, 13}, "providers[1].name",
                        "duplicate provider name 'a' (first defined at line 2)"));
  EXPECT_TRUE(has_error(r, {6, 13}, "models[1].name",
                        "duplicate model name 'm' (first defined at line 5)"));
  EXPECT_TRUE(has_error(r, {7, 29}, "orgs[1].name", "duplicate org name 'o'"));
  EXPECT_TRUE(
      has_error(r, {10, 11}, "keys[1].id", "duplicate key id 'k' (first defined at line 9)"));
  EXPECT_TRUE(has_error(r, {11, 22}, "keys[2].sha256", "same hash as key 'k'"));
}

TEST(ConfigLoad, UnknownReferencesWithSuggestions) {
  const std::string y = std::string(R"(providers:
  - { name: together, type: openai, base_url: "https://x" }
models:
  - name: m
    deployments:
      - { provider: togther, model: x }
orgs:
  - name: acme
keys:
  - { id: k, sha256: )") +
                        kHashA + R"(, org: acne, models: [m, mm] }
)";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 3u) << dump(r);
  EXPECT_TRUE(has_error(r, at(y, "togther"), "models[0].deployments[0].provider",
                        "unknown provider 'togther' (did you mean 'together'?)"));
  EXPECT_TRUE(has_error(r, at(y, "acne"), "keys[0].org", "unknown org 'acne' (not in orgs)"));
  EXPECT_TRUE(has_error(r, at(y, "mm]"), "keys[0].models[1]", "unknown model 'mm'"));
}

TEST(ConfigLoad, OrgsOptionalUnlessGiven) {
  const std::string keys = std::string("keys:\n  - { id: k, sha256: ") + kHashA + ", org: any }\n";
  ASSERT_TRUE(loads(load(keys)));  // no orgs section: any org name
  const std::string no_org =
      std::string("orgs: [{ name: a }]\nkeys:\n  - { id: k, sha256: ") + kHashA + " }\n";
  EXPECT_TRUE(only_error(load(no_org), {3, 5}, "keys[0].org", "every key needs an org"));
  const std::string empty_org =
      std::string("orgs: [{ name: a }]\nkeys:\n  - { id: k, sha256: ") + kHashA + ", org: \"\" }\n";
  EXPECT_TRUE(
      only_error(load(empty_org), at(empty_org, "\"\""), "keys[0].org", "every key needs an org"));
}

TEST(ConfigLoad, KeyModelAllowList) {
  const std::string base = std::string(R"(providers: [{ name: p, base_url: "http://h" }]
models:
  - { name: a, deployments: [{ provider: p, model: x }] }
  - { name: b, deployments: [{ provider: p, model: x }] }
keys:
  - { id: k, sha256: )") + kHashA;
  auto r = load(base + ", models: [a, b] }\n");
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.config->keys[0].models, (std::vector<std::string>{"a", "b"}));
  const std::string dup = base + ", models: [a, a] }\n";
  EXPECT_TRUE(only_error(load(dup), at(dup, "a] }"), "keys[0].models[1]", "duplicate model 'a'"));
  const std::string empty = base + ", models: [] }\n";
  EXPECT_TRUE(only_error(load(empty), at(empty, "[] }"), "keys[0].models",
                         "leave 'models' out to allow all"));
}

TEST(ConfigLoad, ErrorsAreInFileOrderWhateverTheSectionOrder) {
  // keys reference models defined later in the file; sections are checked in dependency order.
  const std::string y = std::string("keys:\n  - { id: k, sha256: ") + kHashA +
                        ", models: [nope] }\nmodels:\n  - { name: m, deployments: [{ provider: "
                        "ghost, model: x }] }\nserver: { port: -5 }\n";
  auto r = load(y);
  ASSERT_EQ(r.errors.size(), 3u) << dump(r);
  EXPECT_EQ(r.errors[0].key, "keys[0].models[0]");
  EXPECT_EQ(r.errors[1].key, "models[0].deployments[0].provider");
  EXPECT_EQ(r.errors[2].key, "server.port");
  EXPECT_LT(r.errors[0].line, r.errors[1].line);
  EXPECT_LT(r.errors[1].line, r.errors[2].line);
}

TEST(ConfigLoad, CollectsEveryError) {
  const std::string y = R"(server:
  prot: 1
  timeouts: { idle: soon }
providers:
  - name: a
    type: opneai
  - name: b
    base_url: ftp://x
    api_key: sk-inline
models:
  - { name: m, deployments: [{ provider: zz, model: x }] }
keys:
  - { id: "bad id", sha256: ABC }
routing: { max_attempts: 0, strategy: x }
)";
  auto r = load(y);
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 10u) << dump(r);
  const char* keys[] = {"server.prot",          "server.timeouts.idle",
                        "providers[0].type",    "providers[1].base_url",
                        "providers[1].api_key", "models[0].deployments[0].provider",
                        "keys[0].id",           "keys[0].sha256",
                        "routing.max_attempts", "routing.strategy"};
  for (std::size_t i = 0; i < r.errors.size(); ++i) {
    EXPECT_EQ(r.errors[i].key, keys[i]) << dump(r);
    EXPECT_GT(r.errors[i].line, 0);
    EXPECT_GT(r.errors[i].column, 0);
    EXPECT_EQ(r.errors[i].file, "t.yaml");
  }
  EXPECT_NE(r.errors[2].message.find("did you mean 'openai'"), std::string::npos);
}

// --- providers --------------------------------------------------------------------------------

TEST(ConfigLoad, ProviderTypes) {
  const std::string unknown = "providers:\n  - { name: a, type: opneai }\n";
  EXPECT_TRUE(only_error(load(unknown), at(unknown, "opneai"), "providers[0].type",
                         "unknown provider type 'opneai'; known: openai, anthropic, gemini, "
                         "bedrock, replicate, fal, local (did you mean 'openai'?)"));
  const std::string no_url = "providers:\n  - { name: a, type: openai }\n";
  EXPECT_TRUE(
      only_error(load(no_url), {2, 5}, "providers[0].base_url", "missing required key 'base_url'"));
  const std::string local_with_url =
      "providers:\n  - { name: l, type: local, base_url: \"http://h\", api_key: x }\n";
  auto r = load(local_with_url);
  EXPECT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_TRUE(has_error(r, at(local_with_url, "base_url"), "providers[0].base_url",
                        "does not apply to providers of type local"));
  EXPECT_TRUE(has_error(r, at(local_with_url, "api_key"), "providers[0].api_key",
                        "does not apply to providers of type local"));
  const std::string remote_with_local =
      "providers:\n  - { name: a, base_url: \"http://h\", local: { threads: 1 } }\n";
  EXPECT_TRUE(only_error(load(remote_with_local), at(remote_with_local, "local"),
                         "providers[0].local", "applies only to providers of type local"));
}

TEST(ConfigLoad, ProviderNames) {
  const std::string y = "providers:\n  - { name: \"my provider\", base_url: \"http://h\" }\n";
  EXPECT_TRUE(only_error(load(y), at(y, "\"my provider\""), "providers[0].name",
                         "provider names are 1..64 letters"));
}

TEST(ConfigLoad, ReadsEveryProviderOption) {
  const std::string y = R"(providers:
  - name: up
    type: openai
    base_url: HTTPS://api.example.com:8443/v1/
    api_key: ${UP_KEY}
    headers: { X-Team: platform, X-Token: "t-${UP_KEY}" }
    tls_verify: false
    max_connections: 16
    timeouts: { connect: 1s, first_byte: 2s, idle: 3s, total: 4s }
  - name: here
    type: local
    local: { threads: 2, context_size: 512, max_sequences: 4, max_queue: 0, kv_memory_mb: 256, chat_template: chatml }
)";
  auto r = load(y, env_of({{"UP_KEY", "sk-live"}}));
  ASSERT_TRUE(loads(r));
  const ProviderConfig& up = r.config->providers[0];
  EXPECT_EQ(up.base_url, "https://api.example.com:8443/v1");
  EXPECT_EQ(up.api_key, "sk-live");
  ASSERT_EQ(up.headers.size(), 2u);
  EXPECT_EQ(up.headers[0], (std::pair<std::string, std::string>{"X-Team", "platform"}));
  EXPECT_EQ(up.headers[1], (std::pair<std::string, std::string>{"X-Token", "t-sk-live"}));
  EXPECT_FALSE(up.tls_verify);
  EXPECT_EQ(up.max_connections, 16u);
  EXPECT_EQ(up.connect_timeout, Millis(1000));
  EXPECT_EQ(up.first_byte_timeout, Millis(2000));
  EXPECT_EQ(up.idle_timeout, Millis(3000));
  EXPECT_EQ(up.total_timeout, Millis(4000));
  EXPECT_FALSE(up.local.has_value());
  EXPECT_EQ(up.line, 2);
  const ProviderConfig& here = r.config->providers[1];
  ASSERT_TRUE(here.local.has_value());
  EXPECT_EQ(here.local->threads, 2);
  EXPECT_EQ(here.local->context_size, 512);
  EXPECT_EQ(here.local->max_sequences, 4);
  EXPECT_EQ(here.local->max_queue, 0);
  EXPECT_EQ(here.local->kv_memory_mb, 256);
  EXPECT_EQ(here.local->chat_template, "chatml");
  EXPECT_EQ(here.local->model_path, "");
  EXPECT_EQ(r.config->find_provider("here"), &here);
  EXPECT_EQ(r.config->find_provider("nope"), nullptr);
}

TEST(ConfigLoad, LocalProviderWithoutBlockGetsDefaults) {
  auto r = load("providers:\n  - { name: l, type: local }\n");
  ASSERT_TRUE(loads(r));
  ASSERT_TRUE(r.config->providers[0].local.has_value());
  EXPECT_EQ(r.config->providers[0].local->context_size, 4096);
}

TEST(ConfigLoad, LocalOptionRanges) {
  const std::string y =
      "providers:\n  - { name: l, type: local, local: { context_size: 8, "
      "max_sequences: 0, chat_template: \"../x\" } }\n";
  auto r = load(y);
  EXPECT_EQ(r.errors.size(), 3u) << dump(r);
  EXPECT_TRUE(has_error(r, at(y, "8,"), "providers[0].local.context_size", "must be 16..1048576"));
  EXPECT_TRUE(has_error(r, at(y, "0,"), "providers[0].local.max_sequences", "must be 1..256"));
  EXPECT_TRUE(
      has_error(r, at(y, "\"../x\""), "providers[0].local.chat_template", "template family name"));
}

TEST(ConfigLoad, BaseUrlRules) {
  const std::pair<const char*, const char*> cases[] = {
      {"ftp://h/v1", "must start with http:// or https://"},
      {"https://h/v1?x=1", "must not contain a query"},
      {"https://h/v1#top", "fragment"},
      {"https://u:p@h/v1", "user info"},
      {"https://h:0/", "invalid port"},
      {"https:///v1", "no host"},
  };
  for (const auto& [url, why] : cases) {
    const std::string y = std::string("providers:\n  - name: a\n    base_url: \"") + url + "\"\n";
    auto r = load(y);
    EXPECT_TRUE(only_error(r, {3, 15}, "providers[0].base_url", why));
    if (!r.errors.empty()) {
      EXPECT_TRUE(r.errors[0].message.starts_with("invalid URL: "));
    }
  }
}

TEST(ConfigLoad, InlineApiKeyRejected) {
  const std::string y =
      "providers:\n  - { name: together-ai, base_url: \"http://h\", api_key: "
      "sk-inline-secret }\n";
  auto r = load(y);
  EXPECT_TRUE(only_error(r, at(y, "sk-inline"), "providers[0].api_key",
                         "secrets must come from the environment, e.g. api_key: "
                         "${TOGETHER_AI_API_KEY}"));
  EXPECT_EQ(format(r.errors[0]).find("sk-inline-secret"), std::string::npos);
}

TEST(ConfigLoad, Headers) {
  const std::string reserved =
      "providers:\n  - { name: a, base_url: \"http://h\", headers: { "
      "Content-Length: \"5\" } }\n";
  EXPECT_TRUE(only_error(load(reserved), at(reserved, "Content-Length"),
                         "providers[0].headers.Content-Length", "set by the gateway"));
  const std::string bad_name =
      "providers:\n  - { name: a, base_url: \"http://h\", headers: { "
      "\"Bad Name\": x } }\n";
  EXPECT_TRUE(only_error(load(bad_name), at(bad_name, "\"Bad Name\""),
                         "providers[0].headers.Bad Name", "invalid HTTP header name"));
  const std::string dup =
      "providers:\n  - { name: a, base_url: \"http://h\", headers: { X-A: 1, "
      "x-a: 2 } }\n";
  EXPECT_TRUE(
      only_error(load(dup), at(dup, "x-a"), "providers[0].headers.x-a", "duplicate header 'x-a'"));
  const std::string both =
      "providers:\n  - { name: a, base_url: \"http://h\", api_key: \"${K}\", "
      "headers: { Authorization: \"Bearer x\" } }\n";
  EXPECT_TRUE(only_error(load(both, env_of({{"K", "v"}})), at(both, "Authorization"),
                         "providers[0].headers.Authorization", "either api_key or"));
  const std::string not_map = "providers:\n  - { name: a, base_url: \"http://h\", headers: [x] }\n";
  EXPECT_TRUE(only_error(load(not_map), at(not_map, "[x]"), "providers[0].headers",
                         "expected a mapping of header name to value"));
}

TEST(ConfigLoad, InputFilesMustExist) {
  TempDir dir;
  const fs::path cert = dir.write("server.pem", "cert");
  const fs::path key = dir.write("server.key", "key");
  const fs::path model = dir.write("model.gguf", "GGUF");
  fs::create_directory(dir.path() / "adir");

  // Relative paths resolve against the config file's directory.
  const std::string ok = R"(server:
  tls: { cert_file: server.pem, key_file: server.key }
providers:
  - { name: a, base_url: "http://h", ca_file: server.pem }
  - { name: l, type: local, local: { model_path: model.gguf } }
)";
  const fs::path cfg = dir.write("gw.yaml", ok);
  auto r = load_file(cfg.string(), env_of({}));
  ASSERT_TRUE(loads(r));
  ASSERT_TRUE(r.config->server.tls.has_value());
  EXPECT_EQ(r.config->server.tls->cert_file, cert.string());
  EXPECT_EQ(r.config->server.tls->key_file, key.string());
  EXPECT_EQ(r.config->providers[0].ca_file, cert.string());
  EXPECT_EQ(r.config->providers[1].local->model_path, model.string());
  EXPECT_EQ(r.config->source, cfg.string());

  const std::string bad = R"(server:
  tls: { cert_file: missing.pem }
providers:
  - { name: a, base_url: "http://h", ca_file: adir }
  - { name: l, type: local, local: { model_path: nope.gguf } }
)";
  const fs::path bad_cfg = dir.write("bad.yaml", bad);
  r = load_file(bad_cfg.string(), env_of({}));
  EXPECT_EQ(r.errors.size(), 4u) << dump(r);
  EXPECT_TRUE(has_error(r, at(bad, "missing.pem"), "server.tls.cert_file", "does not exist"));
  EXPECT_TRUE(has_error(r, {2, 8}, "server.tls.key_file", "missing required key 'key_file'"));
  EXPECT_TRUE(has_error(r, at(bad, "adir"), "providers[0].ca_file", "not a regular file"));
  EXPECT_TRUE(
      has_error(r, at(bad, "nope.gguf"), "providers[1].local.model_path", "does not exist"));
  for (const auto& d : r.errors) EXPECT_EQ(d.file, bad_cfg.string());

  if (::geteuid() != 0) {  // root reads anything
    ::chmod(model.c_str(), 0);
    r = load_file(cfg.string(), env_of({}));
    EXPECT_TRUE(
        only_error(r, at(ok, "model.gguf"), "providers[1].local.model_path", "is not readable"));
  }
}

// --- keys -------------------------------------------------------------------------------------

TEST(ConfigLoad, KeyHashFormat) {
  const std::string upper = std::string("keys:\n  - { id: k, sha256: ") +
                            "3B461A397265F41FA4714BDC3465400EE76F52F873DCC9D3BB41190B0FF56AB2 }\n";
  EXPECT_TRUE(only_error(load(upper), at(upper, "3B46"), "keys[0].sha256", "must be lowercase"));
  const std::string shorter = "keys:\n  - { id: k, sha256: abc123 }\n";
  EXPECT_TRUE(only_error(load(shorter), at(shorter, "abc123"), "keys[0].sha256",
                         "expected 64 lowercase hex characters (SHA-256 of the key), got 6"));
  const std::string not_hex =
      std::string("keys:\n  - { id: k, sha256: ") + std::string(64, 'g') + " }\n";
  EXPECT_TRUE(only_error(load(not_hex), at(not_hex, "ggg"), "keys[0].sha256", "64 lowercase hex"));
  auto r = load(std::string("keys:\n  - { id: team-a, sha256: ") + kHashA + ", org: acme }\n");
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.config->keys[0].id, "team-a");
  EXPECT_EQ(r.config->keys[0].sha256, kHashA);
  EXPECT_EQ(r.config->keys[0].org, "acme");
  EXPECT_TRUE(r.config->keys[0].models.empty());
}

// --- ${ENV} -----------------------------------------------------------------------------------

TEST(ConfigEnv, WholePartialAndEscaped) {
  const std::string y = R"(server:
  port: ${PORT}
  port_file: "${DIR}/port"
  access_log: "$${NOT_ENV}"
providers:
  - { name: a, base_url: "http://${HOST}:9100/v1", api_key: "${KEY}" }
)";
  auto r = load(y, env_of({{"PORT", "9000"}, {"DIR", "/run"}, {"HOST", "up"}, {"KEY", "sk"}}));
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.config->server.port, 9000);
  EXPECT_EQ(r.config->server.port_file, "/run/port");
  EXPECT_EQ(r.config->server.access_log, "${NOT_ENV}");
  EXPECT_EQ(r.config->providers[0].base_url, "http://up:9100/v1");
  EXPECT_EQ(r.config->providers[0].api_key, "sk");
}

TEST(ConfigEnv, MissingVariableNamedAtItsPosition) {
  const std::string y = R"(providers:
  - name: together
    base_url: https://api.together.xyz/v1
    api_key: ${TOGETHER_API_KEY}
    headers: { X-Org: "org-${ORG_ID}" }
)";
  auto r = load(y);
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_TRUE(has_error(r, {4, 14}, "providers[0].api_key",
                        "environment variable TOGETHER_API_KEY is not set"));
  EXPECT_TRUE(has_error(r, at(y, "\"org-"), "providers[0].headers.X-Org",
                        "environment variable ORG_ID is not set"));
  EXPECT_EQ(format(r.errors[0]),
            "t.yaml:4:14: providers[0].api_key: environment variable TOGETHER_API_KEY is not set");
}

TEST(ConfigEnv, MalformedReference) {
  const std::string y = "server: { port_file: \"${UNCLOSED\" }\n";
  EXPECT_TRUE(only_error(load(y), at(y, "\"${"), "server.port_file", "unterminated ${"));
}

TEST(ConfigEnv, SecretValuesNeverAppearInDiagnostics) {
  const std::string secret = "SECRET-VALUE-1234";
  const std::string y = R"(server:
  port: ${S_PORT}
  port_file: ${S_CTRL}
providers:
  - name: a
    base_url: http://h
    api_key: ${S_CTRL}
    headers: { X-A: "${S_CRLF}", X-B: "${S_MISSING}" }
    max_connections: ${S_PORT}
    timeouts: { idle: "${S_PORT}" }
    tls_verify: ${S_PORT}
)";
  auto r = load(y, env_of({{"S_PORT", secret},
                           {"S_CTRL", secret + "\x01"},
                           {"S_CRLF", secret + "\r\nX-Injected: 1"}}));
  EXPECT_EQ(r.errors.size(), 8u) << dump(r);
  for (const auto& d : r.errors) {
    const std::string text = format(d);
    EXPECT_EQ(text.find("SECRET"), std::string::npos) << text;
    EXPECT_EQ(text.find("Injected"), std::string::npos) << text;
  }
  EXPECT_TRUE(
      has_error(r, {2, 9}, "server.port",
                "expected an integer 0..65535, got a value from the environment (not shown)"));
  EXPECT_TRUE(has_error(r, at(y, "\"${S_CRLF}"), "providers[0].headers.X-A", "line breaks"));
  EXPECT_TRUE(has_error(r, at(y, "\"${S_MISSING}"), "providers[0].headers.X-B", "S_MISSING"));
}

// --- YAML-level problems and limits -----------------------------------------------------------

TEST(ConfigLoad, YamlSyntaxErrorHasPosition) {
  auto r = load("server:\n  port: [1, 2\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].column, 1);
  EXPECT_NE(r.errors[0].message.find("YAML syntax error: end of sequence flow not found"),
            std::string::npos);
  r = load("server:\n  host: a: b\n");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(ConfigLoad, OneDocumentOnly) {
  EXPECT_TRUE(
      only_error(load("server: {}\n---\nserver: {}\n"), {2, 1}, "", "only one YAML document"));
}

TEST(ConfigLoad, SelfReferencingAliasIsHarmless) {
  const std::string y = "providers: &p [*p]\nmodels: &m [{ name: x, deployments: *m }]\n";
  auto r = load(y);
  EXPECT_FALSE(r.config.has_value());
  EXPECT_TRUE(has_error(r, {1, 12}, "providers[0]", "expected a mapping, got a list"));
}

TEST(ConfigLoad, AliasBombHitsTheBudget) {
  // 1000 keys sharing one 1100-name allow-list: 1.1M values reachable from a small file.
  constexpr int kModels = 1100;
  constexpr int kKeys = 1000;
  std::string y = "providers: [{ name: p, base_url: \"http://h\" }]\nmodels:\n";
  for (int i = 0; i < kModels; ++i)
    y += "  - { name: m" + std::to_string(i) + ", deployments: [{ provider: p, model: x }] }\n";
  y += "keys:\n";
  for (int i = 0; i < kKeys; ++i) {
    char hash[65];
    std::snprintf(hash, sizeof hash, "%064x", i);
    y += "  - { id: k" + std::to_string(i) + ", sha256: " + hash + ", models: ";
    if (i == 0) {
      y += "&all [";
      for (int j = 0; j < kModels; ++j) y += (j ? ", m" : "m") + std::to_string(j);
      y += "] }\n";
    } else {
      y += "*all }\n";
    }
  }
  ASSERT_LT(y.size(), 512u * 1024);
  const auto start = std::chrono::steady_clock::now();
  auto r = load(y);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r.config.has_value());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors.back().message.find("configuration too large"), std::string::npos) << dump(r);
  EXPECT_LT(took, std::chrono::seconds(30));
}

TEST(ConfigLoad, ErrorFloodIsCapped) {
  std::string y = "server:\n";
  for (int i = 0; i < 1000; ++i) y += "  unknown" + std::to_string(i) + ": 1\n";
  auto r = load(y);
  ASSERT_EQ(r.errors.size(), 201u);
  EXPECT_EQ(r.errors.back().line, 0);
  EXPECT_NE(r.errors.back().message.find("too many errors"), std::string::npos);
  EXPECT_EQ(r.errors.front().line, 2);
}

TEST(ConfigLoad, TooLargeInput) {
  const std::string big(kMaxConfigBytes + 1, '#');
  auto r = load(big);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("too large"), std::string::npos);
}

TEST(ConfigLoadFile, MissingDirectoryAndReadable) {
  TempDir dir;
  auto r = load_file((dir.path() / "none.yaml").string(), env_of({}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, (dir.path() / "none.yaml").string());
  EXPECT_EQ(r.errors[0].line, 0);
  EXPECT_NE(r.errors[0].message.find("does not exist"), std::string::npos);

  r = load_file(dir.path().string(), env_of({}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("not a regular file"), std::string::npos);

  const fs::path p = dir.write("c.yaml", "server:\n  port: 1234\n  bogus: 1\n");
  r = load_file(p.string(), env_of({}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(format(r.errors[0]), p.string() + ":3:3: server.bogus: unknown key 'bogus'");
}

// --- the shipped examples ---------------------------------------------------------------------

TEST(ConfigExamples, QuickstartLoads) {
  auto r = load_file(example("quickstart.yaml"), env_of({}));
  ASSERT_TRUE(loads(r));
  const Config& c = *r.config;
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.server.port, 8080);
  ASSERT_EQ(c.providers.size(), 2u);
  EXPECT_EQ(c.providers[0].name, "local");
  EXPECT_EQ(c.providers[0].type, "local");
  ASSERT_TRUE(c.providers[0].local.has_value());
  EXPECT_EQ(c.providers[0].local->model_path, "");  // the generated demo model
  EXPECT_EQ(c.providers[1].name, "cloud-down");
  EXPECT_EQ(c.providers[1].base_url, "http://127.0.0.1:9101/v1");
  const ModelConfig* chat = c.find_model("demo-chat");
  ASSERT_NE(chat, nullptr);
  ASSERT_EQ(chat->deployments.size(), 1u);
  EXPECT_EQ(chat->deployments[0].provider, "local");
  const ModelConfig* fb = c.find_model("demo-fallback");
  ASSERT_NE(fb, nullptr);
  ASSERT_EQ(fb->deployments.size(), 2u);
  EXPECT_EQ(fb->deployments[0].provider, "cloud-down");
  EXPECT_EQ(fb->deployments[1].provider, "local");
  ASSERT_EQ(c.orgs.size(), 1u);
  EXPECT_EQ(c.orgs[0].name, "demo");
  ASSERT_EQ(c.keys.size(), 1u);
  EXPECT_EQ(c.keys[0].id, "demo");
  EXPECT_EQ(c.keys[0].org, "demo");
}

TEST(ConfigExamples, MockLoads) {
  auto r = load_file(example("mock.yaml"), env_of({}));
  ASSERT_TRUE(loads(r));
  const Config& c = *r.config;
  ASSERT_EQ(c.providers.size(), 2u);
  EXPECT_EQ(c.providers[0].name, "mock");
  EXPECT_EQ(c.providers[0].base_url, "http://127.0.0.1:9100/v1");
  const ModelConfig* fb = c.find_model("demo-fallback");
  ASSERT_NE(fb, nullptr);
  ASSERT_EQ(fb->deployments.size(), 2u);
  EXPECT_EQ(fb->deployments[0].provider, "mock-down");
}

// The variables full.yaml needs, in file order.
const std::pair<const char*, const char*> kFullEnv[] = {
    {"TOGETHER_API_KEY", "tg-test"},      {"GROQ_API_KEY", "gq-test"},
    {"MISTRAL_API_KEY", "ms-test"},       {"ANTHROPIC_API_KEY", "an-test"},
    {"GEMINI_API_KEY", "gm-test"},        {"AWS_ACCESS_KEY_ID", "AKIDTEST"},
    {"AWS_SECRET_ACCESS_KEY", "sk-test"},
};

TEST(ConfigExamples, FullLoadsWithItsEnvironment) {
  std::map<std::string, std::string> vars;
  for (const auto& [name, value] : kFullEnv) vars[name] = value;
  auto r = load_file(example("full.yaml"), env_of(vars));
  ASSERT_TRUE(loads(r));
  const Config& c = *r.config;
  const ProviderConfig* together = c.find_provider("together");
  ASSERT_NE(together, nullptr);
  EXPECT_EQ(together->api_key, "tg-test");
  EXPECT_EQ(together->base_url, "https://api.together.xyz/v1");
  EXPECT_FALSE(together->headers.empty());
  EXPECT_TRUE(together->drop_unsupported_params);
  const ProviderConfig* groq = c.find_provider("groq");
  ASSERT_NE(groq, nullptr);
  EXPECT_EQ(groq->api_key, "gq-test");
  const ProviderConfig* mistral = c.find_provider("mistral");
  ASSERT_NE(mistral, nullptr);
  EXPECT_EQ(mistral->preset, "mistral");
  EXPECT_EQ(mistral->api_key, "ms-test");
  EXPECT_EQ(mistral->base_url, "https://api.mistral.ai/v1");
  const ProviderConfig* box = c.find_provider("gpu-box");
  ASSERT_NE(box, nullptr);
  EXPECT_EQ(box->type, "openai");
  EXPECT_EQ(box->api_key, "");
  const ProviderConfig* anthropic = c.find_provider("anthropic");
  ASSERT_NE(anthropic, nullptr);
  EXPECT_EQ(anthropic->type, "anthropic");
  EXPECT_EQ(anthropic->base_url, "https://api.anthropic.com/v1");
  const ProviderConfig* gemini = c.find_provider("gemini");
  ASSERT_NE(gemini, nullptr);
  EXPECT_EQ(gemini->type, "gemini");
  const ProviderConfig* bedrock = c.find_provider("bedrock");
  ASSERT_NE(bedrock, nullptr);
  ASSERT_TRUE(bedrock->aws.has_value());
  EXPECT_EQ(bedrock->base_url, "https://bedrock-runtime.us-east-1.amazonaws.com");
  EXPECT_EQ(bedrock->aws->access_key_id, "AKIDTEST");
  EXPECT_EQ(bedrock->aws->session_token, "");
  const ProviderConfig* local = c.find_provider("local");
  ASSERT_NE(local, nullptr);
  ASSERT_TRUE(local->local.has_value());
  EXPECT_EQ(local->local->model_path, "");
  EXPECT_FALSE(c.models.empty());
  EXPECT_FALSE(c.keys.empty());
  EXPECT_FALSE(c.orgs.empty());
}

TEST(ConfigExamples, FullNamesItsMissingVariables) {
  auto r = load_file(example("full.yaml"), env_of({}));
  ASSERT_EQ(r.errors.size(), std::size(kFullEnv)) << dump(r);
  for (std::size_t i = 0; i < std::size(kFullEnv); ++i) {
    EXPECT_NE(r.errors[i].message.find(kFullEnv[i].first), std::string::npos)
        << format(r.errors[i]);
  }
  EXPECT_EQ(r.errors[0].key, "providers[0].api_key");
  EXPECT_EQ(r.errors[1].key, "providers[1].api_key");
  EXPECT_EQ(r.errors[2].key, "providers[2].api_key");  // from the mistral preset
}

}  // namespace
}  // namespace infergate::config
