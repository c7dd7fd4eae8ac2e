// The HTTP front end: one io_context per I/O thread, each with its own SO_REUSEPORT acceptor,
// upstream client and connection list, so the hot path takes no lock. Sessions are coroutines.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "access_log.hpp"
#include "infergate/adapters/adapter.hpp"
#include "infergate/config/config.hpp"
#include "infergate/policy/keys.hpp"
#include "infergate/policy/router.hpp"

namespace infergate::adapters {
class HttpClient;
}

namespace infergate::gateway {

// Everything the I/O threads share. Immutable once serving starts, except the atomics.
struct Services {
  explicit Services(const config::Config& cfg);
  ~Services();

  // One adapter per provider (loading local models); false with *error when one cannot be made.
  bool create_adapters(std::string* error);

  adapters::Adapter* adapter_for(const config::ProviderConfig* p) const {
    auto it = adapters.find(p);
    return it == adapters.end() ? nullptr : it->second.get();
  }

  const config::Config& config;
  policy::KeyStore keys;
  policy::Router router;
  std::unordered_map<const config::ProviderConfig*, std::unique_ptr<adapters::Adapter>> adapters;
  AccessLog log;
  std::string instance_id;  // random per process; prefixes request ids
  std::atomic<bool> draining{false};
  std::atomic<std::int64_t> connections{0};
};

// A connection as its worker sees it, so a drain can close the idle ones.
struct ConnectionState {
  boost::asio::ip::tcp::socket* socket = nullptr;
  bool idle = false;  // waiting for the next request on a kept-alive connection
};

// One I/O thread's world.
class Worker {
 public:
  Worker(Services& services, int index, boost::asio::ssl::context* tls);
  ~Worker();

  boost::asio::io_context& io() { return io_; }
  Services& services() { return services_; }
  adapters::HttpClient& http() { return *http_; }
  boost::asio::ssl::context* tls() { return tls_; }
  int index() const { return index_; }
  std::string next_request_id();

  void add(ConnectionState* c) { connections_.insert(c); }
  void remove(ConnectionState* c) { connections_.erase(c); }
  // Runs on this worker's thread: stop accepting and close idle keep-alive connections.
  void begin_drain();

  boost::asio::ip::tcp::acceptor& acceptor() { return acceptor_; }

 private:
  Services& services_;
  int index_;
  // One thread runs this context and every socket and timer on it is used only from that
  // thread (other threads reach it with post, which keeps the scheduler's lock): the
  // per-descriptor reactor locks are pure cost, so they are off.
  boost::asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::unique_ptr<adapters::HttpClient> http_;
  boost::asio::ssl::context* tls_;
  std::unordered_set<ConnectionState*> connections_;
  std::uint64_t request_counter_ = 0;
};

class Server {
 public:
  explicit Server(const config::Config& cfg);
  ~Server();

  // Binds every worker's acceptor (SO_REUSEPORT on one port). False with *error on failure.
  bool listen(std::string* error);
  std::uint16_t port() const { return port_; }
  // Serves until SIGTERM/SIGINT, then drains in-flight requests up to the grace deadline.
  int run();
  // True when no connection is left: only then may the server be destroyed (a forced stop
  // leaves session coroutines suspended, and the process just exits).
  bool drained() const { return services_.connections.load() == 0; }

 private:
  const config::Config& config_;
  Services services_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint16_t port_ = 0;
};

}  // namespace infergate::gateway
