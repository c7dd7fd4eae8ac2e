#include "mock_server.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>

#include "mock_openai.hpp"

namespace infergate::mock {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using boost::system::error_code;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 16 * 1024 * 1024;
// Bytes a client may send while its request waits (pipelining) before it counts as misbehaving.
constexpr std::size_t kMaxPendingBytes = 1024 * 1024;
// Distinct model ids / failure keys tracked; more go uncounted rather than grow without bound.
constexpr std::size_t kMaxTrackedKeys = 100000;

struct LastRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct State {
  explicit State(int latency_ms) : default_latency_ms(latency_ms) {}

  const int default_latency_ms;
  std::atomic<std::uint64_t> chat_requests{0};
  std::atomic<std::uint64_t> embeddings_requests{0};
  std::atomic<std::uint64_t> image_requests{0};
  std::atomic<std::uint64_t> completion_requests{0};
  std::atomic<std::uint64_t> streams_started{0};
  std::atomic<std::uint64_t> streams_completed{0};
  std::atomic<std::uint64_t> abandoned_streams{0};
  std::atomic<std::uint64_t> abandoned_requests{0};
  std::atomic<std::uint64_t> injected_failures{0};
  std::atomic<std::uint64_t> resets{0};
  std::atomic<std::int64_t> active_requests{0};
  std::atomic<std::int64_t> connections_active{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> next_id{0};

  mutable std::mutex mu;
  std::map<std::string, std::uint64_t> per_model;            // guarded by mu
  std::unordered_map<std::string, std::uint64_t> fail_seen;  // guarded by mu
  std::shared_ptr<const LastRequest> last;                   // guarded by mu
};

// Counts a gauge up for the lifetime of a scope (also when a coroutine frame is destroyed).
class GaugeGuard {
 public:
  explicit GaugeGuard(std::atomic<std::int64_t>& g) : g_(g) { g_.fetch_add(1); }
  ~GaugeGuard() { g_.fetch_sub(1); }
  GaugeGuard(const GaugeGuard&) = delete;
  GaugeGuard& operator=(const GaugeGuard&) = delete;

