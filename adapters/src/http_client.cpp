#include "infergate/adapters/http_client.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

namespace infergate::adapters {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr auto kTok = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 64 * 1024;       // response header bytes
constexpr std::size_t kReadBufferLimit = 256 * 1024;  // raw bytes buffered ahead of the parser
constexpr std::size_t kPieceSize = 8 * 1024;          // body bytes handed out per read_some
// Bytes asked of the socket per read. Beast reads max(512, free capacity) and the parser drains
// the buffer every time, so without this reserve every read is 512 bytes: two reads for a small
// JSON answer with its headers, 2,000 per MiB of body.
constexpr std::size_t kReadSize = 4 * 1024;
// A pooled connection idle for longer is closed rather than reused: servers commonly drop idle
// keep-alive connections after 5-75 s, and reusing one they are about to drop loses a request.
constexpr auto kMaxIdleAge = std::chrono::seconds(30);
constexpr auto kPeekAfterIdle = std::chrono::milliseconds(2);
constexpr auto kDnsTtl = std::chrono::seconds(10);
constexpr std::size_t kDnsCacheMax = 256;

Clock::time_point earlier(Clock::time_point a, Clock::time_point b) {
  if (b == Clock::time_point{}) return a;
  return std::min(a, b);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Maps an I/O error to the transport failure it means. `timeout_kind` names the phase whose
// timer was armed; a timer armed at the whole-call deadline reports total_timeout.
TransportError classify(const error_code& ec, Clock::time_point deadline,
                        TransportError timeout_kind) {
  if (ec == beast::error::timeout) {
    if (deadline != Clock::time_point{} && Clock::now() >= deadline)
      return TransportError::total_timeout;
    return timeout_kind;
  }
  if (ec == asio::error::operation_aborted) return TransportError::cancelled;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::connection_aborted || ec == asio::error::broken_pipe ||
      ec == asio::error::not_connected || ec == ssl::error::stream_truncated)
    return TransportError::reset;
  if (ec == http::error::header_limit || ec == http::error::body_limit ||
      ec == http::error::buffer_overflow)
    return TransportError::too_large;
  if (ec.category() == http::make_error_code(http::error::bad_version).category())
    return TransportError::protocol;  // any other parser error
  if (ec.category() == asio::error::get_ssl_category()) return TransportError::tls;
  return TransportError::reset;
}

std::unique_ptr<ssl::context> make_ssl_context(bool verify, std::string_view ca_file) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx->native_handle(), kAlpn, sizeof(kAlpn));
  error_code ec;
  if (!verify) {
    ctx->set_verify_mode(ssl::verify_none, ec);
    return ctx;
  }
  ctx->set_default_verify_paths(ec);  // a missing system store is not fatal when ca_file is set
  if (!ca_file.empty()) {
    ctx->load_verify_file(std::string(ca_file), ec);
    if (ec) return nullptr;
  }
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return nullptr;
  return ctx;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// URL and request helpers

bool parse_url(std::string_view url, Endpoint& out, std::string* error) {
  auto fail = [&](const char* why) {
    if (error) *error = why;
    return false;
  };
  Endpoint ep;
  if (starts_with_ci(url, "https://")) {
    ep.tls = true;
    ep.port = 443;
    url.remove_prefix(8);
  } else if (starts_with_ci(url, "http://")) {
    ep.port = 80;
    url.remove_prefix(7);
  } else {
    return fail("URL must start with http:// or https://");
  }
  for (char ch : url)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f)
      return fail("URL contains whitespace or control characters");
  if (auto hash = url.find('#'); hash != std::string_view::npos) url = url.substr(0, hash);
  const auto end = url.find_first_of("/?");
  const std::string_view authority = url.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : url.substr(end);
  if (authority.find('@') != std::string_view::npos) return fail("URL must not contain user info");

  std::string_view host, port_text;
  bool has_port = false, ipv6 = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("URL has an unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    ipv6 = true;
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("URL has junk after the IPv6 literal");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
  }
  if (host.empty()) return fail("URL has no host");
  for (char ch : host) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
                    (ipv6 && (ch == ':' || ch == '%'));
    if (!ok) return fail("URL host has invalid characters");
  }
  if (has_port) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc{} || p != port_text.data() + port_text.size() ||
        port == 0 || port > 65535)
      return fail("URL port must be 1-65535");
    ep.port = static_cast<std::uint16_t>(port);
  }
  ep.host.assign(host);
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    ep.query.assign(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  ep.path.assign(rest);

  ep.host_header = ipv6 ? "[" + ep.host + "]" : ep.host;
  if (ep.port != (ep.tls ? 443 : 80)) {
    ep.host_header += ':';
    ep.host_header += std::to_string(ep.port);
  }
  out = std::move(ep);
  return true;
}

