// Generated files that media-generation providers (Replicate, fal) hand back: `data:` URIs and
// http(s) URLs whose bytes the gateway fetches, bounded, with HttpClient. Shared by the replicate
// and fal adapters (fal links this library).
//
// Credentials go only where the provider's API lives: a URL on the base URL's host, or on a
// sibling host of the same parent domain (api.replicate.com -> stream.replicate.com), never to a
// CDN or any other host an upstream answer names, and never from https down to http.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "infergate/adapters/http_client.hpp"

namespace infergate::adapters::media {

// The most bytes one generated file may have (decoded).
inline constexpr std::size_t kMaxFileBytes = 32 * 1024 * 1024;
// The longest URL an upstream answer may name.
inline constexpr std::size_t kMaxUrlBytes = 8192;

// Standard base64 (RFC 4648 section 4; also the URL-safe alphabet of section 5), padding optional,
// ASCII whitespace ignored. False on any other byte, bad padding, or more than `limit` output
// bytes.
bool decode_base64(std::string_view in, std::string& out, std::size_t limit = kMaxFileBytes);
// Standard base64 with padding.
std::string encode_base64(std::string_view bytes);

// "data:[<mediatype>][;base64],<data>" (RFC 2397). Percent-encoded (non-base64) data is decoded
// too. False when `uri` is not a valid data URI or decodes to more than `limit` bytes.
bool parse_data_uri(std::string_view uri, std::string& content_type, std::string& bytes,
                    std::size_t limit = kMaxFileBytes);
inline bool is_data_uri(std::string_view s) {
  return s.size() >= 5 && (s.substr(0, 5) == "data:" || s.substr(0, 5) == "DATA:");
}

// The image type of `bytes` from its magic number: image/png, image/jpeg, image/webp, image/gif;
// empty when unknown.
std::string_view sniff_image_type(std::string_view bytes);

// Whether the provider's credentials may be sent to `target` (see above).
bool credentials_allowed(const Endpoint& target, const Endpoint& api);

// What one fetch produced.
struct Fetched {
  bool ok = false;
  std::string bytes;
  std::string content_type;  // sniffed from the bytes, else the response's Content-Type
  api::Error error;          // when !ok
  int status = 0;            // the HTTP status, when one arrived
};

// GETs `url` (http or https) with `options`, reading at most `limit` bytes. `auth_name` /
// `auth_value` (e.g. "Authorization", "Bearer ...") are sent only when credentials_allowed(url,
// api). A data URI is decoded instead. Errors never quote the URL (it may carry signed tokens).
boost::asio::awaitable<Fetched> fetch(HttpClient& http, std::string_view url,
                                      const RequestOptions& options, const Endpoint& api,
                                      std::string_view auth_name, std::string_view auth_value,
                                      std::string_view request_id,
                                      std::size_t limit = kMaxFileBytes);

}  // namespace infergate::adapters::media
