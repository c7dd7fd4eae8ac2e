// YAML -> Config: schema walk, value checks, cross references, diagnostics with positions.
#include "infergate/config/config.hpp"

#include <arpa/inet.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "detail.hpp"
#include "infergate/config/presets.hpp"

namespace infergate::config {

namespace {

namespace fs = std::filesystem;
using detail::printable;

// Limits on what a config may hold: it comes from outside, and aliases can make a small file
// describe a huge tree, so the walk also has a budget of visited nodes.
constexpr std::size_t kMaxNodesVisited = 1'000'000;
constexpr std::size_t kMaxErrors = 200;  // past this, more would only bury the first ones
constexpr std::size_t kMaxProviders = 1'000;
constexpr std::size_t kMaxModels = 10'000;
constexpr std::size_t kMaxDeployments = 64;
constexpr std::size_t kMaxKeys = 100'000;
constexpr std::size_t kMaxOrgs = 10'000;
constexpr std::size_t kMaxHeaders = 64;
constexpr std::size_t kMaxAllowedModels = 10'000;
constexpr std::size_t kMaxText = 4096;         // paths, names and other plain strings
constexpr std::size_t kMaxHeaderValue = 8192;  // extra upstream header values, api keys
constexpr std::size_t kMaxIdLength = 64;       // provider names, key ids, org names
constexpr std::size_t kMaxModelName = 256;
constexpr Millis kMaxDuration{24LL * 3600 * 1000};

constexpr std::string_view kProviderTypes[] = {"openai",    "anthropic", "gemini", "bedrock",
                                               "replicate", "fal",       "local"};
constexpr std::string_view kProviderTypesText =
    "openai, anthropic, gemini, bedrock, replicate, fal, local";

// Keys of a provider that only the network adapters use, and those only `local` uses.
constexpr std::string_view kRemoteOnlyKeys[] = {
    "base_url", "api_key",         "headers",  "tls_verify",
    "ca_file",  "max_connections", "timeouts", "drop_unsupported_params",
    "preset"};

// base_url of the native wire formats when none is given; "{region}" is aws.region.
std::string_view default_base_url(std::string_view type) {
  if (type == "anthropic") return "https://api.anthropic.com/v1";
  if (type == "gemini") return "https://generativelanguage.googleapis.com/v1beta";
  if (type == "bedrock") return "https://bedrock-runtime.{region}.amazonaws.com";
  if (type == "replicate") return "https://api.replicate.com/v1";
  if (type == "fal") return "https://fal.run";  // the queue API lives at queue.fal.run
  return {};
}

// AWS region names (us-east-1, eu-central-2, us-gov-west-1): they become part of a host name.
bool valid_aws_region(std::string_view s) {
  if (s.size() < 3 || s.size() > 32 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Headers the upstream client owns: setting them from YAML would break framing or routing.
constexpr std::string_view kReservedHeaders[] = {
    "host", "content-length", "transfer-encoding", "connection", "upgrade", "keep-alive",
    "te",   "trailer",        "proxy-connection"};

struct Pos {
  int line = 0;
  int column = 0;
};

Pos pos_of(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

std::string join(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

std::string indexed(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing (null)";
  }
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Provider names, key ids, org names: they appear in logs, metrics labels and headers.
bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdLength) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// Public and upstream model names: visible ASCII, no spaces.
bool valid_model_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxModelName) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool valid_header_name(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  static constexpr std::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kTokenPunct.find(c) != std::string_view::npos;
  });
}

bool valid_listen_host(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1 || inet_pton(AF_INET6, h.c_str(), &a6) == 1)
    return true;
  // A host name: letters, digits, '-', '.'.
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

// "together-ai" -> "TOGETHER_AI", for hints that suggest an environment variable name.
std::string env_name_for(std::string_view provider) {
  std::string out =
      provider.empty() ? std::string("PROVIDER") : std::string(provider.substr(0, 64));
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    } else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      c = '_';
    }
  }
  return out;
}

bool is_lower_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

template <std::size_t N>
bool contains(const std::string_view (&list)[N], std::string_view s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

class Loader;

// A mapping whose keys were checked against the schema: unknown, duplicate and non-string keys
// are reported once, here; the rest can be looked up by name.
class Section {
 public:
  Section(Loader& loader, const YAML::Node& node, std::string path,
          std::initializer_list<std::string_view> allowed, bool null_ok = true);

  bool ok() const { return ok_; }  // a mapping (possibly empty); false: absent, null or wrong
  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return join(path_, key); }
  const YAML::Mark& mark() const { return mark_; }

  const YAML::Node* find(std::string_view key) const {
    for (const auto& e : entries_)
      if (e.key == key) return &e.value;
    return nullptr;
  }
  const YAML::Node* key_node(std::string_view key) const {
    for (const auto& e : entries_)
      if (e.key == key) return &e.key_node;
    return nullptr;
  }

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };
  std::string path_;
  YAML::Mark mark_;
  bool ok_ = false;
  std::vector<Entry> entries_;
};

class Loader {
 public:
  Loader(std::string file, fs::path base_dir, const EnvLookup& env)
      : file_(std::move(file)), base_dir_(std::move(base_dir)), env_(env) {}

  LoadResult run(const std::string& yaml);
  bool probe_documents(const std::string& yaml);

  void error(const YAML::Mark& mark, std::string key, std::string message) {
    if (over_budget_) return;  // the walk is being abandoned; what follows would be noise
    if (errors_.size() == kMaxErrors) {
      // Stop walking too: the rest of the file is not worth the time.
      over_budget_ = true;
      errors_.push_back(
          {file_, 0, 0, "", "too many errors (" + std::to_string(kMaxErrors) + "), stopping"});
      return;
    }
    const Pos p = pos_of(mark);
    errors_.push_back({file_, p.line, p.column, std::move(key), std::move(message)});
  }
  void error(const YAML::Node& node, std::string key, std::string message) {
    error(mark_of(node), std::move(key), std::move(message));
  }
  bool stopped() const { return over_budget_; }