 private:
  std::atomic<std::int64_t>& g_;
};

using Request = http::request<http::string_body>;

// One connection's socket and reusable buffers.
struct Conn {
  tcp::socket sock;
  State& st;
  boost::beast::flat_buffer in;
  std::string out;
  std::string scratch;
  unsigned version = 11;
  bool keep_alive = true;
};

void append_head(std::string& out, const Conn& c, int status, std::string_view content_type,
                 std::size_t content_length, std::string_view extra = {}) {
  out += c.version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  out += std::to_string(status);
  out += ' ';
  out += http::obsolete_reason(static_cast<http::status>(status));
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(content_length);
  out += "\r\n";
  out += extra;
  if (!c.keep_alive) {
    out += "Connection: close\r\n";
  } else if (c.version < 11) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
}

// Writes c.out; false when the client is gone.
asio::awaitable<bool> flush(Conn& c) {
  auto [ec, n] = co_await asio::async_write(c.sock, asio::buffer(c.out), kUseTuple);
  c.out.clear();
  co_return !ec;
}

asio::awaitable<bool> respond(Conn& c, int status, std::string_view content_type,
                              std::string_view body, std::string_view extra = {}) {
  c.out.clear();
  append_head(c.out, c, status, content_type, body.size(), extra);
  c.out += body;
  bool ok = co_await flush(c);
  co_return ok&& c.keep_alive;
}

asio::awaitable<bool> respond_error(Conn& c, int status, std::string_view message,
                                    std::string_view param = {}, std::string_view extra = {}) {
  ErrorShape shape = error_shape(status);
  std::string body =
      error_body(message.empty() ? shape.message : message, shape.type, param, shape.code);
  co_return co_await respond(c, status, "application/json", body, extra);
}

// Waits `ms` milliseconds (forever when ms < 0) while watching the socket, so a client that hangs
// up is noticed at once. Bytes that arrive meanwhile (a pipelined request) are kept for the next
// read. Returns false when the client went away.
asio::awaitable<bool> pause(Conn& c, int ms) {
  using asio::experimental::make_parallel_group;
  using asio::experimental::wait_for_one;
  if (ms < 0) {
    for (;;) {
      auto [ec, n] = co_await c.sock.async_read_some(c.in.prepare(4096), kUseTuple);
      if (ec || n == 0) co_return false;
      c.in.commit(n);
      if (c.in.size() > kMaxPendingBytes) co_return false;
    }
  }
  asio::steady_timer timer(c.sock.get_executor());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    timer.expires_at(deadline);
    auto [order, timer_ec, read_ec, n] =
        co_await make_parallel_group(timer.async_wait(asio::deferred),
                                     c.sock.async_read_some(c.in.prepare(4096), asio::deferred))
            .async_wait(wait_for_one(asio::cancellation_type::total), asio::use_awaitable);
    if (order[0] == 0) co_return true;
    if (read_ec || n == 0) co_return false;
    c.in.commit(n);
    if (c.in.size() > kMaxPendingBytes) co_return false;
  }
}

// Resets the TCP connection (RST instead of FIN).
void reset(Conn& c) {
  c.st.resets.fetch_add(1);  // before the close, so a client that sees the reset sees the count
  error_code ec;
  c.sock.set_option(asio::socket_base::linger(true, 0), ec);
  c.sock.close(ec);
}

std::string make_id(State& st, std::string_view prefix) {
  std::string id(prefix);
  id += std::to_string(st.next_id.fetch_add(1) + 1);
  return id;
}

std::string_view header_value(const Request& req, std::string_view name) {
  auto it = req.find(name);
  if (it == req.end()) return {};
  return {it->value().data(), it->value().size()};
}

std::string last_request_json(const LastRequest& last) {
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [name, value] : last.headers) {
    auto& slot = headers[name];
    if (slot.is_string()) {
      slot = slot.get<std::string>() + ", " + value;
    } else {
      slot = value;
    }
  }
  nlohmann::json doc = {{"method", last.method}, {"target", last.target}, {"headers", headers}};
  auto body = nlohmann::json::parse(last.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    doc["body"] = nullptr;
    doc["body_raw"] = last.body;
  } else {
    doc["body"] = std::move(body);
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Bookkeeping for one chat request under one lock. Returns the request's ordinal among the
// requests with the same failure key (only counted when the behaviour asks to fail).
std::uint64_t record_chat(State& st, const Request& req, const ChatCall* call, const Behaviour* b) {
  auto last = std::make_shared<LastRequest>();
  last->method = std::string(req.method_string());
  last->target = std::string(req.target());
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    last->headers.emplace_back(std::move(name), std::string(field.value()));
  }
  last->body = req.body();

  std::uint64_t ordinal = 0;
  std::lock_guard lock(st.mu);
  st.last = std::move(last);
  if (call != nullptr) {
    auto it = st.per_model.find(call->model);
    if (it != st.per_model.end()) {
      ++it->second;
    } else if (st.per_model.size() < kMaxTrackedKeys) {
      st.per_model.emplace(call->model, 1);
    }
  }
  if (call != nullptr && b != nullptr && b->fail > 0) {
    // Keyed by the exact model id (and the behaviour header, when a test uses one).
    std::string key = call->model;
    if (auto h = header_value(req, "x-mock-behaviour"); !h.empty()) {
      key += '\n';
      key += h;
    }
    auto it = st.fail_seen.find(key);
    if (it != st.fail_seen.end()) {
      ordinal = ++it->second;
    } else if (st.fail_seen.size() < kMaxTrackedKeys) {
      st.fail_seen.emplace(std::move(key), 1);
      ordinal = 1;
    }
  }
  return ordinal;
}

void append_chunk(std::string& out, std::string_view data, bool chunked) {
  if (!chunked) {
    out += data;
    return;
  }
  char hex[20];
  int len = std::snprintf(hex, sizeof hex, "%zx\r\n", data.size());
  out.append(hex, static_cast<std::size_t>(len));
  out += data;
  out += "\r\n";
}

// Streams the answer as chat.completion.chunk events. Returns whether the connection stays open.
asio::awaitable<bool> stream_answer(Conn& c, const ChatCall& call, const Behaviour& b) {
  State& st = c.st;
  st.streams_started.fetch_add(1);
  const Answer answer = plan_answer(call, b);
  const ChunkWriter writer(call, answer, make_id(st, "chatcmpl-mock-"),
                           static_cast<std::int64_t>(std::time(nullptr)));
  // HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection.
  const bool chunked = c.version >= 11;
  if (!chunked) c.keep_alive = false;

  auto abandon = [&] { st.abandoned_streams.fetch_add(1); };
  c.out.clear();
  c.out += chunked ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.0 200 OK\r\n";
  // X-Accel-Buffering: what SSE servers send so a proxy (nginx) relays events as they come.
  c.out +=
      "Content-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\n";
  c.out += chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n";
  if (chunked && !c.keep_alive) c.out += "Connection: close\r\n";
  c.out += "x-request-id: ";
  c.out += make_id(st, "req_mock_");
  c.out += "\r\n\r\n";
  c.scratch.clear();
  writer.first(c.scratch);
  append_chunk(c.out, c.scratch, chunked);
  if (b.malformed) {
    c.scratch.clear();
    ChunkWriter::garbage(c.scratch);
    append_chunk(c.out, c.scratch, chunked);
  }
  if (!co_await flush(c)) {
    abandon();
    co_return false;
  }

  const std::size_t events = answer.events();
  for (std::size_t i = 0; i <= events; ++i) {
    // Reset/stall points past the last event act before the finish event.
    const bool last = i == events;
    if (b.reset_after >= 0 && (static_cast<std::size_t>(b.reset_after) == i ||
                               (last && static_cast<std::size_t>(b.reset_after) > i))) {
      reset(c);
      co_return false;
    }
    if (b.stall_after >= 0 && (static_cast<std::size_t>(b.stall_after) == i ||
                               (last && static_cast<std::size_t>(b.stall_after) > i))) {
      co_await pause(c, -1);
      abandon();
      co_return false;
    }
    if (last) break;
    if (i > 0 && b.token_delay_ms > 0 && !co_await pause(c, b.token_delay_ms)) {
      abandon();
      co_return false;
    }
    c.scratch.clear();
    writer.event(i, c.scratch);
    append_chunk(c.out, c.scratch, chunked);
    if (!co_await flush(c)) {
      abandon();
      co_return false;
    }
  }
  c.scratch.clear();
  writer.finish(c.scratch);
  writer.usage(c.scratch);
  ChunkWriter::done(c.scratch);
  append_chunk(c.out, c.scratch, chunked);
  if (chunked) c.out += "0\r\n\r\n";
  if (!co_await flush(c)) {
    abandon();
    co_return false;
  }
  st.streams_completed.fetch_add(1);
  co_return c.keep_alive;
}

asio::awaitable<bool> handle_chat(Conn& c, const Request& req) {
  State& st = c.st;
  st.chat_requests.fetch_add(1);
  ChatCall call;
  if (auto bad = parse_chat(req.body(), call)) {
    record_chat(st, req, nullptr, nullptr);
    co_return co_await respond_error(c, 400, bad->message, bad->param);
  }
  Behaviour b;
  if (auto err = behaviour_for(call.model, header_value(req, "x-mock-behaviour"), b);
      !err.empty()) {
    record_chat(st, req, &call, nullptr);
    co_return co_await respond_error(c, 400, "Mock: " + err, "model");
  }
  const std::uint64_t ordinal = record_chat(st, req, &call, &b);
  GaugeGuard active(st.active_requests);
  auto abandon = [&] { (call.stream ? st.abandoned_streams : st.abandoned_requests).fetch_add(1); };

  if (b.stall) {
    co_await pause(c, -1);
    abandon();
    co_return false;
  }
  const int latency = b.latency_ms >= 0 ? b.latency_ms : st.default_latency_ms;
  if (latency > 0 && !co_await pause(c, latency)) {
    abandon();
    co_return false;
  }
  if (ordinal != 0 && ordinal <= static_cast<std::uint64_t>(b.fail)) {
    st.injected_failures.fetch_add(1);
    std::string extra;
    if (b.retry_after_s >= 0) extra = "Retry-After: " + std::to_string(b.retry_after_s) + "\r\n";
    co_return co_await respond_error(c, b.fail_status, {}, {}, extra);
  }
  if (call.stream) co_return co_await stream_answer(c, call, b);

  if (b.reset_after == 0) {
    reset(c);
    co_return false;
  }
  std::string body;
  if (b.malformed) {
    body = R"({"id":"chatcmpl-mock","object":"chat.completion","choices":[{"index":0,"mess)";
  } else {
    body = completion_body(call, plan_answer(call, b), make_id(st, "chatcmpl-mock-"),
                           static_cast<std::int64_t>(std::time(nullptr)));
  }
  if (b.reset_after > 0) {
    // The head and the first K body bytes, then a reset: a truncated body.
    c.out.clear();
    append_head(c.out, c, 200, "application/json", body.size());
    c.out.append(body, 0, std::min(body.size(), static_cast<std::size_t>(b.reset_after)));
    co_await flush(c);
    reset(c);
    co_return false;
  }
  co_return co_await respond(c, 200, "application/json", body);
}

