// Value parsers (durations, sizes, URLs), ${ENV} expansion and message helpers.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <vector>

#include "detail.hpp"
#include "infergate/config/config.hpp"

namespace infergate::config {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// A non-negative decimal integer of digits only; nullopt on anything else or overflow.
std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit)) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Splits "123unit" into the number and the unit; nullopt when there is no leading number.
std::optional<std::pair<std::uint64_t, std::string_view>> number_and_unit(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  auto n = parse_u64(s.substr(0, i));
  if (!n) return std::nullopt;
  return std::make_pair(*n, s.substr(i));
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != prefix[i]) return false;
  return true;
}

void set_why(std::string* why, std::string text) {
  if (why) *why = std::move(text);
}

// RFC 3986 unreserved / sub-delims / ':' / '@' / '/' -- what a URL path may hold unescaped.
bool is_path_char(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  static constexpr std::string_view kOther = "-._~!$&'()*+,;=:@/";
  return kOther.find(c) != std::string_view::npos;
}

bool is_hex(char c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f'); }

bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  std::size_t label = 0;
  for (char c : h) {
    if (c == '.') {
      if (label == 0) return false;  // empty label: "a..b" or ".a"
      label = 0;
      continue;
    }
    if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return true;
}

}  // namespace

std::optional<Millis> parse_duration(std::string_view text) {
  auto nu = number_and_unit(text);
  if (!nu) return std::nullopt;
  const auto [n, unit] = *nu;
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "ms") {
    mult = 1;
  } else if (unit == "s") {
    mult = 1000;
  } else if (unit == "m") {
    mult = 60'000;
  } else if (unit == "h") {
    mult = 3'600'000;
  } else {
    return std::nullopt;
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<Millis::rep>::max());
  if (n > kMax / mult) return std::nullopt;
  return Millis(static_cast<Millis::rep>(n * mult));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto nu = number_and_unit(text);
  if (!nu) return std::nullopt;
  const auto [n, unit] = *nu;
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "KiB") {
    mult = 1024;
  } else if (unit == "MiB") {
    mult = 1024 * 1024;
  } else if (unit == "GiB") {
    mult = 1024ULL * 1024 * 1024;
  } else {
    return std::nullopt;
  }
  if (n > std::numeric_limits<std::uint64_t>::max() / mult) return std::nullopt;
  return n * mult;
}

std::optional<BaseUrl> parse_base_url(std::string_view url, std::string* why) {
  BaseUrl out;
  std::string_view rest;
  if (istarts_with(url, "https://")) {
    out.https = true;
    rest = url.substr(8);
  } else if (istarts_with(url, "http://")) {
    rest = url.substr(7);
  } else {
    set_why(why, "must start with http:// or https://");
    return std::nullopt;
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      set_why(why, "must not contain spaces, control or non-ASCII characters");
      return std::nullopt;
    }
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    set_why(why, "must not contain a query (?) or fragment (#)");
    return std::nullopt;
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    set_why(why, "must not contain user info (user:password@); use api_key or headers");
    return std::nullopt;
  }
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      set_why(why, "has an unterminated IPv6 address ([...)");
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    std::string h(host);
    in6_addr addr{};
    if (inet_pton(AF_INET6, h.c_str(), &addr) != 1) {
      set_why(why, "has an invalid IPv6 address");
      return std::nullopt;
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        set_why(why, "has unexpected characters after the IPv6 address");
        return std::nullopt;
      }
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) {
      set_why(why, "has no host");
      return std::nullopt;
    }
    if (!valid_hostname(host)) {
      set_why(why, "has an invalid host name");
      return std::nullopt;
    }
  }
  out.host = std::string(host);
  if (has_port) {
    auto p = port_text.size() <= 5 ? parse_u64(port_text) : std::nullopt;
    if (!p || *p == 0 || *p > 65535) {
      set_why(why, "has an invalid port (expected 1..65535)");
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(*p);
  } else {
    out.port = out.https ? 443 : 80;
  }
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      if (i + 2 >= path.size() || !is_hex(path[i + 1]) || !is_hex(path[i + 2])) {
        set_why(why, "has a malformed percent-escape in its path");
        return std::nullopt;
      }
      i += 2;
    } else if (!is_path_char(path[i])) {
      set_why(why, "has a character in its path that must be percent-escaped");
      return std::nullopt;
    }
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.path = std::string(path);
  out.normalized = std::string(out.https ? "https://" : "http://");
  out.normalized += authority;
  out.normalized += out.path;
  return out;
}

std::string format(const Diagnostic& d) {
  std::string out = d.file.empty() ? std::string("<config>") : d.file;
  if (d.line > 0) {
    out += ':' + std::to_string(d.line);
    if (d.column > 0) out += ':' + std::to_string(d.column);
  }
  out += ": ";
  if (!d.key.empty()) out += d.key + ": ";
  out += d.message;
  return out;
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

namespace detail {

namespace {

bool valid_env_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (!(is_alpha(name[0]) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '_'; });
}

}  // namespace

std::optional<std::string> expand_env(std::string_view text, const EnvLookup& env,
                                      std::string* error, bool* substituted) {
  if (substituted) *substituted = false;
  if (text.find('$') == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      if (error) *error = "unterminated ${ (write $${ for a literal ${)";
      return std::nullopt;
    }
    const std::string name(text.substr(i + 2, close - i - 2));
    if (!valid_env_name(name)) {
      if (error)
        *error = "invalid environment variable name '" + printable(name) +
                 "' in ${...} (letters, digits and _; write $${ for a literal ${)";
      return std::nullopt;
    }
    if (substituted) *substituted = true;
    std::optional<std::string> value = env ? env(name) : std::nullopt;
    if (value) {
      out += *value;
    } else if (std::find(missing.begin(), missing.end(), name) == missing.end()) {
      missing.push_back(name);
    }
    i = close + 1;
  }
  if (!missing.empty()) {
    if (error) {
      std::string names;
      for (std::size_t k = 0; k < missing.size(); ++k) names += (k ? ", " : "") + missing[k];
      *error = missing.size() == 1 ? "environment variable " + names + " is not set"
                                   : "environment variables " + names + " are not set";
    }
    return std::nullopt;
  }
  return out;
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  const bool cut = s.size() > max;
  if (cut) s = s.substr(0, max);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '\\' || c == '\'') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  if (cut) out += "...";
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions ("prot" -> "port").
  constexpr std::size_t kCap = 64;  // keys are short; don't spend time on long garbage
  if (a.size() > kCap || b.size() > kCap) return std::max(a.size(), b.size());
  std::size_t rows[3][kCap + 1];
  std::size_t* prev2 = rows[0];
  std::size_t* prev = rows[1];
  std::size_t* cur = rows[2];
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]))
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggest(std::string_view word, std::span<const std::string_view> options) {
  std::string_view best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  for (std::string_view o : options) {
    const std::size_t d = edit_distance(word, o);
    if (d < best_d) {
      best_d = d;
      best = o;
    }
  }
  // Close enough to be a typo: at most 2 edits, and fewer than half the word.
  const std::size_t limit = std::min<std::size_t>(2, std::max<std::size_t>(1, word.size() / 3));
  if (best.empty() || best_d > limit) return "";
  return " (did you mean '" + std::string(best) + "'?)";
}

}  // namespace detail

}  // namespace infergate::config
