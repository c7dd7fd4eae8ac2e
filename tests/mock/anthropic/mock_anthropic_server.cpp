#include "mock_anthropic_server.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include "mock_anthropic.hpp"

namespace infergate::mock::anthropic {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using boost::system::error_code;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 32 * 1024 * 1024;  // Anthropic's own request limit
constexpr std::size_t kMaxTrackedKeys = 100000;

using Request = http::request<http::string_body>;

struct State {
  std::atomic<std::uint64_t> chat_requests{0};
  std::atomic<std::uint64_t> count_requests{0};
  std::atomic<std::uint64_t> streams_started{0};
  std::atomic<std::uint64_t> streams_completed{0};
  std::atomic<std::uint64_t> abandoned_streams{0};
  std::atomic<std::uint64_t> injected_failures{0};
  std::atomic<std::uint64_t> resets{0};
  std::atomic<std::uint64_t> next_id{0};
  mutable std::mutex mu;
  std::unordered_map<std::string, std::uint64_t> fail_seen;  // guarded by mu
  std::optional<std::string> last;                           // guarded by mu
};

struct Conn {
  tcp::socket sock;
  State& st;
  boost::beast::flat_buffer in;
  bool keep_alive = true;
};

std::string make_id(State& st, std::string_view prefix) {
  return std::string(prefix) + std::to_string(st.next_id.fetch_add(1) + 1);
}

asio::awaitable<bool> write(Conn& c, const std::string& data) {
  auto [ec, n] = co_await asio::async_write(c.sock, asio::buffer(data), kUseTuple);
  (void)n;
  co_return !ec;
}

asio::awaitable<bool> respond(Conn& c, int status, std::string_view body,
                              std::string_view extra = {}) {
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " +
      std::string(http::obsolete_reason(static_cast<http::status>(status))) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nrequest-id: " + make_id(c.st, "req_mock_") + "\r\n" + std::string(extra);
  if (!c.keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  out += body;
  co_return co_await write(c, out) && c.keep_alive;
}

asio::awaitable<bool> respond_error(Conn& c, int status, std::string_view message = {},
                                    std::string_view extra = {}) {
  const ErrorType t = error_type(status);
  const std::string body =
      error_body(t.type, message.empty() ? t.message : message, make_id(c.st, "req_mock_"));
  co_return co_await respond(c, status, body, extra);
}

void reset(Conn& c) {
  c.st.resets.fetch_add(1);
  error_code ec;
  c.sock.set_option(asio::socket_base::linger(true, 0), ec);
  c.sock.close(ec);
}

asio::awaitable<void> sleep_ms(Conn& c, int ms) {
  asio::steady_timer t(c.sock.get_executor(), std::chrono::milliseconds(ms));
  co_await t.async_wait(kUseTuple);
}

// Reads until the client hangs up (stall behaviours).
asio::awaitable<void> wait_close(Conn& c) {
  char buf[4096];
  for (;;) {
    auto [ec, n] = co_await c.sock.async_read_some(asio::buffer(buf), kUseTuple);
    if (ec || n == 0) co_return;
  }
}

std::string chunk(std::string_view data) {
  char hex[20];
  const int len = std::snprintf(hex, sizeof hex, "%zx\r\n", data.size());
  return std::string(hex, static_cast<std::size_t>(len)) + std::string(data) + "\r\n";
}

void record(State& st, const Request& req) {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& f : req) {
    std::string name(f.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    headers[name] = std::string(f.value());
  }
  nlohmann::json doc = {{"method", std::string(req.method_string())},
                        {"target", std::string(req.target())},
                        {"headers", std::move(headers)}};
  auto body = nlohmann::json::parse(req.body(), nullptr, false);
  if (body.is_discarded()) {
    doc["body"] = nullptr;
    doc["body_raw"] = req.body();
  } else {
    doc["body"] = std::move(body);
  }
  std::lock_guard lock(st.mu);
  st.last = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The request's ordinal among those with the same model id (and behaviour header).
std::uint64_t fail_ordinal(State& st, const Request& req, const std::string& model) {
  std::string key = model;
  if (auto h = req.find("x-mock-behaviour"); h != req.end()) {
    key += '\n';
    key += std::string(h->value());
  }
  std::lock_guard lock(st.mu);
  auto it = st.fail_seen.find(key);
  if (it != st.fail_seen.end()) return ++it->second;
  if (st.fail_seen.size() >= kMaxTrackedKeys) return 0;
  st.fail_seen.emplace(std::move(key), 1);
  return 1;
}

asio::awaitable<bool> stream_answer(Conn& c, const MessagesCall& call, const Behaviour& b) {
  State& st = c.st;
  st.streams_started.fetch_add(1);
  const Answer answer = plan_answer(call, b);
  const EventWriter writer(call, answer, make_id(st, "msg_mock_"));
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nrequest-id: " +
      make_id(st, "req_mock_") + "\r\n";
  if (!c.keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  std::string events;
  writer.start(events);
  if (b.malformed) EventWriter::garbage(events);
  out += chunk(events);
  if (!co_await write(c, out)) {
    st.abandoned_streams.fetch_add(1);
    co_return false;
  }
  const std::size_t n = answer.events();
  for (std::size_t i = 0; i <= n; ++i) {
    const bool last = i == n;
    auto hits = [&](int k) {
      return k >= 0 &&
             (static_cast<std::size_t>(k) == i || (last && static_cast<std::size_t>(k) > i));
    };
    if (hits(b.reset_after)) {
      reset(c);
      co_return false;
    }
    if (hits(b.stall_after)) {
      co_await wait_close(c);
      st.abandoned_streams.fetch_add(1);
      co_return false;
    }
    if (last) break;
    if (i > 0 && b.token_delay_ms > 0) co_await sleep_ms(c, b.token_delay_ms);
    events.clear();
    writer.delta(i, events);
    if (!co_await write(c, chunk(events))) {
      st.abandoned_streams.fetch_add(1);
      co_return false;
    }
  }
  events.clear();
  writer.finish(events);
  if (!co_await write(c, chunk(events) + "0\r\n\r\n")) {
    st.abandoned_streams.fetch_add(1);
    co_return false;
  }
  st.streams_completed.fetch_add(1);
  co_return c.keep_alive;
}

asio::awaitable<bool> handle_messages(Conn& c, const Request& req) {
  State& st = c.st;
  st.chat_requests.fetch_add(1);
  record(st, req);
  // "Getting started > Authentication": every request carries x-api-key and anthropic-version.
  if (req.find("x-api-key") == req.end() || req["x-api-key"].empty())
    co_return co_await respond_error(c, 401, "x-api-key header is required");
  if (req.find("anthropic-version") == req.end() || req["anthropic-version"].empty())
    co_return co_await respond_error(c, 400, "anthropic-version: header is required");
  MessagesCall call;
  if (auto bad = parse_messages(req.body(), call))
    co_return co_await respond_error(c, 400, bad->message);
  Behaviour b;
  if (auto err = behaviour_for(call.model, {}, b); !err.empty())
    co_return co_await respond_error(c, 400, "Mock: " + err);
  if (auto h = req.find("x-mock-behaviour"); h != req.end()) {
    if (auto err = apply_behaviour(std::string(h->value()), b); !err.empty())
      co_return co_await respond_error(c, 400, "Mock: " + err);
  }
  if (b.stall) {
    co_await wait_close(c);
    co_return false;
  }
  if (b.latency_ms > 0) co_await sleep_ms(c, b.latency_ms);
  if (b.fail > 0 && fail_ordinal(st, req, call.model) <= static_cast<std::uint64_t>(b.fail)) {
    st.injected_failures.fetch_add(1);
    std::string extra;
    if (b.retry_after_s >= 0) extra = "retry-after: " + std::to_string(b.retry_after_s) + "\r\n";
    co_return co_await respond_error(c, b.fail_status, {}, extra);
  }
  if (call.stream) co_return co_await stream_answer(c, call, b);
  if (b.reset_after == 0) {
    reset(c);
    co_return false;
  }
  std::string body = b.malformed
                         ? std::string(R"({"id":"msg_mock","type":"message","content":[{"ty)")
                         : message_body(call, plan_answer(call, b), make_id(st, "msg_mock_"));
  if (b.reset_after > 0) {
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" +
        body.substr(0, std::min(body.size(), static_cast<std::size_t>(b.reset_after)));
    co_await write(c, out);
    reset(c);
    co_return false;
  }
  co_return co_await respond(c, 200, body);
}

// POST /v1/messages/count_tokens: authenticated as /v1/messages; behaviours `fail`,
// `fail_status` and `retry_after` from the model id or header apply.
asio::awaitable<bool> handle_count_tokens(Conn& c, const Request& req) {
  State& st = c.st;
  st.count_requests.fetch_add(1);
  record(st, req);
  if (req.find("x-api-key") == req.end() || req["x-api-key"].empty())
    co_return co_await respond_error(c, 401, "x-api-key header is required");
  if (req.find("anthropic-version") == req.end() || req["anthropic-version"].empty())
    co_return co_await respond_error(c, 400, "anthropic-version: header is required");
  std::int64_t n = 0;
  if (auto bad = count_tokens(req.body(), n))
    co_return co_await respond_error(c, 400, bad->message);
  const auto doc = nlohmann::json::parse(req.body(), nullptr, false);
  const std::string model = doc.value("model", "");
  Behaviour b;
  if (auto err = behaviour_for(model, {}, b); !err.empty())
    co_return co_await respond_error(c, 400, "Mock: " + err);
  if (auto h = req.find("x-mock-behaviour"); h != req.end()) {
    if (auto err = apply_behaviour(std::string(h->value()), b); !err.empty())
      co_return co_await respond_error(c, 400, "Mock: " + err);
  }
  if (b.fail > 0 && fail_ordinal(st, req, model) <= static_cast<std::uint64_t>(b.fail)) {
    st.injected_failures.fetch_add(1);
    std::string extra;
    if (b.retry_after_s >= 0) extra = "retry-after: " + std::to_string(b.retry_after_s) + "\r\n";
    co_return co_await respond_error(c, b.fail_status, {}, extra);
  }
  co_return co_await respond(c, 200, R"({"input_tokens":)" + std::to_string(n) + "}");
}

std::string stats_of(const State& st) {
  nlohmann::json doc = {{"chat_requests", st.chat_requests.load()},
                        {"count_requests", st.count_requests.load()},
                        {"streams_started", st.streams_started.load()},
                        {"streams_completed", st.streams_completed.load()},
                        {"abandoned_streams", st.abandoned_streams.load()},
                        {"injected_failures", st.injected_failures.load()},
                        {"resets", st.resets.load()}};
  return doc.dump();
}

asio::awaitable<bool> dispatch(Conn& c, const Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/v1/messages" && req.method() == http::verb::post)
    co_return co_await handle_messages(c, req);
  if (path == "/v1/messages/count_tokens" && req.method() == http::verb::post)
    co_return co_await handle_count_tokens(c, req);
  if (path == "/_mock/stats" && req.method() == http::verb::get)
    co_return co_await respond(c, 200, stats_of(c.st));
  if (path == "/_mock/reset" && req.method() == http::verb::post) {
    for (auto* n :
         {&c.st.chat_requests, &c.st.count_requests, &c.st.streams_started, &c.st.streams_completed,
          &c.st.abandoned_streams, &c.st.injected_failures, &c.st.resets})
      n->store(0);
    {
      std::lock_guard lock(c.st.mu);
      c.st.fail_seen.clear();
      c.st.last.reset();
    }
    co_return co_await respond(c, 200, R"({"ok":true})");
  }
  if (path == "/_mock/last_request" && req.method() == http::verb::get) {
    std::optional<std::string> last;
    {
      std::lock_guard lock(c.st.mu);
      last = c.st.last;
    }
    if (!last) co_return co_await respond_error(c, 404, "Mock: no request recorded yet.");
    co_return co_await respond(c, 200, *last);
  }
  co_return co_await respond_error(c, 404);
}

asio::awaitable<void> session(tcp::socket sock, State& st) {
  Conn c{std::move(sock), st, {}};
  error_code ec;
  c.sock.set_option(tcp::no_delay(true), ec);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    auto [rec, n] = co_await http::async_read(c.sock, c.in, parser, kUseTuple);
    (void)n;
    if (rec) {
      if (rec == http::error::body_limit) {
        c.keep_alive = false;
        co_await respond_error(c, 413);
      }
      break;
    }
    Request req = parser.release();
    c.keep_alive = req.keep_alive();
    if (!co_await dispatch(c, req)) break;
  }
  if (c.sock.is_open()) {
    c.sock.shutdown(tcp::socket::shutdown_send, ec);
    c.sock.close(ec);
  }
}

}  // namespace

struct Server::Impl {
  struct Worker {
    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
    std::thread thread;
  };

  explicit Impl(const ServerOptions& o) {
    for (int i = 0; i < std::max(1, o.threads); ++i) workers.push_back(std::make_unique<Worker>());
    acceptor.emplace(workers[0]->ioc);
    tcp::endpoint ep(asio::ip::make_address(o.host), o.port);
    acceptor->open(ep.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    acceptor->bind(ep);
    acceptor->listen(asio::socket_base::max_listen_connections);
  }

  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    for (;;) {
      auto& target = workers[next]->ioc;
      next = (next + 1) % workers.size();
      auto [ec, sock] = co_await acceptor->async_accept(target, kUseTuple);
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      if (ec) {
        asio::steady_timer t(acceptor->get_executor(), std::chrono::milliseconds(10));
        co_await t.async_wait(kUseTuple);
        continue;
      }
      asio::co_spawn(target, session(std::move(sock), state), asio::detached);
    }
  }

  State state;
  std::vector<std::unique_ptr<Worker>> workers;
  std::optional<tcp::acceptor> acceptor;
  bool started = false;
  bool stopped = false;
};

Server::Server(const ServerOptions& options) : impl_(std::make_unique<Impl>(options)) {}

Server::~Server() {
  stop();
  impl_->acceptor.reset();
}

std::uint16_t Server::port() const { return impl_->acceptor->local_endpoint().port(); }

void Server::start() {
  if (impl_->started) return;
  impl_->started = true;
  asio::co_spawn(impl_->workers[0]->ioc, impl_->accept_loop(), asio::detached);
  for (auto& w : impl_->workers) w->thread = std::thread([ioc = &w->ioc] { ioc->run(); });
}

void Server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  for (auto& w : impl_->workers) w->ioc.stop();
  for (auto& w : impl_->workers)
    if (w->thread.joinable()) w->thread.join();
}

std::string Server::stats_json() const { return stats_of(impl_->state); }

}  // namespace infergate::mock::anthropic
