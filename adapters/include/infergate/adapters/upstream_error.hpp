// How an upstream call can fail, and how each failure maps to a canonical api::Error.
//
// Shared by every adapter: the transport failures come from HttpClient, the HTTP status mapping
// applies to any provider once its adapter has pulled the provider's own message out of the body.
// No Beast here, so codecs and their tests stay free of sockets.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "infergate/api/chat.hpp"

namespace infergate::adapters {

// A failure below HTTP semantics (no usable response status), as HttpClient reports it.
enum class TransportError : std::uint8_t {
  none,
  bad_url,             // the provider's base_url cannot be used
  resolve,             // the host name did not resolve
  connect,             // TCP connect failed (refused, unreachable)
  tls,                 // TLS setup, handshake or certificate verification failed
  pool_timeout,        // every pooled connection stayed busy for connect_timeout
  connect_timeout,     // resolve + connect + handshake took longer than connect_timeout
  first_byte_timeout,  // no response header within first_byte_timeout of sending
  idle_timeout,        // no body bytes within idle_timeout
  total_timeout,       // the whole-call deadline passed
  reset,               // the connection closed or reset before the response was complete
  protocol,            // the upstream did not speak valid HTTP/1.1
  too_large,           // the response (header or body) exceeded its limit
  cancelled,           // the awaiting coroutine was cancelled
};

// A short fixed description ("upstream connect timeout"); never contains request data.
std::string_view describe(TransportError e);

// 502/504 errors for transport failures. Connection-level failures and timeouts are retryable
// (another deployment may answer); an oversized response or a cancellation is not.
api::Error map_transport_error(TransportError e);

// Maps an upstream HTTP error status. `message` is the provider's own error message (may be
// empty); it is echoed only for client errors the caller can fix (400, 404, 413, 422), scrubbed
// of `secret` and bounded in length. 401/403 mean the gateway's own credentials are wrong: the
// message is never echoed. `retry_after_s` < 0 means "not given".
api::Error map_status_error(int status, std::string_view message, int retry_after_s,
                            std::string_view secret);

// Parses a Retry-After value: delay-seconds or an IMF-fixdate relative to `now`. Returns -1 when
// absent or invalid; clamps to [0, kMaxRetryAfterS].
inline constexpr int kMaxRetryAfterS = 3600;
int parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);

// `message` with every occurrence of `secret` (if at least 6 bytes) replaced by "[redacted]",
// cut to `max_bytes` at a UTF-8 boundary.
std::string scrub_message(std::string_view message, std::string_view secret,
                          std::size_t max_bytes = 1024);

}  // namespace infergate::adapters
