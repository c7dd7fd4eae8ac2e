#include "media.hpp"

#include <array>
#include <utility>

#include "infergate/adapters/upstream_error.hpp"

namespace infergate::adapters::media {

namespace {

constexpr std::array<std::int8_t, 256> make_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 26; ++i) {
    t[static_cast<std::size_t>('A' + i)] = static_cast<std::int8_t>(i);
    t[static_cast<std::size_t>('a' + i)] = static_cast<std::int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i)
    t[static_cast<std::size_t>('0' + i)] = static_cast<std::int8_t>(52 + i);
  t['+'] = 62;
  t['/'] = 63;
  t['-'] = 62;  // URL-safe alphabet
  t['_'] = 63;
  return t;
}
constexpr auto kTable = make_table();

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The host's parent domain ("api.replicate.com" -> "replicate.com"); empty when the parent would
// be a bare top-level label ("fal.run" -> "") or the host is an IP literal.
std::string_view parent_domain(std::string_view host) {
  if (host.empty() || host.find(':') != std::string_view::npos) return {};
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) return {};
  const auto dot = host.find('.');
  if (dot == std::string_view::npos) return {};
  std::string_view parent = host.substr(dot + 1);
  if (parent.find('.') == std::string_view::npos) return {};
  return parent;
}

api::Error fetch_error(std::string message) {
  api::Error e = api::Error::make(api::ErrorKind::upstream, std::move(message), {},
                                  "upstream_media_fetch_failed");
  e.retryable = true;
  return e;
}

}  // namespace

bool decode_base64(std::string_view in, std::string& out, std::size_t limit) {
  out.clear();
  out.reserve(std::min(limit, in.size() / 4 * 3 + 3));
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  std::size_t symbols = 0;
  for (char c : in) {
    if (ascii_space(c)) continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    const std::int8_t v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    ++symbols;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out.size() >= limit) return false;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (pad > 2 || symbols % 4 == 1) return false;
  if (pad > 0 && (symbols + pad) % 4 != 0) return false;
  // Leftover bits must be zero (canonical encoding), as most decoders tolerate otherwise.
  return true;
}

std::string encode_base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool parse_data_uri(std::string_view uri, std::string& content_type, std::string& bytes,
                    std::size_t limit) {
  if (!is_data_uri(uri)) return false;
  uri.remove_prefix(5);
  const auto comma = uri.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view meta = uri.substr(0, comma);
  const std::string_view data = uri.substr(comma + 1);
  bool base64 = false;
  if (meta.size() >= 7 && iequals(meta.substr(meta.size() - 7), ";base64")) {
    base64 = true;
    meta.remove_suffix(7);
  }
  const std::string_view type = meta.substr(0, meta.find(';'));
  content_type.clear();
  for (char c : type) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"') return false;
    content_type += lower(c);
  }
  if (content_type.empty()) content_type = "text/plain";
  if (content_type.size() > 255) return false;
  if (base64) return decode_base64(data, bytes, limit);
  bytes.clear();
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (bytes.size() >= limit) return false;
    if (data[i] == '%') {
      if (i + 2 >= data.size()) return false;
      const int h = hex(data[i + 1]), l = hex(data[i + 2]);
      if (h < 0 || l < 0) return false;
      bytes.push_back(static_cast<char>(h * 16 + l));
      i += 2;
    } else {
      bytes.push_back(data[i]);
    }
  }
  return true;
}

std::string_view sniff_image_type(std::string_view b) {
  if (b.size() >= 8 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8))
    return "image/png";
  if (b.size() >= 3 && b.substr(0, 3) == "\xFF\xD8\xFF") return "image/jpeg";
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return "image/webp";
  if (b.size() >= 6 && (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a"))
    return "image/gif";
  return {};
}

bool credentials_allowed(const Endpoint& target, const Endpoint& api) {
  if (api.tls && !target.tls) return false;  // never downgrade
  if (iequals(target.host, api.host)) return target.port == api.port;
  const std::string_view parent = parent_domain(api.host);
  if (parent.empty() || target.host.size() <= parent.size() + 1) return false;
  const std::string_view th = target.host;
  return th[th.size() - parent.size() - 1] == '.' &&
         iequals(th.substr(th.size() - parent.size()), parent) && target.port == api.port;
}

boost::asio::awaitable<Fetched> fetch(HttpClient& http, std::string_view url,
                                      const RequestOptions& options, const Endpoint& api,
                                      std::string_view auth_name, std::string_view auth_value,
                                      std::string_view request_id, std::size_t limit) {
  Fetched out;
  if (url.size() > kMaxUrlBytes) {
    out.error = fetch_error("upstream named an over-long file URL");
    co_return out;
  }
  if (is_data_uri(url)) {
    std::string declared;
    if (!parse_data_uri(url, declared, out.bytes, limit)) {
      out.error = fetch_error("upstream returned an invalid or oversized data URI");
      co_return out;
    }
    const auto sniffed = sniff_image_type(out.bytes);
    out.content_type = sniffed.empty() ? declared : std::string(sniffed);
    out.ok = true;
    co_return out;
  }
  Endpoint ep;
  if (!parse_url(url, ep)) {
    out.error = fetch_error("upstream named an invalid file URL");
    co_return out;
  }
  HttpRequest req;
  req.method = "GET";
  req.target = make_target(ep, "");
  if (!auth_name.empty() && !auth_value.empty() && credentials_allowed(ep, api))
    req.add_header(auth_name, auth_value);
  req.add_header("Accept", "image/*, */*");
  if (!request_id.empty()) req.add_header("x-request-id", request_id);
  UpstreamResponse resp = co_await http.send(ep, req, options);
  if (resp.error() != TransportError::none) {
    out.error = map_transport_error(resp.error());
    co_return out;
  }
  out.status = resp.status();
  if (resp.status() != 200) {
    resp.close();
    out.error = fetch_error("fetching the generated file failed (upstream HTTP " +
                            std::to_string(resp.status()) + ")");
    co_return out;
  }
  std::string header_type(resp.header("content-type").substr(0, 255));
  if (const auto semi = header_type.find(';'); semi != std::string::npos) header_type.resize(semi);
  while (!header_type.empty() && header_type.back() == ' ') header_type.pop_back();
  if (resp.content_length() > static_cast<std::int64_t>(limit)) {
    resp.close();
    out.error = map_transport_error(TransportError::too_large);
    out.error.message = "generated file too large";
    co_return out;
  }
  if (!co_await resp.read_all(out.bytes, limit)) {
    out.error = map_transport_error(resp.error());
    if (resp.error() == TransportError::too_large) out.error.message = "generated file too large";
    out.bytes.clear();
    co_return out;
  }
  const auto sniffed = sniff_image_type(out.bytes);
  out.content_type = sniffed.empty() ? header_type : std::string(sniffed);
  out.ok = true;
  co_return out;
}

}  // namespace infergate::adapters::media