  // Counts one visited node; false (reported once) when the walk is over budget.
  bool tick() {
    if (over_budget_) return false;
    if (++visited_ <= kMaxNodesVisited) return true;
    if (!over_budget_) {
      over_budget_ = true;
      errors_.push_back({file_, 0, 0, "",
                         "configuration too large: more than " + std::to_string(kMaxNodesVisited) +
                             " values (aliases included)"});
    }
    return false;
  }

 private:
  struct Scalar {
    std::string value;  // after ${ENV} expansion
    std::string raw;    // as written (safe to quote: secrets only come from the environment)
    bool from_env = false;
  };

  // Quote the value as written; say nothing about a value that came from the environment.
  // yaml-cpp marks an empty (null) node at the token after it, often on the next line; point at
  // the last character before it instead ("key:" or "-"), which is where the value is missing.
  YAML::Mark mark_of(const YAML::Node& node) const {
    YAML::Mark m = node.Mark();
    if (!node.IsNull() || m.is_null() || m.pos < 0 ||
        static_cast<std::size_t>(m.pos) > text_.size())
      return m;
    std::string_view rest = text_.substr(static_cast<std::size_t>(m.pos));
    for (std::string_view literal : {"~", "null", "Null", "NULL"}) {
      if (rest.starts_with(literal)) return m;  // an explicit null is where yaml-cpp says
    }
    std::size_t q = static_cast<std::size_t>(m.pos);
    int lines_back = 0;
    while (q > 0) {
      const char c = text_[q - 1];
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
      if (c == '\n') ++lines_back;
      --q;
    }
    if (q == 0) return m;
    --q;  // the character before the gap
    const std::size_t line_start = text_.rfind('\n', q);
    YAML::Mark fixed = m;
    fixed.pos = static_cast<int>(q);
    fixed.line = m.line - lines_back;
    fixed.column = static_cast<int>(line_start == std::string_view::npos ? q : q - line_start - 1);
    return fixed;
  }

  static std::string shown(const Scalar& s) {
    if (s.from_env) return "got a value from the environment (not shown)";
    return "got '" + printable(s.raw) + "'";
  }

  std::optional<Scalar> scalar(const YAML::Node& n, const std::string& path,
                               std::string_view expected);
  // *from_env (when given) tells whether the value held a ${NAME} reference.
  bool read_string(const Section& s, std::string_view key, std::string& out,
                   std::size_t max_len = kMaxText, bool* from_env = nullptr);
  template <class T>
  bool read_int(const Section& s, std::string_view key, std::int64_t lo, std::int64_t hi, T& out);
  bool read_bool(const Section& s, std::string_view key, bool& out);
  bool read_duration(const Section& s, std::string_view key, Millis lo, Millis hi, Millis& out);
  bool read_size(const Section& s, std::string_view key, std::uint64_t lo, std::uint64_t hi,
                 std::size_t& out);
  bool read_input_file(const Section& s, std::string_view key, std::string& out);
  bool require(const Section& s, std::string_view key, std::string_view why = {});
  // A list at `node` (null = empty); its items up to `max`, or nullopt (reported) when not a list.
  std::optional<std::vector<YAML::Node>> list(const YAML::Node& node, const std::string& path,
                                              std::size_t max, std::string_view what);

  void parse_server(const Section& root, ServerConfig& out);
  void parse_providers(const Section& root, std::vector<ProviderConfig>& out);
  void parse_provider(const YAML::Node& node, const std::string& path, ProviderConfig& p);
  void parse_headers(const YAML::Node& node, const std::string& path, ProviderConfig& p);
  void parse_local(const YAML::Node& node, const std::string& path, LocalEngineOptions& out);
  void parse_aws(const YAML::Node& node, const std::string& path, AwsOptions& out);
  // A secret: empty, or from ${ENV} (an inline value is an error suggesting ${env_hint}).
  bool read_secret(const Section& s, std::string_view key, std::string& out,
                   const std::string& env_hint);
  // The API key of a preset that names an environment variable, when the provider gives none.
  void read_preset_key(const Section& s, const ProviderPreset& preset, std::string& out);
  static bool has_authorization_header(const Section& s);
  void parse_orgs(const Section& root, std::vector<OrgConfig>& out);
  void parse_models(const Section& root, std::vector<ModelConfig>& out);
  void parse_keys(const Section& root, std::vector<KeyConfig>& out);
  void parse_routing(const Section& root, RoutingConfig& out);

  // Records `name` at `node`; false (reported) when it was already defined.
  bool unique(std::unordered_map<std::string, int>& seen, const std::string& name,
              const YAML::Node& node, const std::string& path, std::string_view what);

  std::string file_;
  std::string_view text_;  // the YAML being loaded, for positions of empty values
  fs::path base_dir_;
  const EnvLookup& env_;
  std::vector<Diagnostic> errors_;
  std::size_t visited_ = 0;
  bool over_budget_ = false;

  // Names defined so far, for cross references; *_complete_ is false when a section was too broken
  // to know every name (then references into it are not checked, to avoid cascades).
  std::unordered_map<std::string, int> provider_lines_;
  std::unordered_map<std::string, int> model_lines_;
  std::unordered_map<std::string, int> org_lines_;
  std::unordered_map<std::string, int> key_lines_;
  std::unordered_map<std::string, std::string> hash_owner_;
  bool providers_complete_ = true;
  bool models_complete_ = true;
  bool orgs_complete_ = true;
  bool orgs_given_ = false;
};

