// The gateway's configuration as typed, validated values.
//
// Loaded once from YAML at the edge (load_file); components only ever see a validated Config.
// Every problem found is reported with file, line, column and the key's path.
//
// Conventions of the loader (see config/examples/full.yaml for the annotated schema):
// - Unknown keys, wrong types, out-of-range numbers and dangling references are errors; every
//   error is collected, none stops the others.
// - `${NAME}` in any scalar value is replaced by the environment variable NAME (missing = error);
//   `$${` stands for a literal `${`. Values that came from the environment are never printed.
// - Relative paths of files the gateway reads (tls cert/key, ca_file, local model_path) are
//   resolved against the directory of the config file and stored resolved; paths it writes
//   (port_file, access_log) are kept as written (relative to the working directory).
// - base_url is stored without trailing slashes, with the scheme in lower case.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::config {

using Millis = std::chrono::milliseconds;

struct TlsListener {
  std::string cert_file;  // PEM certificate chain
  std::string key_file;   // PEM private key
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = pick a free port (tests)
  int io_threads = 0;         // 0 = one per core
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;  // larger bodies get 413
  int max_requests_per_connection = 100000;
  std::size_t max_connections = 20000;
  Millis request_read_timeout{30'000};  // the whole request must arrive within this (slow senders)
  Millis idle_timeout{60'000};          // keep-alive connection with no request
  Millis request_timeout{600'000};      // whole request, upstream included
  Millis shutdown_grace{15'000};        // drain deadline on SIGTERM/SIGINT
  // After its last event an I/O thread keeps polling this many µs before it sleeps in epoll_wait
  // (0 = sleep at once). Saves the wake-up of a sleeping thread on bursty traffic, for CPU.
  int busy_poll_us = 0;
  std::optional<TlsListener> tls;
  std::string access_log = "-";  // "-" = stdout, "" = off, else a file path
  std::string port_file;         // if set, the bound port is written here (tests)
};

// Options of the in-process engine (provider type `local`).
struct LocalEngineOptions {
  std::string model_path;         // GGUF file; empty = the embedded demo model
  int threads = 0;                // 0 = one per core
  int context_size = 4096;        // per sequence, capped by the model's own
  int max_sequences = 8;          // sequences decoded together
  int max_queue = 64;             // waiting requests beyond that get 503
  std::int64_t kv_memory_mb = 0;  // 0 = derived from context_size x max_sequences
  std::string chat_template;      // override: a family name (chatml, llama3, ...) or empty
};

struct AwsOptions {
  std::string region;             // e.g. us-east-1
  std::string access_key_id;      // ${AWS_ACCESS_KEY_ID}
  std::string secret_access_key;  // ${AWS_SECRET_ACCESS_KEY}
  std::string session_token;      // ${AWS_SESSION_TOKEN}; empty = long-term credentials
  std::string service = "bedrock";
};

struct ProviderConfig {
  std::string name;
  std::string type = "openai";  // the adapter (wire format)
  std::string base_url;         // e.g. https://api.together.xyz/v1 ; "" for local
  std::string api_key;          // resolved secret (from ${ENV}); may be empty
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, resolved
  bool tls_verify = true;                                    // false only for test rigs
  std::string ca_file;                // extra CA bundle (PEM); empty = system store
  std::size_t max_connections = 256;  // pooled keep-alive connections per I/O thread
  Millis connect_timeout{5'000};
  Millis first_byte_timeout{120'000};  // request sent -> response headers
  Millis idle_timeout{60'000};         // between two reads of a streamed body
  Millis total_timeout{600'000};
  std::optional<LocalEngineOptions> local;  // type == "local"
  // type == "bedrock": AWS Signature Version 4 credentials (secrets from ${ENV}).
  std::optional<AwsOptions> aws;
  std::string preset;  // the entry of the provider presets this one started from ("" = none)
  // Request fields the wire format cannot express: true = drop them and say so in the
  // x-infergate-dropped-params response header; false = answer 400 naming them.
  bool drop_unsupported_params = true;
  int line = 0;  // where it was defined (diagnostics)
};

struct DeploymentConfig {
  std::string provider;  // name of a ProviderConfig
  std::string model;     // upstream model id
};

struct ModelConfig {
  std::string name;  // public name clients send
  std::string owned_by = "infergate";
  std::vector<DeploymentConfig> deployments;  // tried in order
};

struct KeyConfig {
  std::string id;                   // non-secret name, appears in logs
  std::string sha256;               // lowercase hex SHA-256 of the key
  std::string org;                  // organisation the key belongs to
  std::vector<std::string> models;  // allowed public models; empty = all
};

struct OrgConfig {
  std::string name;
};

struct RoutingConfig {
  int max_attempts = 3;  // deployments tried per request at most
};

struct Config {
  ServerConfig server;
  std::vector<ProviderConfig> providers;
  std::vector<ModelConfig> models;
  std::vector<KeyConfig> keys;
  std::vector<OrgConfig> orgs;
  RoutingConfig routing;
  std::string source;  // file it came from

  const ProviderConfig* find_provider(std::string_view name) const;
  const ModelConfig* find_model(std::string_view name) const;
};

struct Diagnostic {
  std::string file;
  int line = 0;     // 1-based; 0 = unknown
  int column = 0;   // 1-based; 0 = unknown
  std::string key;  // dotted path, e.g. providers[1].base_url
  std::string message;
};

// "file:line:column: key: message"
std::string format(const Diagnostic& d);

// Looks up an environment variable; nullopt when unset. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

struct LoadResult {
  std::optional<Config> config;    // set only when errors is empty
  std::vector<Diagnostic> errors;  // every problem found, in file order
};

// Reads and validates a config file (at most kMaxConfigBytes).
LoadResult load_file(const std::string& path, const EnvLookup& env = process_env());
// Validates YAML text; file_name names it in diagnostics and its directory anchors relative paths.
LoadResult load_string(const std::string& yaml, const std::string& file_name,
                       const EnvLookup& env = process_env());

inline constexpr std::size_t kMaxConfigBytes = 16 * 1024 * 1024;

// The value parsers the loader uses, for other components (admin API, CLI).
// "250ms", "30s", "2m", "1h" or a plain integer of milliseconds; nullopt when
// malformed/overflowing.
std::optional<Millis> parse_duration(std::string_view text);
// "16KiB", "4MiB", "1GiB", "512B" or a plain integer of bytes; nullopt when malformed/overflowing.
std::optional<std::uint64_t> parse_size(std::string_view text);

// A provider's base URL, split: http(s)://host[:port][/path], no user info, query or fragment.
struct BaseUrl {
  bool https = false;
  std::string host;        // IPv6 literals without brackets
  std::uint16_t port = 0;  // explicit, else 80 / 443
  std::string path;        // "" or "/v1" (never a trailing slash)
  std::string normalized;  // scheme://host[:port]path as stored in ProviderConfig::base_url
};
// nullopt when `url` is not acceptable; *why (when given) then says what is wrong.
std::optional<BaseUrl> parse_base_url(std::string_view url, std::string* why = nullptr);

}  // namespace infergate::config