// --- non-chat routes -------------------------------------------------------------------------

// The shared start of the scripted non-chat routes: behaviour from the model id and header,
// bookkeeping, stall, latency and injected failures. nullopt: go on answering; otherwise the
// request was answered (or abandoned) and the value is the keep-alive verdict.
asio::awaitable<std::optional<bool>> scripted_start(Conn& c, const Request& req,
                                                    const std::string& model, bool stream,
                                                    Behaviour& b) {
  State& st = c.st;
  if (auto err = behaviour_for(model, header_value(req, "x-mock-behaviour"), b); !err.empty()) {
    ChatCall call;
    call.model = model;
    record_chat(st, req, &call, nullptr);
    co_return co_await respond_error(c, 400, "Mock: " + err, "model");
  }
  ChatCall call;
  call.model = model;
  const std::uint64_t ordinal = record_chat(st, req, &call, &b);
  auto abandon = [&] { (stream ? st.abandoned_streams : st.abandoned_requests).fetch_add(1); };
  if (b.stall) {
    co_await pause(c, -1);
    abandon();
    co_return false;
  }
  const int latency = b.latency_ms >= 0 ? b.latency_ms : st.default_latency_ms;
  if (latency > 0 && !co_await pause(c, latency)) {
    abandon();
    co_return false;
  }
  if (ordinal != 0 && ordinal <= static_cast<std::uint64_t>(b.fail)) {
    st.injected_failures.fetch_add(1);
    std::string extra;
    if (b.retry_after_s >= 0) extra = "Retry-After: " + std::to_string(b.retry_after_s) + "\r\n";
    co_return co_await respond_error(c, b.fail_status, {}, {}, extra);
  }
  if (b.malformed) {
    co_return co_await respond(c, 200, "application/json", R"({"object":"list","data":[{"ind)");
  }
  co_return std::nullopt;
}

