// Test support: a scripted HTTP/1.1 upstream on 127.0.0.1:0 (optionally TLS) running on its own
// thread, plus a runner for client coroutines. Header-only; included by *_test.cpp only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "infergate/adapters/http_client.hpp"

namespace infergate::adapters::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

inline constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

struct Request {
  int connection = 0;  // 1-based connection number on the server
  int index = 0;       // 0-based request number on that connection
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(),
                     [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
        return v;
    return {};
  }
};

class TestUpstream;

// One accepted connection as a handler sees it.
class Peer {
 public:
  Peer(tcp::socket s, ssl::context* tls, TestUpstream& owner, int id)
      : sock_(std::move(s)), owner_(owner), id_(id) {
    if (tls) tls_.emplace(sock_, *tls);
  }

  int id() const { return id_; }
  std::string sni() {
    if (!tls_) return {};
    const char* name = SSL_get_servername(tls_->native_handle(), TLSEXT_NAMETYPE_host_name);
    return name ? name : "";
  }

  asio::awaitable<bool> handshake() {
    if (!tls_) co_return true;
    auto [ec] = co_await tls_->async_handshake(ssl::stream_base::server, kTok);
    co_return !ec;
  }

  asio::awaitable<bool> read_request(http::request<http::string_body>& req) {
    auto [ec, n] = tls_ ? co_await http::async_read(*tls_, buf_, req, kTok)
                        : co_await http::async_read(sock_, buf_, req, kTok);
    (void)n;
    if (ec) note_close();
    co_return !ec;
  }

  asio::awaitable<bool> write(std::string_view data) {
    auto [ec, n] = tls_ ? co_await asio::async_write(*tls_, asio::buffer(data), kTok)
                        : co_await asio::async_write(sock_, asio::buffer(data), kTok);
    (void)n;
    co_return !ec;
  }

  asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(sock_.get_executor(), d);
    co_await t.async_wait(kTok);
  }

  // Reads (and discards) until the client closes the connection, then records it.
  asio::awaitable<void> wait_close() {
    char b[512];
    for (;;) {
      auto [ec, n] = tls_ ? co_await tls_->async_read_some(asio::buffer(b), kTok)
                          : co_await sock_.async_read_some(asio::buffer(b), kTok);
      (void)n;
      if (ec) break;
    }
    note_close();
  }

  void close() {
    boost::system::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
  }

 private:
  void note_close();

  tcp::socket sock_;
  std::optional<ssl::stream<tcp::socket&>> tls_;
  beast::flat_buffer buf_;
  TestUpstream& owner_;
  int id_;
  bool close_noted_ = false;
};

class TestUpstream {
 public:
  // Answers one request; returns whether to keep the connection open for the next one.
  using Handler = std::function<asio::awaitable<bool>(Peer&, const Request&)>;

  explicit TestUpstream(Handler handler, ssl::context* tls = nullptr)
      : handler_(std::move(handler)), tls_(tls) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestUpstream() {
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path = "/v1") const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
           std::string(path);
  }
  int connections() const { return connections_.load(); }
  int closed_by_peer() const { return closed_by_peer_.load(); }
  std::chrono::steady_clock::time_point last_close() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_close_.load()));
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::string last_sni() const {
    std::lock_guard lock(mu_);
    return sni_;
  }

  void note_close() {
    last_close_.store(std::chrono::steady_clock::now().time_since_epoch().count());
    ++closed_by_peer_;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(kTok);
      if (ec) co_return;
      const int id = ++connections_;
      asio::co_spawn(io_, session(std::move(sock), id), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket sock, int id) {
    Peer peer(std::move(sock), tls_, *this, id);
    if (!co_await peer.handshake()) co_return;
    {
      std::lock_guard lock(mu_);
      sni_ = peer.sni();
    }
    for (int i = 0;; ++i) {
      http::request<http::string_body> req;
      if (!co_await peer.read_request(req)) co_return;
      Request r;
      r.connection = id;
      r.index = i;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      r.body = req.body();
      for (const auto& f : req)
        r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      {
        std::lock_guard lock(mu_);
        requests_.push_back(r);
      }
      if (!co_await handler_(peer, r)) {
        peer.close();
        co_return;
      }
    }
  }

  Handler handler_;
  ssl::context* tls_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::atomic<int> closed_by_peer_{0};
  std::atomic<std::int64_t> last_close_{0};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::string sni_;
};

inline void Peer::note_close() {
  if (close_noted_) return;
  close_noted_ = true;
  owner_.note_close();
}

// Canned response pieces.
inline std::string response(int status, std::string_view body, std::string_view extra_headers = "",
                            std::string_view content_type = "application/json") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + std::string(content_type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(body);
}
inline std::string sse_head() {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
}
inline std::string chunk(std::string_view data) {
  char size[16];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Polls `pred` until it holds or `timeout` passes.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Runs a client coroutine on a fresh io_context with its own HttpClient, to completion.
inline void run_client(const std::function<asio::awaitable<void>(HttpClient&)>& body,
                       std::chrono::seconds limit = 20s) {
  asio::io_context io;
  std::exception_ptr failure;
  bool finished = false;
  {
    HttpClient client(io.get_executor());
    asio::co_spawn(io, body(client), [&](std::exception_ptr e) {
      failure = e;
      finished = true;
    });
    io.run_for(limit);
  }
  ASSERT_TRUE(finished) << "client coroutine did not finish in time";
  if (failure) std::rethrow_exception(failure);
}

inline RequestOptions fast_options() {
  RequestOptions o;
  o.connect_timeout = 2s;
  o.first_byte_timeout = 5s;
  o.idle_timeout = 5s;
  o.deadline = std::chrono::steady_clock::now() + 15s;
  return o;
}

inline Endpoint endpoint_of(const std::string& url) {
  Endpoint ep;
  EXPECT_TRUE(parse_url(url, ep)) << url;
  return ep;
}

inline HttpRequest post(std::string target, std::string body) {
  HttpRequest r;
  r.target = std::move(target);
  r.body = std::move(body);
  r.add_header("Content-Type", "application/json");
  return r;
}

}  // namespace infergate::adapters::testing