Section::Section(Loader& loader, const YAML::Node& node, std::string path,
                 std::initializer_list<std::string_view> allowed, bool null_ok)
    : path_(std::move(path)), mark_(node.Mark()) {
  if (node.IsNull()) {
    if (!null_ok) loader.error(node, path_, "expected a mapping, got nothing (null)");
    return;
  }
  if (!node.IsMap()) {
    loader.error(node, path_, "expected a mapping, got " + describe(node));
    return;
  }
  ok_ = true;
  const std::vector<std::string_view> options(allowed);
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!loader.tick()) return;
    const YAML::Node k = it->first;  // a copy: it-> yields a temporary proxy
    if (!k.IsScalar()) {
      loader.error(k, path_, "keys must be plain strings, got " + describe(k));
      continue;
    }
    const std::string& name = k.Scalar();
    if (std::find(options.begin(), options.end(), name) == options.end()) {
      std::string msg = "unknown key '" + printable(name) + "'";
      if (name == "<<") {
        msg += " (YAML merge keys are not supported; repeat the values or use an alias)";
      } else {
        msg += detail::suggest(name, options);
      }
      loader.error(k, join(path_, printable(name)), std::move(msg));
      continue;
    }
    if (const YAML::Node* first = key_node(name)) {
      loader.error(
          k, join(path_, name),
          "duplicate key (first given at line " + std::to_string(pos_of(first->Mark()).line) + ")");
      continue;
    }
    entries_.push_back({name, k, it->second});
  }
}

std::optional<Loader::Scalar> Loader::scalar(const YAML::Node& n, const std::string& path,
                                             std::string_view expected) {
  if (!n.IsScalar()) {
    std::string msg = "expected " + std::string(expected) + ", got " + describe(n);
    if (n.IsNull() && expected == "a string") msg += "; write \"\" for an empty string";
    error(n, path, std::move(msg));
    return std::nullopt;
  }
  Scalar s;
  s.raw = n.Scalar();
  std::string why;
  auto v = detail::expand_env(s.raw, env_, &why, &s.from_env);
  if (!v) {
    error(n, path, std::move(why));
    return std::nullopt;
  }
  s.value = std::move(*v);
  return s;
}

bool Loader::read_string(const Section& s, std::string_view key, std::string& out,
                         std::size_t max_len, bool* from_env) {
  const YAML::Node* n = s.find(key);
  if (!n) return false;
  auto v = scalar(*n, s.path(key), "a string");
  if (!v) return false;
  if (v->value.size() > max_len) {
    error(*n, s.path(key),
          "too long (" + std::to_string(v->value.size()) + " bytes; at most " +
              std::to_string(max_len) + ")");
    return false;
  }
  // Never quoted: the value may be a secret.
  if (has_control(v->value)) {
    error(*n, s.path(key), "contains a line break or control character");
    return false;
  }
  if (from_env) *from_env = v->from_env;
  out = std::move(v->value);
  return true;
}

template <class T>
bool Loader::read_int(const Section& s, std::string_view key, std::int64_t lo, std::int64_t hi,
                      T& out) {
  const YAML::Node* n = s.find(key);
  if (!n) return false;
  auto v = scalar(*n, s.path(key), "an integer");
  if (!v) return false;
  std::int64_t x = 0;
  const std::string& t = v->value;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), x);
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  if (t.empty() || end != t.data() + t.size() || ec == std::errc::invalid_argument) {
    error(*n, s.path(key), "expected an integer " + range + ", " + shown(*v));
    return false;
  }
  if (ec == std::errc::result_out_of_range || x < lo || x > hi) {
    error(*n, s.path(key), "out of range: must be " + range + ", " + shown(*v));
    return false;
  }
  out = static_cast<T>(x);
  return true;
}

bool Loader::read_bool(const Section& s, std::string_view key, bool& out) {
  const YAML::Node* n = s.find(key);
  if (!n) return false;
  auto v = scalar(*n, s.path(key), "true or false");
  if (!v) return false;
  const std::string b = lowered(v->value);
  if (b != "true" && b != "false") {
    error(*n, s.path(key), "expected true or false, " + shown(*v));
    return false;
  }
  out = b == "true";
  return true;
}