std::string make_target(const Endpoint& ep, std::string_view suffix) {
  std::string t;
  t.reserve(ep.path.size() + suffix.size() + ep.query.size() + 2);
  t += ep.path;
  t += suffix;
  if (t.empty()) t = "/";
  if (!ep.query.empty()) {
    t += '?';
    t += ep.query;
  }
  return t;
}

void HttpRequest::add_header(std::string_view name, std::string_view value) {
  // CR, LF and NUL would split or end the header: drop them (runs of clean bytes are appended
  // whole; a byte at a time cost ~2.6k instructions per request).
  auto append_clean = [this](std::string_view s) {
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const char ch = s[i];
      if (ch != '\r' && ch != '\n' && ch != '\0') continue;
      headers.append(s.data() + run, i - run);
      run = i + 1;
    }
    headers.append(s.data() + run, s.size() - run);
  };
  append_clean(name);
  headers += ": ";
  append_clean(value);
  headers += "\r\n";
}

RequestOptions RequestOptions::from(const config::ProviderConfig& provider,
                                    std::chrono::steady_clock::time_point deadline) {
  RequestOptions o;
  o.connect_timeout = provider.connect_timeout;
  o.first_byte_timeout = provider.first_byte_timeout;
  o.idle_timeout = provider.idle_timeout;
  const auto total = Clock::now() + provider.total_timeout;
  o.deadline = deadline == Clock::time_point{} ? total : std::min(deadline, total);
  o.max_connections = std::max<std::size_t>(provider.max_connections, 1);
  o.tls_verify = provider.tls_verify;
  o.ca_file = provider.ca_file;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Connections and pools

namespace detail {

struct Waiter {
  asio::steady_timer* timer = nullptr;
  bool woken = false;
};

struct Pool {
  explicit Pool(std::string k) : key(std::move(k)) {}
  ~Pool() { idle.clear(); }  // connections count themselves out while these members live

  // Wakes the oldest waiter: a connection came back or a slot became free.
  void notify() {
    while (!waiters.empty()) {
      Waiter* w = waiters.front();
      waiters.pop_front();
      if (!w->woken) {
        w->woken = true;
        w->timer->cancel();
        return;
      }
    }
  }
  void put(std::unique_ptr<Connection> c, bool reusable);

  std::string key;
  ssl::context* ssl_ctx = nullptr;  // null for plain HTTP or when the context failed to load
  bool tls_verify = true;
  std::size_t total = 0;  // idle + leased + connecting
  std::deque<Waiter*> waiters;
  std::vector<std::unique_ptr<Connection>> idle;  // LIFO: the warmest connection first
};

struct Connection {
  Connection(Pool& p, const asio::any_io_executor& ex) : pool(&p), tcp(ex) {
    ++pool->total;
    rbuf.reserve(kReadSize);
  }
  ~Connection() {
    tls.reset();
    error_code ec;
    tcp.socket().close(ec);
    --pool->total;
    pool->notify();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The peer closed an idle connection, or sent something unsolicited: not safe to reuse.
  bool healthy(Clock::time_point now) {
    if (now - idle_since > kMaxIdleAge || rbuf.size() != 0) return false;
    // Back in the pool for an instant (the steady state under load): skip the peek syscall. A
    // close that fast would race the peek anyway; the exchange then fails with nothing
    // received and is retried once on a new connection (the keep-alive race below).
    if (now - idle_since < kPeekAfterIdle) return true;
    char b;
    const auto n = ::recv(tcp.socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  Pool* pool;
  beast::tcp_stream tcp;
  std::optional<ssl::stream<beast::tcp_stream&>> tls;
  beast::flat_buffer rbuf{kReadBufferLimit};
  std::optional<http::response_parser<http::buffer_body>> parser;
  std::string wbuf;
  std::array<char, kPieceSize> piece;
  Clock::time_point idle_since{};
};

void Pool::put(std::unique_ptr<Connection> c, bool reusable) {
  if (!reusable || c->rbuf.size() != 0) return;  // c closes and counts itself out
  c->parser.reset();
  c->tcp.expires_never();
  c->idle_since = Clock::now();
  idle.push_back(std::move(c));
  notify();
}

}  // namespace detail

using detail::Connection;
using detail::Pool;

// Runs `op` on the connection's outermost stream (TLS or plain TCP).
template <class Op>
static auto on_stream(Connection& c, Op&& op) {
  return c.tls ? op(*c.tls) : op(c.tcp);
}

// ---------------------------------------------------------------------------------------------
// UpstreamResponse

UpstreamResponse::UpstreamResponse(UpstreamResponse&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      pool_(other.pool_),
      idle_timeout_(other.idle_timeout_),
      deadline_(other.deadline_),
      error_(other.error_),
      status_(other.status_),
      done_(other.done_),
      reused_(other.reused_) {}

UpstreamResponse& UpstreamResponse::operator=(UpstreamResponse&& other) noexcept {
  if (this != &other) {
    close();
    conn_ = std::exchange(other.conn_, nullptr);
    pool_ = other.pool_;
    idle_timeout_ = other.idle_timeout_;
    deadline_ = other.deadline_;
    error_ = other.error_;
    status_ = other.status_;
    done_ = other.done_;
    reused_ = other.reused_;
  }
  return *this;
}

UpstreamResponse::~UpstreamResponse() {
  // A complete response (e.g. one without a body, never read) still returns its connection.
  if (conn_ && error_ == TransportError::none && conn_->parser && conn_->parser->is_done())
    finish();
  close();
}

void UpstreamResponse::close() { delete std::exchange(conn_, nullptr); }

void UpstreamResponse::fail(TransportError e) {
  error_ = e;
  close();
}

void UpstreamResponse::finish() {
  done_ = true;
  if (!conn_) return;
  std::unique_ptr<Connection> c(std::exchange(conn_, nullptr));
  const bool reusable = c->parser && c->parser->is_done() && c->parser->keep_alive();
  c->pool->put(std::move(c), reusable);
}

std::string_view UpstreamResponse::header(std::string_view name) const {
  if (!conn_ || !conn_->parser) return {};
  const auto& fields = conn_->parser->get().base();
  auto it = fields.find(name);
  return it == fields.end() ? std::string_view{} : std::string_view(it->value());
}

std::int64_t UpstreamResponse::content_length() const {
  if (!conn_ || !conn_->parser) return -1;
  auto len = conn_->parser->content_length();
  return len ? static_cast<std::int64_t>(*len) : -1;
}

asio::awaitable<bool> UpstreamResponse::read_some(std::string_view& piece) {
  piece = {};
  if (!conn_ || error_ != TransportError::none) co_return false;
  Connection& c = *conn_;
  auto& p = *c.parser;
  while (!p.is_done()) {
    auto& body = p.get().body();
    body.data = c.piece.data();
    body.size = c.piece.size();
    c.tcp.expires_at(earlier(Clock::now() + idle_timeout_, deadline_));
    auto [ec, n] =
        co_await on_stream(c, [&](auto& s) { return http::async_read_some(s, c.rbuf, p, kTok); });
    (void)n;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      fail(classify(ec, deadline_, TransportError::idle_timeout));
      co_return false;
    }
    const std::size_t got = c.piece.size() - p.get().body().size;
    if (got != 0) {
      piece = {c.piece.data(), got};
      co_return true;
    }
  }
  finish();
  co_return false;
}

asio::awaitable<bool> UpstreamResponse::read_all(std::string& out, std::size_t limit) {
  if (const auto len = content_length(); len > 0) {
    if (static_cast<std::uint64_t>(len) > limit) {
      fail(TransportError::too_large);
      co_return false;
    }
    out.reserve(out.size() + static_cast<std::size_t>(len));
  }
  std::size_t added = 0;
  std::string_view piece;
  while (co_await read_some(piece)) {
    if (piece.size() > limit - added) {
      fail(TransportError::too_large);
      co_return false;
    }
    out.append(piece);
    added += piece.size();
  }
  co_return error_ == TransportError::none;
}

// ---------------------------------------------------------------------------------------------
// HttpClient

struct HttpClient::Impl {
  explicit Impl(asio::any_io_executor e) : ex(std::move(e)) {}

  Pool& pool_for(const Endpoint& ep, const RequestOptions& opt);
  ssl::context* ssl_context_for(const RequestOptions& opt);
  asio::awaitable<TransportError> resolve(const Endpoint& ep, Clock::time_point deadline,
                                          std::vector<tcp::endpoint>& out);
  asio::awaitable<TransportError> connect(Pool& pool, const Endpoint& ep,
                                          Clock::time_point deadline, Connection& c);
  asio::awaitable<std::unique_ptr<Connection>> checkout(Pool& pool, const Endpoint& ep,
                                                        const RequestOptions& opt, bool allow_idle,
                                                        bool& reused, TransportError& err);
  asio::awaitable<TransportError> exchange(Connection& c, const Endpoint& ep,
                                           const HttpRequest& req, const RequestOptions& opt);

  struct DnsEntry {
    std::vector<asio::ip::address> addresses;
    Clock::time_point expires;
  };

  asio::any_io_executor ex;
  std::unordered_map<std::string, std::unique_ptr<ssl::context>> ssl_contexts;
  std::unordered_map<std::string, DnsEntry> dns;
  std::unordered_map<std::string, std::unique_ptr<Pool>> pools;  // after ssl_contexts: uses them
  std::string key;                                               // scratch, reused for lookups
  Stats stats;
};

ssl::context* HttpClient::Impl::ssl_context_for(const RequestOptions& opt) {
  std::string k = opt.tls_verify ? "v|" : "n|";
  if (opt.tls_verify) k += opt.ca_file;
  auto it = ssl_contexts.find(k);
  if (it == ssl_contexts.end())
    it = ssl_contexts.emplace(k, make_ssl_context(opt.tls_verify, opt.ca_file)).first;
  return it->second.get();
}

Pool& HttpClient::Impl::pool_for(const Endpoint& ep, const RequestOptions& opt) {
  key.clear();
  key += ep.tls ? "https://" : "http://";
  key += ep.host;
  key += ':';
  char port[8];
  auto [end, ec] = std::to_chars(port, port + sizeof(port), ep.port);
  (void)ec;
  key.append(port, end);
  if (ep.tls) {
    key += opt.tls_verify ? "|verify|" : "|noverify|";
    key += opt.ca_file;
  }
  auto it = pools.find(key);
  if (it != pools.end()) return *it->second;
  auto pool = std::make_unique<Pool>(key);
  if (ep.tls) {
    pool->ssl_ctx = ssl_context_for(opt);
    pool->tls_verify = opt.tls_verify;
  }
  return *pools.emplace(key, std::move(pool)).first->second;
}

asio::awaitable<TransportError> HttpClient::Impl::resolve(const Endpoint& ep,
                                                          Clock::time_point deadline,
                                                          std::vector<tcp::endpoint>& out) {
  error_code ec;
  const auto literal = asio::ip::make_address(ep.host, ec);
  if (!ec) {
    out.emplace_back(literal, ep.port);
    co_return TransportError::none;
  }
  const auto now = Clock::now();
  if (auto it = dns.find(ep.host); it != dns.end() && it->second.expires > now) {
    for (const auto& a : it->second.addresses) out.emplace_back(a, ep.port);
    co_return TransportError::none;
  }
  // The resolver runs getaddrinfo on a helper thread and ignores per-operation cancellation, so
  // a timer cancels it at the deadline.
  auto resolver = std::make_shared<tcp::resolver>(ex);
  asio::steady_timer timer(ex, deadline);
  timer.async_wait([weak = std::weak_ptr<tcp::resolver>(resolver)](const error_code& tec) {
    if (tec) return;
    if (auto r = weak.lock()) r->cancel();
  });
  auto [rec, results] = co_await resolver->async_resolve(ep.host, std::to_string(ep.port), kTok);
  timer.cancel();
  if (rec) {
    if (Clock::now() >= deadline) co_return TransportError::connect_timeout;
    co_return rec == asio::error::operation_aborted ? TransportError::cancelled
                                                    : TransportError::resolve;
  }
  DnsEntry entry;
  for (const auto& r : results) {
    entry.addresses.push_back(r.endpoint().address());
    out.push_back(r.endpoint());
  }
  if (out.empty()) co_return TransportError::resolve;
  if (dns.size() >= kDnsCacheMax) dns.clear();
  entry.expires = Clock::now() + kDnsTtl;
  dns[ep.host] = std::move(entry);
  co_return TransportError::none;
}

asio::awaitable<TransportError> HttpClient::Impl::connect(Pool& pool, const Endpoint& ep,
                                                          Clock::time_point deadline,
                                                          Connection& c) {
  std::vector<tcp::endpoint> endpoints;
  if (auto err = co_await resolve(ep, deadline, endpoints); err != TransportError::none)
    co_return err;
  c.tcp.expires_at(deadline);
  auto [ec, ignored] = co_await c.tcp.async_connect(endpoints, kTok);
  (void)ignored;
  if (ec) {
    if (ec == beast::error::timeout || Clock::now() >= deadline)
      co_return TransportError::connect_timeout;
    co_return ec == asio::error::operation_aborted ? TransportError::cancelled
                                                   : TransportError::connect;
  }
  error_code opt_ec;
  c.tcp.socket().set_option(tcp::no_delay(true), opt_ec);
  if (ep.tls) {
    if (pool.ssl_ctx == nullptr) co_return TransportError::tls;
    c.tls.emplace(c.tcp, *pool.ssl_ctx);
    SSL* ssl_handle = c.tls->native_handle();
    error_code ip_ec;
    asio::ip::make_address(ep.host, ip_ec);
    // SNI carries host names only (RFC 6066 section 3).
    if (ip_ec && SSL_set_tlsext_host_name(ssl_handle, ep.host.c_str()) != 1)
      co_return TransportError::tls;
    if (pool.tls_verify) c.tls->set_verify_callback(ssl::host_name_verification(ep.host));
    auto [hec] = co_await c.tls->async_handshake(ssl::stream_base::client, kTok);
    if (hec) {
      if (hec == beast::error::timeout || Clock::now() >= deadline)
        co_return TransportError::connect_timeout;
      if (hec == asio::error::operation_aborted) co_return TransportError::cancelled;
      co_return TransportError::tls;
    }
  }
  c.tcp.expires_never();
  ++stats.connects;
  co_return TransportError::none;
}

asio::awaitable<std::unique_ptr<Connection>> HttpClient::Impl::checkout(
    Pool& pool, const Endpoint& ep, const RequestOptions& opt, bool allow_idle, bool& reused,
    TransportError& err) {
  const auto connect_deadline = earlier(Clock::now() + opt.connect_timeout, opt.deadline);
  bool counted_wait = false;
  for (;;) {
    if (allow_idle) {
      const auto now = Clock::now();
      while (!pool.idle.empty()) {
        auto c = std::move(pool.idle.back());
        pool.idle.pop_back();
        if (c->healthy(now)) {
          reused = true;
          co_return c;
        }
      }
    }
    if (pool.total < opt.max_connections) {
      auto c = std::make_unique<Connection>(pool, ex);
      err = co_await connect(pool, ep, connect_deadline, *c);
      if (err != TransportError::none) co_return nullptr;
      co_return c;
    }
    if (!allow_idle && !pool.idle.empty()) {  // a fresh connection is needed: make room
      pool.idle.erase(pool.idle.begin());
      continue;
    }
    if (Clock::now() >= connect_deadline) {
      err = TransportError::pool_timeout;
      co_return nullptr;
    }
    if (!counted_wait) {
      counted_wait = true;
      ++stats.pool_waits;
    }
    asio::steady_timer timer(ex, connect_deadline);
    detail::Waiter w{&timer};
    pool.waiters.push_back(&w);
    // Leaves the queue however the wait ends (wake, timeout, cancellation exception).
    struct Unlink {
      Pool& p;
      detail::Waiter& w;
      ~Unlink() {
        if (auto it = std::find(p.waiters.begin(), p.waiters.end(), &w); it != p.waiters.end())
          p.waiters.erase(it);
      }
    } unlink{pool, w};
    auto [ec] = co_await timer.async_wait(kTok);
    if (!w.woken) {
      err = ec == asio::error::operation_aborted ? TransportError::cancelled
                                                 : TransportError::pool_timeout;
      co_return nullptr;
    }
  }
}

asio::awaitable<TransportError> HttpClient::Impl::exchange(Connection& c, const Endpoint& ep,
                                                           const HttpRequest& req,
                                                           const RequestOptions& opt) {
  auto& w = c.wbuf;
  w.clear();
  w += req.method;
  w += ' ';
  w += req.target;
  w += " HTTP/1.1\r\nHost: ";
  w += ep.host_header;
  w += "\r\n";
  w += req.headers;
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    w += "Content-Length: ";
    char len[24];
    auto [end, tec] = std::to_chars(len, len + sizeof(len), req.body.size());
    (void)tec;
    w.append(len, end);
    w += "\r\n";
  }
  w += "\r\n";

  c.tcp.expires_at(earlier(Clock::now() + opt.first_byte_timeout, opt.deadline));
  error_code ec;
  if (c.tls) {
    w += req.body;  // one buffer: one TLS record sequence instead of one per buffer
    std::tie(ec, std::ignore) = co_await asio::async_write(*c.tls, asio::buffer(w), kTok);
  } else {
    const std::array<asio::const_buffer, 2> bufs{asio::buffer(w), asio::buffer(req.body)};
    std::tie(ec, std::ignore) = co_await asio::async_write(c.tcp, bufs, kTok);
  }
  if (ec) co_return classify(ec, opt.deadline, TransportError::first_byte_timeout);

  c.parser.emplace();
  c.parser->header_limit(kHeaderLimit);
  c.parser->body_limit(boost::none);  // callers enforce their own limits
  std::tie(ec, std::ignore) = co_await on_stream(
      c, [&](auto& s) { return http::async_read_header(s, c.rbuf, *c.parser, kTok); });
  if (ec) co_return classify(ec, opt.deadline, TransportError::first_byte_timeout);
  co_return TransportError::none;
}

HttpClient::HttpClient(asio::any_io_executor executor)
    : impl_(std::make_unique<Impl>(std::move(executor))) {}

HttpClient::~HttpClient() = default;

asio::awaitable<UpstreamResponse> HttpClient::send(const Endpoint& endpoint,
                                                   const HttpRequest& request,
                                                   const RequestOptions& options) {
  UpstreamResponse resp;
  resp.idle_timeout_ = options.idle_timeout;
  resp.deadline_ = options.deadline;
  if (endpoint.host.empty() || endpoint.port == 0) {
    resp.error_ = TransportError::bad_url;
    co_return resp;
  }
  Pool& pool = impl_->pool_for(endpoint, options);
  resp.pool_ = &pool;
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    TransportError err = TransportError::none;
    auto c = co_await impl_->checkout(pool, endpoint, options, attempt == 0, reused, err);
    if (!c) {
      resp.error_ = err;
      co_return resp;
    }
    if (reused) ++impl_->stats.reuses;
    err = co_await impl_->exchange(*c, endpoint, request, options);
    if (err == TransportError::none) {
      resp.status_ = c->parser->get().result_int();
      resp.reused_ = reused;
      resp.conn_ = c.release();  // even with no body: the headers live with the connection
      co_return resp;
    }
    // The keep-alive race: the peer closed the idle connection as the request went out. Nothing
    // came back, so the upstream did not act on it; one retry on a new connection is safe.
    const bool nothing_received = !c->parser || (!c->parser->got_some() && c->rbuf.size() == 0);
    if (err == TransportError::reset && reused && attempt == 0 && nothing_received) {
      ++impl_->stats.stale_retries;
      continue;
    }
    resp.error_ = err;
    co_return resp;
  }
}

void HttpClient::close_idle() {
  for (auto& [k, pool] : impl_->pools) pool->idle.clear();
}

const HttpClient::Stats& HttpClient::stats() const { return impl_->stats; }

std::size_t HttpClient::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [k, pool] : impl_->pools) n += pool->idle.size();
  return n;
}

}  // namespace infergate::adapters
