// The upstream HTTP/1.1 client: keep-alive connection pools per origin, TLS with verification,
// per-phase timeouts, streamed bodies.
//
// One HttpClient per I/O thread (io_context run by one thread): it takes no locks, so every call
// must run on that thread's executor. A response holds its connection until the body is read to
// the end (it then goes back to the pool) or the response is destroyed (an unfinished connection
// is closed, never reused). Cancelling the awaiting coroutine aborts the operation in flight and
// closes its connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "infergate/adapters/upstream_error.hpp"
#include "infergate/config/config.hpp"

namespace infergate::adapters {

// A parsed absolute http(s) URL, parsed once per provider.
struct Endpoint {
  bool tls = false;
  std::string host;  // brackets of an IPv6 literal removed
  std::uint16_t port = 0;
  std::string host_header;  // Host header value: host, bracketed for IPv6, ":port" if not default
  std::string path;         // base path without a trailing '/'; may be empty
  std::string query;        // after '?', without it; may be empty
};

// Parses "http[s]://host[:port][/path][?query]". No user info, no fragment. On failure returns
// false and sets *error to a reason that does not quote the URL.
bool parse_url(std::string_view url, Endpoint& out, std::string* error = nullptr);

// The request line target for `suffix` ("/chat/completions") under the endpoint's base path.
std::string make_target(const Endpoint& ep, std::string_view suffix);

struct HttpRequest {
  std::string method = "POST";
  std::string target;   // origin-form, e.g. "/v1/chat/completions"
  std::string headers;  // "Name: value\r\n" lines; Host and Content-Length are the client's
  std::string body;

  // Appends one header line. CR, LF and NUL are dropped from name and value (no injection).
  void add_header(std::string_view name, std::string_view value);
};

// Timeouts and limits of one call. Trivially destructible on purpose: GCC 12 can miscompile a
// braced temporary with non-trivial members inside a co_await expression
// (`co_await client.send(ep, req, RequestOptions{})`), destroying a string it never built.
struct RequestOptions {
  std::chrono::milliseconds connect_timeout{5'000};       // resolve + connect + TLS, and pool wait
  std::chrono::milliseconds first_byte_timeout{120'000};  // request written -> response header
  std::chrono::milliseconds idle_timeout{60'000};         // between two body reads
  std::chrono::steady_clock::time_point deadline{};       // whole call; {} = none
  std::size_t max_connections = 256;  // per origin on this client (this I/O thread)
  bool tls_verify = true;
  std::string_view ca_file;  // extra PEM bundle added to the system store; must outlive the call
                             // (it points into the provider config)

  // The provider's settings; the deadline is the earlier of `deadline` ({} = none) and now +
  // total_timeout.
  static RequestOptions from(const config::ProviderConfig& provider,
                             std::chrono::steady_clock::time_point deadline = {});
};

namespace detail {
struct Connection;
struct Pool;
}  // namespace detail

class UpstreamResponse {
 public:
  UpstreamResponse() = default;
  UpstreamResponse(UpstreamResponse&& other) noexcept;
  UpstreamResponse& operator=(UpstreamResponse&& other) noexcept;
  UpstreamResponse(const UpstreamResponse&) = delete;
  UpstreamResponse& operator=(const UpstreamResponse&) = delete;
  ~UpstreamResponse();

  // none once a response header arrived; afterwards also set by a failed body read.
  TransportError error() const { return error_; }
  int status() const { return status_; }
  // The first value of header `name` (case-insensitive); empty when absent. Headers are
  // available until the body has been read to the end (the connection then goes back to the
  // pool with its parser): read the ones you need first.
  std::string_view header(std::string_view name) const;
  // The Content-Length, or -1 (chunked / until close / body already read).
  std::int64_t content_length() const;
  // The whole body has been received (the connection is back in the pool if reusable).
  bool done() const { return done_; }
  // The request went out on a pooled keep-alive connection.
  bool reused() const { return reused_; }

  // Reads the next piece of the body as it arrives. Returns true with a non-empty `piece`, valid
  // until the next call; false at the end of the body or on failure (see error()).
  boost::asio::awaitable<bool> read_some(std::string_view& piece);
  // Appends the rest of the body to `out`. False on failure (too_large when more than `limit`
  // bytes would be appended).
  boost::asio::awaitable<bool> read_all(std::string& out, std::size_t limit);
  // Abandons the response: its connection is closed.
  void close();
  // Changes the idle timeout for the following reads (e.g. a short drain after the last event).
  void set_idle_timeout(std::chrono::milliseconds t) { idle_timeout_ = t; }

 private:
  friend class HttpClient;
  void fail(TransportError e);
  void finish();

  detail::Connection* conn_ = nullptr;  // owned; returned to pool_ or closed
  detail::Pool* pool_ = nullptr;
  std::chrono::milliseconds idle_timeout_{0};
  std::chrono::steady_clock::time_point deadline_{};
  TransportError error_ = TransportError::none;
  int status_ = 0;
  bool done_ = false;
  bool reused_ = false;
};

class HttpClient {
 public:
  explicit HttpClient(boost::asio::any_io_executor executor);
  ~HttpClient();  // closes pooled connections; every response must be gone by then
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` to `endpoint` and waits for the response header. On failure the returned
  // response has error() != none. A request that fails on a reused keep-alive connection before
  // any response byte arrived (the peer closed it while idle) is retried once on a new one.
  boost::asio::awaitable<UpstreamResponse> send(const Endpoint& endpoint,
                                                const HttpRequest& request,
                                                const RequestOptions& options);

  // Closes every idle pooled connection (e.g. on config reload).
  void close_idle();

  struct Stats {
    std::uint64_t connects = 0;       // new connections established
    std::uint64_t reuses = 0;         // requests sent on a pooled connection
    std::uint64_t stale_retries = 0;  // requests retried after a stale pooled connection
    std::uint64_t pool_waits = 0;     // requests that waited for a free connection
  };
  const Stats& stats() const;
  std::size_t idle_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::adapters