asio::awaitable<bool> handle_embeddings(Conn& c, const Request& req) {
  c.st.embeddings_requests.fetch_add(1);
  EmbeddingsCall call;
  if (auto bad = parse_embeddings(req.body(), call)) {
    record_chat(c.st, req, nullptr, nullptr);
    co_return co_await respond_error(c, 400, bad->message, bad->param);
  }
  GaugeGuard active(c.st.active_requests);
  Behaviour b;
  if (auto done = co_await scripted_start(c, req, call.model, false, b)) co_return *done;
  co_return co_await respond(c, 200, "application/json", embeddings_body(call));
}

asio::awaitable<bool> handle_images(Conn& c, const Request& req) {
  c.st.image_requests.fetch_add(1);
  ImageCall call;
  if (auto bad = parse_image(req.body(), call)) {
    record_chat(c.st, req, nullptr, nullptr);
    co_return co_await respond_error(c, 400, bad->message, bad->param);
  }
  GaugeGuard active(c.st.active_requests);
  Behaviour b;
  if (auto done = co_await scripted_start(c, req, call.model, false, b)) co_return *done;
  if (b.b64_only) call.url = false;
  // URLs point back at this mock as the client reached it (its Host header).
  std::string base = "http://";
  const auto host = header_value(req, "host");
  base += host.empty() ? std::string_view("127.0.0.1") : host.substr(0, 256);
  co_return co_await respond(
      c, 200, "application/json",
      images_body(call, base, static_cast<std::int64_t>(std::time(nullptr))));
}