std::string duration_text(Millis d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string size_text(std::uint64_t b) {
  if (b != 0 && b % (1ULL << 30) == 0) return std::to_string(b >> 30) + "GiB";
  if (b != 0 && b % (1ULL << 20) == 0) return std::to_string(b >> 20) + "MiB";
  if (b != 0 && b % (1ULL << 10) == 0) return std::to_string(b >> 10) + "KiB";
  return std::to_string(b) + "B";
}

bool Loader::read_duration(const Section& s, std::string_view key, Millis lo, Millis hi,
                           Millis& out) {
  const YAML::Node* n = s.find(key);
  if (!n) return false;
  auto v = scalar(*n, s.path(key), "a duration");
  if (!v) return false;
  auto d = parse_duration(v->value);
  if (!d) {
    error(*n, s.path(key),
          "malformed duration: expected a number with unit ms, s, m or h (e.g. 250ms, 30s, 2m, "
          "1h) or plain milliseconds, " +
              shown(*v));
    return false;
  }
  if (*d < lo || *d > hi) {
    error(
        *n, s.path(key),
        "out of range: must be " + duration_text(lo) + ".." + duration_text(hi) + ", " + shown(*v));
    return false;
  }
  out = *d;
  return true;
}

bool Loader::read_size(const Section& s, std::string_view key, std::uint64_t lo, std::uint64_t hi,
                       std::size_t& out) {
  const YAML::Node* n = s.find(key);
  if (!n) return false;
  auto v = scalar(*n, s.path(key), "a size");
  if (!v) return false;
  auto b = parse_size(v->value);
  if (!b) {
    std::string msg = "malformed size: expected a number with unit B, KiB, MiB or GiB (e.g. 16KiB)";
    const std::string l = lowered(v->value);
    if (l.ends_with("kb") || l.ends_with("mb") || l.ends_with("gb") || l.ends_with("k") ||
        l.ends_with("m") || l.ends_with("g"))
      msg += "; sizes are binary: write KiB, MiB or GiB";
    error(*n, s.path(key), msg + " or plain bytes, " + shown(*v));
    return false;
  }
  if (*b < lo || *b > hi) {
    error(*n, s.path(key),
          "out of range: must be " + size_text(lo) + ".." + size_text(hi) + ", " + shown(*v));
    return false;
  }
  out = static_cast<std::size_t>(*b);
  return true;
}

bool Loader::read_input_file(const Section& s, std::string_view key, std::string& out) {
  std::string path;
  if (!read_string(s, key, path)) return false;
  if (path.empty()) {
    out.clear();
    return true;
  }
  fs::path p(path);
  if (p.is_relative() && !base_dir_.empty()) p = base_dir_ / p;
  std::error_code ec;
  const auto st = fs::status(p, ec);
  const YAML::Node& n = *s.find(key);
  if (ec || !fs::exists(st)) {
    error(n, s.path(key), "file '" + printable(p.string(), 200) + "' does not exist");
    return false;
  }
  if (!fs::is_regular_file(st)) {
    error(n, s.path(key), "'" + printable(p.string(), 200) + "' is not a regular file");
    return false;
  }
  if (::access(p.c_str(), R_OK) != 0) {
    error(n, s.path(key), "file '" + printable(p.string(), 200) + "' is not readable");
    return false;
  }
  out = p.string();
  return true;
}

bool Loader::require(const Section& s, std::string_view key, std::string_view why) {
  if (s.find(key)) return true;
  std::string msg = "missing required key '" + std::string(key) + "'";
  if (!why.empty()) msg += " (" + std::string(why) + ")";
  error(s.mark(), s.path(key), std::move(msg));
  return false;
}

std::optional<std::vector<YAML::Node>> Loader::list(const YAML::Node& node, const std::string& path,
                                                    std::size_t max, std::string_view what) {
  std::vector<YAML::Node> items;
  if (node.IsNull()) return items;
  if (!node.IsSequence()) {
    error(node, path, "expected a list of " + std::string(what) + ", got " + describe(node));
    return std::nullopt;
  }
  if (node.size() > max) {
    error(node, path,
          "too many " + std::string(what) + " (" + std::to_string(node.size()) + "; at most " +
              std::to_string(max) + ")");
    return std::nullopt;
  }
  items.reserve(node.size());
  for (const auto& item : node) {
    if (!tick()) return std::nullopt;
    items.push_back(item);
  }
  return items;
}

bool Loader::unique(std::unordered_map<std::string, int>& seen, const std::string& name,
                    const YAML::Node& node, const std::string& path, std::string_view what) {
  const int line = pos_of(node.Mark()).line;
  auto [it, inserted] = seen.emplace(name, line);
  if (inserted) return true;
  error(node, path,
        "duplicate " + std::string(what) + " '" + printable(name) + "' (first defined at line " +
            std::to_string(it->second) + ")");
  return false;
}

void Loader::parse_server(const Section& root, ServerConfig& out) {
  const YAML::Node* node = root.find("server");
  if (!node) return;
  Section s(*this, *node, "server",
            {"host", "port", "port_file", "io_threads", "busy_poll_us", "access_log", "limits",
             "timeouts", "tls"});
  if (!s.ok()) return;
  std::string host;
  if (read_string(s, "host", host)) {
    if (!valid_listen_host(host)) {
      error(*s.find("host"), s.path("host"),
            "expected an IP address or host name (IPv6 without brackets), got '" + printable(host) +
                "'");
    } else {
      out.host = host;
    }
  }
  read_int(s, "port", 0, 65535, out.port);
  read_string(s, "port_file", out.port_file);
  read_int(s, "io_threads", 0, 256, out.io_threads);
  read_int(s, "busy_poll_us", 0, 10'000, out.busy_poll_us);
  read_string(s, "access_log", out.access_log);

  if (const YAML::Node* n = s.find("limits")) {
    Section l(
        *this, *n, s.path("limits"),
        {"max_header_bytes", "max_body_bytes", "max_requests_per_connection", "max_connections"});
    if (l.ok()) {
      read_size(l, "max_header_bytes", 1024, 1 << 20, out.max_header_bytes);
      read_size(l, "max_body_bytes", 1024, 1ULL << 30, out.max_body_bytes);
      read_int(l, "max_requests_per_connection", 1, 1'000'000'000, out.max_requests_per_connection);
      read_int(l, "max_connections", 1, 1'000'000, out.max_connections);
    }
  }
  if (const YAML::Node* n = s.find("timeouts")) {
    Section t(*this, *n, s.path("timeouts"), {"request_read", "idle", "request", "shutdown_grace"});
    if (t.ok()) {
      read_duration(t, "request_read", Millis(1), kMaxDuration, out.request_read_timeout);
      read_duration(t, "idle", Millis(1), kMaxDuration, out.idle_timeout);
      read_duration(t, "request", Millis(1), kMaxDuration, out.request_timeout);
      read_duration(t, "shutdown_grace", Millis(0), Millis(3'600'000), out.shutdown_grace);
    }
  }
  if (const YAML::Node* n = s.find("tls")) {
    Section t(*this, *n, s.path("tls"), {"cert_file", "key_file"});
    if (t.ok()) {
      TlsListener tls;
      const bool have_cert =
          require(t, "cert_file") && read_input_file(t, "cert_file", tls.cert_file);
      const bool have_key = require(t, "key_file") && read_input_file(t, "key_file", tls.key_file);
      if (have_cert && tls.cert_file.empty())
        error(*t.find("cert_file"), t.path("cert_file"), "must not be empty");
      if (have_key && tls.key_file.empty())
        error(*t.find("key_file"), t.path("key_file"), "must not be empty");
      out.tls = std::move(tls);
    }
  }
}

void Loader::parse_providers(const Section& root, std::vector<ProviderConfig>& out) {
  const YAML::Node* node = root.find("providers");
  if (!node) return;
  auto items = list(*node, "providers", kMaxProviders, "providers");
  if (!items) {
    providers_complete_ = false;
    return;
  }
  out.reserve(items->size());
  for (std::size_t i = 0; i < items->size() && !stopped(); ++i) {
    out.emplace_back();
    parse_provider((*items)[i], indexed("providers", i), out.back());
  }
}

void Loader::parse_provider(const YAML::Node& node, const std::string& path, ProviderConfig& p) {
  Section s(*this, node, path,
            {"name", "type", "base_url", "api_key", "headers", "tls_verify", "ca_file",
             "max_connections", "timeouts", "local", "aws", "drop_unsupported_params", "preset"},
            /*null_ok=*/false);
  p.line = pos_of(node.Mark()).line;
  if (!s.ok()) {
    providers_complete_ = false;
    return;
  }
  if (!require(s, "name")) {
    providers_complete_ = false;
  } else if (read_string(s, "name", p.name)) {
    if (!valid_id(p.name)) {
      error(*s.find("name"), s.path("name"),
            "provider names are 1..64 letters, digits, '-', '_' or '.', starting with a letter "
            "or digit; got '" +
                printable(p.name) + "'");
    }
    unique(provider_lines_, p.name, *s.find("name"), s.path("name"), "provider name");
  } else {
    providers_complete_ = false;
  }

  const ProviderPreset* preset = nullptr;
  if (const YAML::Node* n = s.find("preset")) {
    if (!read_string(s, "preset", p.preset)) return;
    preset = find_preset(p.preset);
    if (!preset) {
      std::string msg;
      if (!provider_presets_error().empty()) {
        msg = provider_presets_error();
      } else {
        std::vector<std::string_view> names;
        for (const auto& known : provider_presets()) names.push_back(known.name);
        msg = "unknown preset '" + printable(p.preset) + "'" + detail::suggest(p.preset, names) +
              "; the presets are listed in docs/PROVIDERS.md";
      }
      error(*n, s.path("preset"), std::move(msg));
      return;
    }
    p.type = preset->type;
  }

  if (s.find("type")) {
    if (!read_string(s, "type", p.type)) return;
    if (!contains(kProviderTypes, p.type)) {
      std::string msg = "unknown provider type '" + printable(p.type) + "'; known: ";
      msg += kProviderTypesText;
      msg += detail::suggest(p.type, kProviderTypes);
      error(*s.find("type"), s.path("type"), std::move(msg));
      return;
    }
  }

  if (p.type != "bedrock") {
    if (const YAML::Node* kn = s.key_node("aws"))
      error(*kn, s.path("aws"), "applies only to providers of type bedrock");
  }
  if (p.type == "local") {
    for (std::string_view k : kRemoteOnlyKeys) {
      if (const YAML::Node* kn = s.key_node(k))
        error(*kn, s.path(k), "does not apply to providers of type local");
    }
    p.local.emplace();
    if (const YAML::Node* n = s.find("local")) parse_local(*n, s.path("local"), *p.local);
    return;
  }

  // A network upstream.
  if (const YAML::Node* kn = s.key_node("local"))
    error(*kn, s.path("local"), "applies only to providers of type local");
  if (p.type == "bedrock") {
    if (require(s, "aws", "type bedrock signs requests with AWS credentials")) {
      p.aws.emplace();
      parse_aws(*s.find("aws"), s.path("aws"), *p.aws);
    }
    if (const YAML::Node* kn = s.key_node("api_key")) {
      error(*kn, s.path("api_key"),
            "does not apply to providers of type bedrock (requests are signed with the aws "
            "credentials)");
    }
  }
  if (s.find("base_url")) {
    std::string url;
    if (read_string(s, "base_url", url)) {
      std::string why;
      if (auto parsed = parse_base_url(url, &why)) {
        p.base_url = parsed->normalized;
      } else {
        error(*s.find("base_url"), s.path("base_url"), "invalid URL: " + why);
      }
    }
  } else if (preset && preset->self_hosted) {
    require(s, "base_url",
            "preset " + preset->name + " is a self-hosted server: give its URL, e.g. base_url: " +
                preset->example_base_url);
  } else if (const std::string_view def = preset && preset->type == p.type
                                              ? std::string_view(preset->base_url)
                                              : default_base_url(p.type);
             !def.empty()) {
    // A preset's URL serves its own wire format; with another type the type's default applies.
    std::string url(def);
    if (const auto at = url.find("{region}"); at != std::string::npos) {
      // Without a valid region the aws section already carries the error.
      if (p.aws && valid_aws_region(p.aws->region)) {
        url.replace(at, 8, p.aws->region);
      } else {
        url.clear();
      }
    }
    if (!url.empty()) p.base_url = parse_base_url(url)->normalized;
  } else {
    require(s, "base_url", "type " + p.type + " needs the upstream's URL");
  }
  if (p.type != "bedrock") {
    const std::string hint = preset && !preset->api_key_env.empty()
                                 ? preset->api_key_env
                                 : env_name_for(p.name) + "_API_KEY";
    if (s.find("api_key")) {
      read_secret(s, "api_key", p.api_key, hint);
    } else if (preset && !preset->api_key_env.empty() && !has_authorization_header(s)) {
      read_preset_key(s, *preset, p.api_key);
    }
  }
  if (const YAML::Node* n = s.find("headers")) parse_headers(*n, s.path("headers"), p);
  if (preset) {
    // The preset's default headers, unless the provider sets the same name itself.
    std::vector<std::pair<std::string, std::string>> merged;
    for (const auto& [name, value] : preset->headers) {
      const bool overridden = std::any_of(p.headers.begin(), p.headers.end(), [&](const auto& h) {
        return lowered(h.first) == lowered(name);
      });
      if (!overridden) merged.emplace_back(name, value);
    }
    merged.insert(merged.end(), p.headers.begin(), p.headers.end());
    p.headers = std::move(merged);
  }
  read_bool(s, "tls_verify", p.tls_verify);
  read_input_file(s, "ca_file", p.ca_file);
  read_int(s, "max_connections", 1, 65536, p.max_connections);
  read_bool(s, "drop_unsupported_params", p.drop_unsupported_params);
  if (const YAML::Node* n = s.find("timeouts")) {
    Section t(*this, *n, s.path("timeouts"), {"connect", "first_byte", "idle", "total"});
    if (t.ok()) {
      read_duration(t, "connect", Millis(1), kMaxDuration, p.connect_timeout);
      read_duration(t, "first_byte", Millis(1), kMaxDuration, p.first_byte_timeout);
      read_duration(t, "idle", Millis(1), kMaxDuration, p.idle_timeout);
      read_duration(t, "total", Millis(1), kMaxDuration, p.total_timeout);
    }
  }
}

bool Loader::read_secret(const Section& s, std::string_view key, std::string& out,
                         const std::string& env_hint) {
  const YAML::Node* n = s.find(key);
  if (!n) return false;
  bool from_env = false;
  if (!read_string(s, key, out, kMaxHeaderValue, &from_env)) return false;
  if (!from_env && !out.empty()) {
    error(*n, s.path(key),
          "secrets must come from the environment, e.g. " + std::string(key) + ": ${" + env_hint +
              "} (inline keys end up in version control)");
    out.clear();
    return false;
  }
  return true;
}

bool Loader::has_authorization_header(const Section& s) {
  const YAML::Node* h = s.find("headers");
  if (!h || !h->IsMap()) return false;
  for (auto it = h->begin(); it != h->end(); ++it) {
    if (it->first.IsScalar() && lowered(it->first.Scalar()) == "authorization") return true;
  }
  return false;
}

void Loader::read_preset_key(const Section& s, const ProviderPreset& preset, std::string& out) {
  const std::string& var = preset.api_key_env;
  const YAML::Node& at = *s.key_node("preset");
  const std::string key = s.path("api_key");
  const std::optional<std::string> value = env_(var);
  if (!value || value->empty()) {
    error(at, key,
          "preset " + preset.name + " reads the API key from the environment variable " + var +
              ", which is " + (value ? "empty" : "not set") + "; set " + var +
              ", or give api_key: ${OTHER_VARIABLE} (api_key: \"\" for no key)");
    return;
  }
  // Never quoted: it is a secret.
  if (value->size() > kMaxHeaderValue || has_control(*value)) {
    error(at, key,
          "the environment variable " + var +
              " is too long or contains a line break or control character");
    return;
  }
  out = *value;
}

void Loader::parse_aws(const YAML::Node& node, const std::string& path, AwsOptions& out) {
  Section s(*this, node, path,
            {"region", "access_key_id", "secret_access_key", "session_token", "service"},
            /*null_ok=*/false);
  if (!s.ok()) return;
  if (require(s, "region", "e.g. us-east-1") && read_string(s, "region", out.region) &&
      !valid_aws_region(out.region)) {
    error(*s.find("region"), s.path("region"),
          "expected an AWS region such as us-east-1 (lowercase letters, digits, '-'), got '" +
              printable(out.region) + "'");
    out.region.clear();
  }
  if (require(s, "access_key_id", "e.g. access_key_id: ${AWS_ACCESS_KEY_ID}") &&
      read_secret(s, "access_key_id", out.access_key_id, "AWS_ACCESS_KEY_ID") &&
      out.access_key_id.empty()) {
    error(*s.find("access_key_id"), s.path("access_key_id"), "must not be empty");
  }
  if (require(s, "secret_access_key", "e.g. secret_access_key: ${AWS_SECRET_ACCESS_KEY}") &&
      read_secret(s, "secret_access_key", out.secret_access_key, "AWS_SECRET_ACCESS_KEY") &&
      out.secret_access_key.empty()) {
    error(*s.find("secret_access_key"), s.path("secret_access_key"), "must not be empty");
  }
  read_secret(s, "session_token", out.session_token, "AWS_SESSION_TOKEN");
  std::string service;
  if (read_string(s, "service", service)) {
    if (!valid_aws_region(service)) {  // same alphabet: lowercase letters, digits, '-'
      error(*s.find("service"), s.path("service"),
            "expected an AWS service name such as bedrock, got '" + printable(service) + "'");
    } else {
      out.service = std::move(service);
    }
  }
}

void Loader::parse_headers(const YAML::Node& node, const std::string& path, ProviderConfig& p) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    error(node, path, "expected a mapping of header name to value, got " + describe(node));
    return;
  }
  if (node.size() > kMaxHeaders) {
    error(node, path,
          "too many headers (" + std::to_string(node.size()) + "; at most " +
              std::to_string(kMaxHeaders) + ")");
    return;
  }
  std::unordered_map<std::string, int> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!tick()) return;
    const YAML::Node k = it->first;  // a copy: it-> yields a temporary proxy
    const YAML::Node v = it->second;
    if (!k.IsScalar()) {
      error(k, path, "header names must be plain strings, got " + describe(k));
      continue;
    }
    const std::string& name = k.Scalar();
    const std::string key_path = join(path, printable(name));
    if (!valid_header_name(name)) {
      error(k, key_path, "invalid HTTP header name");
      continue;
    }
    const std::string lname = lowered(name);
    if (contains(kReservedHeaders, lname)) {
      error(k, key_path, "this header is set by the gateway and cannot be overridden");
      continue;
    }
    if (!unique(seen, lname, k, key_path, "header")) continue;
    if (lname == "authorization" && !p.api_key.empty()) {
      error(k, key_path, "set either api_key or an Authorization header, not both");
      continue;
    }
    auto value = scalar(v, key_path, "a string");
    if (!value) continue;
    // Values may hold secrets: never quote them.
    if (has_control(value->value)) {
      error(v, key_path, "header values must not contain line breaks or control characters");
      continue;
    }
    if (value->value.size() > kMaxHeaderValue) {
      error(v, key_path, "header value too long (at most " + std::to_string(kMaxHeaderValue) + ")");
      continue;
    }
    p.headers.emplace_back(name, std::move(value->value));
  }
}

