#include "sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>

namespace infergate::adapters::sigv4 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding for query parameters ('+' stays '+'); an invalid escape stays as it is.
std::string uri_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Trims and folds sequential spaces to one (the canonical header value rule).
std::string canonical_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service) {
  std::string k = "AWS4";
  k += secret;
  std::string k_date = hmac_sha256(k, date);
  // The secret-derived buffer is not needed any more.
  std::fill(k.begin(), k.end(), '\0');
  std::string k_region = hmac_sha256(k_date, region);
  std::string k_service = hmac_sha256(k_region, service);
  return hmac_sha256(k_service, "aws4_request");
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string canonical_uri(std::string_view path) {
  // RFC 3986 remove_dot_segments on segments, and no empty segments (AWS normalisation for
  // every service but S3), keeping a trailing slash.
  std::vector<std::string_view> segments;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    const std::string_view seg = path.substr(pos, next - pos);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    pos = next + 1;
  }
  const bool trailing = !segments.empty() && path.size() > 1 &&
                        (path.back() == '/' || path.ends_with("/.") || path.ends_with("/.."));
  std::string out;
  for (auto seg : segments) {
    out += '/';
    out += uri_encode(seg, false);
  }
  if (out.empty() || trailing) out += '/';
  return out;
}

std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t pos = 0;
  while (pos < query.size()) {
    auto amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view p = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (p.empty()) continue;
    const auto eq = p.find('=');
    const std::string_view name = p.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : p.substr(eq + 1);
    params.emplace_back(uri_encode(uri_decode(name), false), uri_encode(uri_decode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Signed sign(const Request& request, const Credentials& credentials,
            std::chrono::system_clock::time_point now) {
  Signed out;
  out.amz_date = amz_date(now);
  const std::string date = out.amz_date.substr(0, 8);

  // Canonical headers: lowercase names, sorted; a repeated name's values joined with ','.
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(request.headers.size() + 2);
  for (const auto& [k, v] : request.headers) {
    std::string name(k);
    std::transform(name.begin(), name.end(), name.begin(), lower);
    if (name == "x-amz-date" || name == "x-amz-security-token" || name == "authorization") continue;
    headers.emplace_back(std::move(name), canonical_value(v));
  }
  headers.emplace_back("x-amz-date", out.amz_date);
  if (!credentials.session_token.empty())
    headers.emplace_back("x-amz-security-token", std::string(credentials.session_token));
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  std::string canonical_headers;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers += ',';
    } else {
      if (!out.signed_headers.empty()) out.signed_headers += ';';
      out.signed_headers += headers[i].first;
      canonical_headers += headers[i].first;
      canonical_headers += ':';
    }
    canonical_headers += headers[i].second;
    canonical_headers += '\n';
  }

  std::string& cr = out.canonical_request;
  cr += request.method;
  cr += '\n';
  cr += canonical_uri(request.path);
  cr += '\n';
  cr += canonical_query(request.query);
  cr += '\n';
  cr += canonical_headers;
  cr += '\n';
  cr += out.signed_headers;
  cr += '\n';
  cr += sha256_hex(request.payload);

  std::string scope = date;
  scope += '/';
  scope += credentials.region;
  scope += '/';
  scope += credentials.service;
  scope += "/aws4_request";

  std::string& sts = out.string_to_sign;
  sts += kAlgorithm;
  sts += '\n';
  sts += out.amz_date;
  sts += '\n';
  sts += scope;
  sts += '\n';
  sts += sha256_hex(cr);

  std::string key =
      signing_key(credentials.secret_access_key, date, credentials.region, credentials.service);
  out.signature = to_hex(hmac_sha256(key, sts));
  std::fill(key.begin(), key.end(), '\0');

  out.authorization.reserve(200);
  out.authorization += kAlgorithm;
  out.authorization += " Credential=";
  out.authorization += credentials.access_key_id;
  out.authorization += '/';
  out.authorization += scope;
  out.authorization += ", SignedHeaders=";
  out.authorization += out.signed_headers;
  out.authorization += ", Signature=";
  out.authorization += out.signature;
  return out;
}

}  // namespace infergate::adapters::sigv4
