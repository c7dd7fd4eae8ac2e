// The mock Anthropic provider's HTTP/1.1 server (Boost.Beast on Asio coroutines). Routes:
//   POST /v1/messages           a Message as JSON or SSE, behaviour chosen per request
//   POST /v1/messages/count_tokens  {"input_tokens":N}, N counted as count_tokens() says
//   GET  /_mock/stats           counters (JSON)
//   POST /_mock/reset           clears counters, failure counters and the last request
//   GET  /_mock/last_request    the last /v1/messages[/count_tokens] request: method, target,
//   headers, body
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace infergate::mock::anthropic {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = ephemeral
  int threads = 1;
};

class Server {
 public:
  // Binds and listens; throws boost::system::system_error when it cannot.
  explicit Server(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;
  void start();  // starts the I/O threads; call once
  void stop();   // stops serving and joins the threads; idempotent
  std::string stats_json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::mock::anthropic
