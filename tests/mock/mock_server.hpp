// The mock OpenAI provider's HTTP/1.1 server (Boost.Beast on Asio coroutines). One io_context per
// thread; a single acceptor hands connections to the threads in turn. Routes:
//   POST /v1/chat/completions   JSON or SSE, behaviour chosen per request (see mock_openai.hpp)
//   GET  /v1/models
//   GET  /_mock/stats           counters (JSON)
//   POST /_mock/reset           clears counters, failure counters and the last request
//   GET  /_mock/last_request    the last chat request's method, target, headers and body
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace infergate::mock {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = ephemeral
  int threads = 1;
  int latency_ms = 0;  // default delay before answering a chat request
};

class Server {
 public:
  // Binds and listens; throws boost::system::system_error when it cannot.
  explicit Server(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;
  // Starts the I/O threads. Call once.
  void start();
  // Stops serving and joins the threads; open requests are dropped. Idempotent.
  void stop();
  // The body GET /_mock/stats answers with.
  std::string stats_json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::mock