void Loader::parse_local(const YAML::Node& node, const std::string& path, LocalEngineOptions& out) {
  Section s(*this, node, path,
            {"model_path", "threads", "context_size", "max_sequences", "max_queue", "kv_memory_mb",
             "chat_template"});
  if (!s.ok()) return;
  read_input_file(s, "model_path", out.model_path);
  read_int(s, "threads", 0, 256, out.threads);
  read_int(s, "context_size", 16, 1 << 20, out.context_size);
  read_int(s, "max_sequences", 1, 256, out.max_sequences);
  read_int(s, "max_queue", 0, 100'000, out.max_queue);
  read_int(s, "kv_memory_mb", 0, 1 << 20, out.kv_memory_mb);
  std::string tmpl;
  if (read_string(s, "chat_template", tmpl)) {
    if (!tmpl.empty() && !valid_id(tmpl)) {
      error(*s.find("chat_template"), s.path("chat_template"),
            "expected a template family name such as chatml or llama3, got '" + printable(tmpl) +
                "'");
    } else {
      out.chat_template = std::move(tmpl);
    }
  }
}

void Loader::parse_orgs(const Section& root, std::vector<OrgConfig>& out) {
  const YAML::Node* node = root.find("orgs");
  if (!node) return;
  orgs_given_ = true;
  auto items = list(*node, "orgs", kMaxOrgs, "orgs");
  if (!items) {
    orgs_complete_ = false;
    return;
  }
  for (std::size_t i = 0; i < items->size() && !stopped(); ++i) {
    Section s(*this, (*items)[i], indexed("orgs", i), {"name"}, /*null_ok=*/false);
    OrgConfig org;
    if (!s.ok() || !require(s, "name") || !read_string(s, "name", org.name)) {
      orgs_complete_ = false;
      continue;
    }
    if (!valid_id(org.name)) {
      error(*s.find("name"), s.path("name"),
            "org names are 1..64 letters, digits, '-', '_' or '.', got '" + printable(org.name) +
                "'");
    }
    unique(org_lines_, org.name, *s.find("name"), s.path("name"), "org name");
    out.push_back(std::move(org));
  }
}

void Loader::parse_models(const Section& root, std::vector<ModelConfig>& out) {
  const YAML::Node* node = root.find("models");
  if (!node) return;
  auto items = list(*node, "models", kMaxModels, "models");
  if (!items) {
    models_complete_ = false;
    return;
  }
  out.reserve(items->size());
  for (std::size_t i = 0; i < items->size() && !stopped(); ++i) {
    Section s(*this, (*items)[i], indexed("models", i), {"name", "owned_by", "deployments"},
              /*null_ok=*/false);
    if (!s.ok()) {
      models_complete_ = false;
      continue;
    }
    ModelConfig m;
    if (!require(s, "name") || !read_string(s, "name", m.name)) {
      models_complete_ = false;
    } else {
      if (!valid_model_name(m.name)) {
        error(*s.find("name"), s.path("name"),
              "model names are 1..256 visible ASCII characters without spaces, got '" +
                  printable(m.name) + "'");
      }
      unique(model_lines_, m.name, *s.find("name"), s.path("name"), "model name");
    }
    read_string(s, "owned_by", m.owned_by, kMaxModelName);
    if (require(s, "deployments")) {
      const YAML::Node& dn = *s.find("deployments");
      const std::string dpath = s.path("deployments");
      if (auto deps = list(dn, dpath, kMaxDeployments, "deployments")) {
        if (deps->empty()) error(dn, dpath, "a model needs at least one deployment");
        for (std::size_t j = 0; j < deps->size() && !stopped(); ++j) {
          Section d(*this, (*deps)[j], indexed(dpath, j), {"provider", "model"},
                    /*null_ok=*/false);
          if (!d.ok()) continue;
          DeploymentConfig dep;
          const bool have_provider = require(d, "provider");
          const bool have_model = require(d, "model");
          if (have_provider && read_string(d, "provider", dep.provider) && providers_complete_ &&
              !provider_lines_.contains(dep.provider)) {
            std::vector<std::string_view> names;
            for (const auto& [name, line] : provider_lines_) names.push_back(name);
            std::sort(names.begin(), names.end());
            error(*d.find("provider"), d.path("provider"),
                  "unknown provider '" + printable(dep.provider) + "'" +
                      detail::suggest(dep.provider, names));
          }
          if (have_model && read_string(d, "model", dep.model, kMaxModelName) &&
              !valid_model_name(dep.model)) {
            error(*d.find("model"), d.path("model"),
                  "upstream model ids are visible ASCII characters without spaces, got '" +
                      printable(dep.model) + "'");
          }
          m.deployments.push_back(std::move(dep));
        }
      }
    }
    out.push_back(std::move(m));
  }
}

void Loader::parse_keys(const Section& root, std::vector<KeyConfig>& out) {
  const YAML::Node* node = root.find("keys");
  if (!node) return;
  auto items = list(*node, "keys", kMaxKeys, "keys");
  if (!items) return;
  out.reserve(items->size());
  for (std::size_t i = 0; i < items->size() && !stopped(); ++i) {
    Section s(*this, (*items)[i], indexed("keys", i), {"id", "sha256", "org", "models"},
              /*null_ok=*/false);
    if (!s.ok()) continue;
    KeyConfig k;
    if (require(s, "id") && read_string(s, "id", k.id)) {
      if (!valid_id(k.id)) {
        error(*s.find("id"), s.path("id"),
              "key ids are 1..64 letters, digits, '-', '_' or '.', got '" + printable(k.id) + "'");
      }
      unique(key_lines_, k.id, *s.find("id"), s.path("id"), "key id");
    }
    if (require(s, "sha256", "the key's hash, from `infergate keys new`") &&
        read_string(s, "sha256", k.sha256)) {
      const YAML::Node& hn = *s.find("sha256");
      if (!is_lower_hex64(k.sha256)) {
        std::string msg = "expected 64 lowercase hex characters (SHA-256 of the key), got " +
                          std::to_string(k.sha256.size()) + " characters";
        if (is_lower_hex64(lowered(k.sha256))) msg = "hex digits must be lowercase";
        error(hn, s.path("sha256"), std::move(msg));
      } else {
        auto [it, inserted] = hash_owner_.emplace(k.sha256, k.id);
        if (!inserted) {
          error(hn, s.path("sha256"),
                "same hash as key '" + printable(it->second) +
                    "': two ids for one key (generate a new key with `infergate keys new`)");
        }
      }
    }
    if (const YAML::Node* on = s.find("org")) {
      if (read_string(s, "org", k.org) && orgs_given_ && orgs_complete_) {
        if (k.org.empty()) {
          error(*on, s.path("org"), "every key needs an org when orgs are defined");
        } else if (!org_lines_.contains(k.org)) {
          std::vector<std::string_view> names;
          for (const auto& [name, line] : org_lines_) names.push_back(name);
          std::sort(names.begin(), names.end());
          error(*on, s.path("org"),
                "unknown org '" + printable(k.org) + "' (not in orgs)" +
                    detail::suggest(k.org, names));
        }
      }
    } else if (orgs_given_) {
      require(s, "org", "every key needs an org when orgs are defined");
    }
    if (const YAML::Node* mn = s.find("models")) {
      const std::string mpath = s.path("models");
      if (auto names = list(*mn, mpath, kMaxAllowedModels, "model names")) {
        if (names->empty()) {
          error(*mn, mpath,
                "an empty list would allow no model; leave 'models' out to allow all models");
        }
        std::unordered_map<std::string, int> seen;
        for (std::size_t j = 0; j < names->size() && !stopped(); ++j) {
          const YAML::Node& item = (*names)[j];
          const std::string ipath = indexed(mpath, j);
          auto v = scalar(item, ipath, "a model name");
          if (!v) continue;
          if (!unique(seen, v->value, item, ipath, "model")) continue;
          if (models_complete_ && !model_lines_.contains(v->value)) {
            std::vector<std::string_view> known;
            for (const auto& [name, line] : model_lines_) known.push_back(name);
            std::sort(known.begin(), known.end());
            error(item, ipath,
                  "unknown model '" + printable(v->value) + "'" + detail::suggest(v->value, known));
            continue;
          }
          k.models.push_back(std::move(v->value));
        }
      }
    }
    out.push_back(std::move(k));
  }
}

void Loader::parse_routing(const Section& root, RoutingConfig& out) {
  const YAML::Node* node = root.find("routing");
  if (!node) return;
  Section s(*this, *node, "routing", {"max_attempts"});
  if (!s.ok()) return;
  read_int(s, "max_attempts", 1, 64, out.max_attempts);
}

// Sees the document structure from parser events: more than one document is an error, and so is
// content the parser cannot start a node with (a stray ',' at the top level). yaml-cpp 0.7 reads
// the latter as an endless series of empty documents, so YAML::LoadAll never returns on it; this
// probe stops after three documents. Throws YAML::Exception on syntax errors.
bool Loader::probe_documents(const std::string& yaml) {
  struct Probe : YAML::EventHandler {
    std::vector<YAML::Mark> starts;
    void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  };
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  Probe probe;
  while (probe.starts.size() < 3 && parser.HandleNextDocument(probe)) {
  }
  for (std::size_t i = 1; i < probe.starts.size(); ++i) {
    if (probe.starts[i].pos == probe.starts[i - 1].pos) {
      error(probe.starts[i], "",
            "YAML syntax error: unexpected character here (a stray ',' or flow indicator?)");
      return false;
    }
  }
  if (probe.starts.size() > 1) {
    error(probe.starts[1], "", "only one YAML document is allowed per file");
    return false;
  }
  return true;
}

LoadResult Loader::run(const std::string& yaml) {
  LoadResult result;
  if (yaml.size() > kMaxConfigBytes) {
    errors_.push_back({file_, 0, 0, "",
                       "file too large (" + std::to_string(yaml.size()) + " bytes; at most " +
                           std::to_string(kMaxConfigBytes) + ")"});
    result.errors = std::move(errors_);
    return result;
  }
  text_ = yaml;
  YAML::Node doc;
  try {
    if (probe_documents(yaml)) doc = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    error(e.mark, "", "YAML syntax error: " + printable(e.msg, 200));
  } catch (const std::exception& e) {
    error(YAML::Mark::null_mark(), "", "cannot parse YAML: " + printable(e.what(), 200));
  }
  Config config;
  config.source = file_;
  if (errors_.empty()) {
    try {
      if (!doc.IsNull() && !doc.IsMap()) {
        error(doc, "",
              "the configuration must be a mapping of sections (server, providers, models, keys, "
              "orgs, routing), got " +
                  describe(doc));
      }
      Section root(*this, doc.IsMap() ? doc : YAML::Node(), "",
                   {"server", "providers", "models", "keys", "orgs", "routing"});
      if (root.ok()) {
        // Dependency order, not file order: references are checked against names already seen.
        parse_server(root, config.server);
        parse_providers(root, config.providers);
        parse_orgs(root, config.orgs);
        parse_models(root, config.models);
        parse_keys(root, config.keys);
        parse_routing(root, config.routing);
      }
    } catch (const std::exception& e) {
      // yaml-cpp reports misuse through exceptions; none is expected, but never crash on input.
      error(YAML::Mark::null_mark(), "",
            "internal error while reading the configuration: " + printable(e.what(), 200));
    }
  }
  // File order; diagnostics without a position (limits hit) go last.
  std::stable_sort(errors_.begin(), errors_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    auto key = [](const Diagnostic& d) {
      return std::make_tuple(d.line > 0 ? d.line : std::numeric_limits<int>::max(), d.column);
    };
    return key(a) < key(b);
  });
  result.errors = std::move(errors_);
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

}  // namespace

const ProviderConfig* Config::find_provider(std::string_view name) const {
  for (const auto& p : providers)
    if (p.name == name) return &p;
  return nullptr;
}

const ModelConfig* Config::find_model(std::string_view name) const {
  for (const auto& m : models)
    if (m.name == name) return &m;
  return nullptr;
}

LoadResult load_string(const std::string& yaml, const std::string& file_name,
                       const EnvLookup& env) {
  Loader loader(file_name, fs::path(file_name).parent_path(), env);
  return loader.run(yaml);
}

LoadResult load_file(const std::string& path, const EnvLookup& env) {
  auto fail = [&](std::string message) {
    LoadResult r;
    r.errors.push_back({path, 0, 0, "", std::move(message)});
    return r;
  };
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return fail("cannot open: file does not exist");
  if (!fs::is_regular_file(st)) return fail("cannot open: not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot open: permission denied or unreadable");
  std::string text;
  char buf[64 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes)
      return fail("file too large (more than " + std::to_string(kMaxConfigBytes) + " bytes)");
  }
  if (in.bad()) return fail("read error");
  return load_string(text, path, env);
}

}  // namespace infergate::config