asio::awaitable<bool> handle_completions(Conn& c, const Request& req) {
  State& st = c.st;
  st.completion_requests.fetch_add(1);
  CompletionCall call;
  if (auto bad = parse_completion(req.body(), call)) {
    record_chat(st, req, nullptr, nullptr);
    co_return co_await respond_error(c, 400, bad->message, bad->param);
  }
  GaugeGuard active(st.active_requests);
  Behaviour b;
  if (auto done = co_await scripted_start(c, req, call.model, call.stream, b)) co_return *done;
  const Answer answer = plan_completion(call, b);
  const std::string id = make_id(st, "cmpl-mock-");
  const auto created = static_cast<std::int64_t>(std::time(nullptr));
  if (!call.stream) {
    co_return co_await respond(c, 200, "application/json",
                               text_completion_body(call, answer, id, created));
  }
  st.streams_started.fetch_add(1);
  const bool chunked = c.version >= 11;
  if (!chunked) c.keep_alive = false;
  c.out.clear();
  c.out += chunked ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.0 200 OK\r\n";
  // X-Accel-Buffering: what SSE servers send so a proxy (nginx) relays events as they come.
  c.out +=
      "Content-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\n";
  c.out += chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n";
  if (chunked && !c.keep_alive) c.out += "Connection: close\r\n";
  c.out += "\r\n";
  for (std::size_t i = 0; i < answer.pieces.size(); ++i) {
    if (b.reset_after >= 0 && static_cast<std::size_t>(b.reset_after) == i) {
      co_await flush(c);
      reset(c);
      co_return false;
    }
    if (i > 0 && b.token_delay_ms > 0 && !co_await pause(c, b.token_delay_ms)) {
      st.abandoned_streams.fetch_add(1);
      co_return false;
    }
    c.scratch.clear();
    text_completion_chunk(call, id, created, answer.pieces[i], {}, c.scratch);
    append_chunk(c.out, c.scratch, chunked);
    if (!co_await flush(c)) {
      st.abandoned_streams.fetch_add(1);
      co_return false;
    }
  }
  c.scratch.clear();
  text_completion_chunk(call, id, created, "", answer.finish_reason, c.scratch);
  text_completion_usage_chunk(call, answer, id, created, c.scratch);
  ChunkWriter::done(c.scratch);
  append_chunk(c.out, c.scratch, chunked);
  if (chunked) c.out += "0\r\n\r\n";
  if (!co_await flush(c)) {
    st.abandoned_streams.fetch_add(1);
    co_return false;
  }
  st.streams_completed.fetch_add(1);
  co_return c.keep_alive;
}

asio::awaitable<bool> handle_models(Conn& c) {
  static constexpr std::string_view kBody =
      R"({"object":"list","data":[)"
      R"({"id":"mock-gpt-4o-mini","object":"model","created":1700000000,"owned_by":"infergate-mock"},)"
      R"({"id":"mock-gpt-4o","object":"model","created":1700000000,"owned_by":"infergate-mock"}]})";
  co_return co_await respond(c, 200, "application/json", kBody);
}

void reset_state(State& st) {
  for (auto* counter :
       {&st.chat_requests, &st.embeddings_requests, &st.image_requests, &st.completion_requests,
        &st.streams_started, &st.streams_completed, &st.abandoned_streams, &st.abandoned_requests,
        &st.injected_failures, &st.resets, &st.connections_total}) {
    counter->store(0);
  }
  std::lock_guard lock(st.mu);
  st.per_model.clear();
  st.fail_seen.clear();
  st.last.reset();
}

std::string stats_of(const State& st) {
  nlohmann::json models = nlohmann::json::object();
  {
    std::lock_guard lock(st.mu);
    for (const auto& [model, count] : st.per_model) models[model] = count;
  }
  nlohmann::json doc = {
      {"chat_requests", st.chat_requests.load()},
      {"embeddings_requests", st.embeddings_requests.load()},
      {"image_requests", st.image_requests.load()},
      {"completion_requests", st.completion_requests.load()},
      {"models", std::move(models)},
      {"streams_started", st.streams_started.load()},
      {"streams_completed", st.streams_completed.load()},
      {"abandoned_streams", st.abandoned_streams.load()},
      {"abandoned_requests", st.abandoned_requests.load()},
      {"active_requests", st.active_requests.load()},
      {"injected_failures", st.injected_failures.load()},
      {"resets", st.resets.load()},
      {"connections_active", st.connections_active.load()},
      {"connections_total", st.connections_total.load()},
  };
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

asio::awaitable<bool> dispatch(Conn& c, const Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  const auto method = req.method();
  if (path == "/v1/chat/completions" && method == http::verb::post) {
    co_return co_await handle_chat(c, req);
  }
  if (path == "/v1/models" && method == http::verb::get) co_return co_await handle_models(c);
  if (path == "/v1/embeddings" && method == http::verb::post)
    co_return co_await handle_embeddings(c, req);
  if (path == "/v1/images/generations" && method == http::verb::post)
    co_return co_await handle_images(c, req);
  if (path == "/v1/completions" && method == http::verb::post)
    co_return co_await handle_completions(c, req);
  if (path == kImagePath && method == http::verb::get)
    co_return co_await respond(c, 200, "image/png", tiny_png());
  if (path == "/_mock/stats" && method == http::verb::get) {
    co_return co_await respond(c, 200, "application/json", stats_of(c.st));
  }
  if (path == "/_mock/reset" && method == http::verb::post) {
    reset_state(c.st);
    co_return co_await respond(c, 200, "application/json", R"({"ok":true})");
  }
  if (path == "/_mock/last_request" && method == http::verb::get) {
    std::shared_ptr<const LastRequest> last;
    {
      std::lock_guard lock(c.st.mu);
      last = c.st.last;
    }
    if (!last) co_return co_await respond_error(c, 404, "Mock: no chat request recorded yet.");
    co_return co_await respond(c, 200, "application/json", last_request_json(*last));
  }
  std::string message = "Invalid URL (";
  message += req.method_string();
  message += ' ';
  message += path;
  message += ')';
  ErrorShape shape = error_shape(404);
  co_return co_await respond(c, 404, "application/json", error_body(message, shape.type, {}, {}));
}

asio::awaitable<void> session(tcp::socket sock, State& st) {
  GaugeGuard open(st.connections_active);
  st.connections_total.fetch_add(1);
  Conn c{std::move(sock), st, {}, {}, {}};
  error_code ec;
  c.sock.set_option(tcp::no_delay(true), ec);
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    auto [hec, hn] = co_await http::async_read_header(c.sock, c.in, parser, kUseTuple);
    if (!hec && parser.get()[http::field::expect] == "100-continue") {
      c.out = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await flush(c)) break;
    }
    auto [rec, rn] =
        hec ? std::tuple(hec, hn) : co_await http::async_read(c.sock, c.in, parser, kUseTuple);
    if (rec) {
      c.keep_alive = false;
      c.version = 11;
      if (rec == http::error::body_limit) {
        co_await respond_error(c, 413, "Mock: request body too large.");
      } else if (rec == http::error::header_limit) {
        co_await respond_error(c, 431, "Mock: request header too large.");
      } else if (rec.category() == http::make_error_code(http::error::bad_target).category() &&
                 rec != http::error::end_of_stream && rec != http::error::partial_message) {
        co_await respond_error(c, 400, "Mock: malformed HTTP request.");
      }
      break;
    }
    Request req = parser.release();
    c.version = req.version();
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

  explicit Impl(const ServerOptions& o) : state(o.latency_ms) {
    const int n = std::max(1, o.threads);
    for (int i = 0; i < n; ++i) workers.push_back(std::make_unique<Worker>());
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
        // Out of descriptors or similar: back off instead of spinning.
        asio::steady_timer t(acceptor->get_executor(), std::chrono::milliseconds(10));
        co_await t.async_wait(kUseTuple);
        continue;
      }
      asio::co_spawn(target, session(std::move(sock), state), asio::detached);
    }
  }

  State state;  // outlives the workers: coroutine frames refer to it until they are destroyed
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
  for (auto& w : impl_->workers) {
    w->thread = std::thread([ioc = &w->ioc] { ioc->run(); });
  }
}

void Server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  for (auto& w : impl_->workers) w->ioc.stop();
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::string Server::stats_json() const { return stats_of(impl_->state); }

}  // namespace infergate::mock
