#include "session.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "infergate/adapters/http_client.hpp"
#include "infergate/api/anthropic.hpp"
#include "infergate/api/openai.hpp"
#include "server.hpp"

namespace infergate::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Request = http::request<http::string_body>;
constexpr auto kNoThrow = asio::as_tuple(use_awaitable);

namespace openai = api::openai;
namespace anthropic = api::anthropic;

// The client-facing API a request arrived in: it decides how the request is parsed and how
// answers, stream events and errors are written. Routing, adapters and limits are shared.
enum class Dialect : std::uint8_t { openai, anthropic };

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Canonical events to the client's stream format.
class DialectStreamWriter {
 public:
  DialectStreamWriter(Dialect d, const api::ChatRequest& req, const std::string& request_id)
      : writer_(make(d, req, request_id)) {}

  void append(const api::Event& ev, std::string& out) {
    std::visit([&](auto& w) { w.append(ev, out); }, writer_);
  }
  void append_done(std::string& out) {
    std::visit([&](auto& w) { w.append_done(out); }, writer_);
  }
  void append_error(const api::Error& err, std::string& out) {
    std::visit([&](auto& w) { w.append_error(err, out); }, writer_);
  }

 private:
  using Variant = std::variant<openai::StreamWriter, anthropic::StreamWriter>;
  static Variant make(Dialect d, const api::ChatRequest& req, const std::string& request_id) {
    if (d == Dialect::anthropic)
      return Variant(std::in_place_index<1>, req.model, "msg_" + request_id);
    return Variant(std::in_place_index<0>, req.model, "chatcmpl-" + request_id, unix_now(),
                   req.include_usage);
  }
  Variant writer_;
};

// "x-infergate-dropped-params: a, b\r\n" when the adapter dropped request fields.
void append_dropped_header(std::string& out, const std::vector<std::string>& dropped) {
  if (dropped.empty()) return;
  out += "x-infergate-dropped-params: ";
  for (std::size_t i = 0; i < dropped.size() && i < 64; ++i) {
    if (i) out += ", ";
    out += dropped[i];
  }
  out += "\r\n";
}

// RFC 9110 Date, formatted at most once a second per thread.
std::string_view http_date() {
  thread_local char buf[40];
  thread_local std::time_t last = 0;
  const std::time_t now = std::time(nullptr);
  if (now != last) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    last = now;
  }
  return buf;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The key as presented: `Authorization: Bearer`, or Azure's `api-key`, or Anthropic's `x-api-key`.
std::string_view presented_key(const Request& req) {
  if (auto it = req.find(http::field::authorization); it != req.end()) {
    std::string_view v = it->value();
    if (iequals_prefix(v, "bearer ")) return trim(v.substr(7));
    return {};
  }
  if (auto it = req.find("api-key"); it != req.end()) return trim(it->value());
  if (auto it = req.find("x-api-key"); it != req.end()) return trim(it->value());
  return {};
}

// A client's x-request-id is kept when it is short and plain; otherwise we make one.
bool usable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      return false;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_digit(s[i + 1]);
      const int lo = hex_digit(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

struct RequestInfo {
  std::string id;
  Clock::time_point start;
  unsigned version = 11;
  bool keep_alive = true;
  AccessRecord rec;
  std::string model;  // copies that outlive the parsed body, for the log
  std::string error_class;
  Dialect dialect = Dialect::openai;
};

// How the attempts ended, seen from the handler.
struct Outcome {
  bool ok = false;
  api::Error error;
  api::Usage usage;
  int attempts = 0;
  const config::ProviderConfig* provider = nullptr;
};

template <class Stream>
class Session {
 public:
  Session(Worker& worker, Stream& stream, ConnectionState& conn)
      : worker_(worker),
        services_(worker.services()),
        cfg_(services_.config.server),
        stream_(stream),
        conn_(conn) {}

  awaitable<void> serve();

 private:
  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }
  beast::tcp_stream& tcp_stream() { return beast::get_lowest_layer(stream_); }

  awaitable<bool> dispatch(Request& req, RequestInfo& ri);
  awaitable<bool> handle_chat(Request& req, RequestInfo& ri);
  awaitable<bool> handle_models(Request& req, RequestInfo& ri, std::string_view id);

  void append_head(std::string& out, unsigned status, std::string_view content_type,
                   std::size_t content_length, const RequestInfo& ri, std::string_view extra,
                   bool chunked = false);
  awaitable<bool> write_all(std::string_view a, std::string_view b = {});
  awaitable<bool> reply(RequestInfo& ri, unsigned status, std::string_view body,
                        std::string_view extra_headers = {},
                        std::string_view content_type = "application/json");
  awaitable<bool> reply_error(RequestInfo& ri, const api::Error& err);

  awaitable<Outcome> run_attempts(const policy::RoutePlan& plan, const api::ChatRequest& req,
                                  adapters::CallContext& ctx, api::EventSink& sink);
  enum class RaceEnd { done, client_gone, timed_out };
  awaitable<RaceEnd> run_guarded(const policy::RoutePlan& plan, const api::ChatRequest& req,
                                 adapters::CallContext& ctx, api::EventSink& sink, Outcome& out);

  class JsonSink;
  class SseSink;

  Worker& worker_;
  Services& services_;
  const config::ServerConfig& cfg_;
  Stream& stream_;
  ConnectionState& conn_;
  beast::flat_buffer buffer_;
  std::string head_;  // reused response-head buffer
};

// Non-streaming: events are folded into a response, written when the attempt succeeds.
template <class Stream>
class Session<Stream>::JsonSink final : public api::EventSink {
 public:
  awaitable<bool> on_event(api::Event ev) override {
    builder_.add(ev);
    co_return true;
  }
  bool committed() const override { return false; }
  void reset() { builder_ = api::ResponseBuilder(); }
  api::ChatResponse& response() { return builder_.response(); }

 private:
  api::ResponseBuilder builder_;
};

// Streaming: the response head goes out with the first event that carries something (the
// commit point: no fallback after it), then one HTTP chunk per event, each write awaited
// (back-pressure). What a `start` event writes (OpenAI's role chunk, Anthropic's
// message_start) is held and sent together with the next event: the client gets one write
// instead of two for its first token, and an upstream that fails after announcing itself but
// before its first token can still be replaced by the next deployment.
template <class Stream>
class Session<Stream>::SseSink final : public api::EventSink {
 public:
  SseSink(Session& s, RequestInfo& ri, const api::ChatRequest& req,
          const adapters::CallContext& ctx)
      : s_(s),
        ri_(ri),
        req_(req),
        ctx_(ctx),
        chunked_(ri.version >= 11),
        writer_(ri.dialect, req, ri.id) {}

  awaitable<bool> on_event(api::Event ev) override {
    if (failed_) co_return false;
    writer_.append(ev, payload_);  // after anything held back
    if (ev.type == api::Event::Type::error) errored_ = true;
    if (ev.type == api::Event::Type::start && !committed_) co_return true;
    if (payload_.empty()) co_return true;
    if (ri_.rec.ttft_ms < 0 &&
        (ev.type == api::Event::Type::text || ev.type == api::Event::Type::tool_call ||
         ev.type == api::Event::Type::reasoning)) {
      ri_.rec.ttft_ms = std::chrono::duration<double, std::milli>(Clock::now() - ri_.start).count();
    }
    co_return co_await send_payload();
  }
  bool committed() const override { return committed_; }
  bool errored() const { return errored_; }

  // Before the next deployment is tried: forget what the failed attempt's start event held.
  void reset() {
    if (committed_) return;
    payload_.clear();
    writer_ = DialectStreamWriter(ri_.dialect, req_, ri_.id);
  }

  // Closes the stream: [DONE] after success, then the last chunk.
  awaitable<bool> finish(bool success) {
    if (success) writer_.append_done(payload_);
    co_return co_await send_payload(/*last=*/true);
  }
  awaitable<bool> send_error(const api::Error& err) {
    writer_.append_error(err, payload_);
    errored_ = true;
    co_return co_await send_payload();
  }

 private:
  awaitable<bool> send_payload(bool last = false) {
    const bool ok = co_await send(payload_, last);
    payload_.clear();
    co_return ok;
  }

  awaitable<bool> send(const std::string& data, bool last = false) {
    frame_.clear();
    if (!committed_) {
      committed_ = true;
      std::string extra = "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
      append_dropped_header(extra, ctx_.dropped_params);
      s_.append_head(frame_, 200, "text/event-stream", 0, ri_, extra, chunked_);
    }
    if (chunked_) {
      if (!data.empty()) {
        char size[20];
        const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
        frame_.append(size, static_cast<std::size_t>(n));
        frame_ += data;
        frame_ += "\r\n";
      }
      if (last) frame_ += "0\r\n\r\n";
    } else {
      frame_ += data;
    }
    if (frame_.empty()) co_return true;
    if (!co_await s_.write_all(frame_)) failed_ = true;
    co_return !failed_;
  }

  Session& s_;
  RequestInfo& ri_;
  const api::ChatRequest& req_;
  const adapters::CallContext& ctx_;
  bool chunked_;
  DialectStreamWriter writer_;
  std::string payload_;
  std::string frame_;
  bool committed_ = false;
  bool failed_ = false;
  bool errored_ = false;
};

template <class Stream>
void Session<Stream>::append_head(std::string& out, unsigned status, std::string_view content_type,
                                  std::size_t content_length, const RequestInfo& ri,
                                  std::string_view extra, bool chunked) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  out.append(reason.data(), reason.size());
  out += "\r\nDate: ";
  out += http_date();
  out += "\r\nContent-Type: ";
  out += content_type;
  if (chunked) {
    out += "\r\nTransfer-Encoding: chunked";
  } else if (status != 204) {
    // HTTP/1.0 streams are delimited by closing the connection.
    if (!(content_type == "text/event-stream")) {
      out += "\r\nContent-Length: ";
      out += std::to_string(content_length);
    }
  }
  out += "\r\nx-request-id: ";
  out += ri.id;
  if (!ri.keep_alive) {
    out += "\r\nConnection: close";
  } else if (ri.version == 10) {
    out += "\r\nConnection: keep-alive";
  }
  out += "\r\n";
  out += extra;
  out += "\r\n";
}

template <class Stream>
awaitable<bool> Session<Stream>::write_all(std::string_view a, std::string_view b) {
  tcp_stream().expires_after(cfg_.idle_timeout);
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(a.data(), a.size()),
                                               asio::buffer(b.data(), b.size())};
  auto [ec, n] = co_await asio::async_write(stream_, bufs, kNoThrow);
  tcp_stream().expires_never();
  co_return !ec;
}

template <class Stream>
awaitable<bool> Session<Stream>::reply(RequestInfo& ri, unsigned status, std::string_view body,
                                       std::string_view extra_headers,
                                       std::string_view content_type) {
  ri.rec.status = static_cast<int>(status);
  head_.clear();
  append_head(head_, status, content_type, body.size(), ri, extra_headers);
  const bool ok = co_await write_all(head_, body);
  co_return ok&& ri.keep_alive;
}

template <class Stream>
awaitable<bool> Session<Stream>::reply_error(RequestInfo& ri, const api::Error& err) {
  std::string extra;
  if (err.retry_after_s >= 0) extra = "Retry-After: " + std::to_string(err.retry_after_s) + "\r\n";
  if (err.status == 405) extra += "Allow: " + err.code + "\r\n";
  if (err.status == 401) extra += "WWW-Authenticate: Bearer\r\n";
  if (ri.error_class.empty()) ri.error_class = std::string(api::openai_type(err.kind));
  api::Error shown = err;
  if (err.status == 405) shown.code.clear();
  // A named body: GCC 12 destroys a conditional's temporary twice inside a co_await expression.
  const std::string body =
      ri.dialect == Dialect::anthropic ? anthropic::error_body(shown) : openai::error_body(shown);
  co_return co_await reply(ri, static_cast<unsigned>(err.status), body, extra);
}

template <class Stream>
awaitable<void> Session<Stream>::serve() {
  const auto max_requests = cfg_.max_requests_per_connection;
  for (int served = 0; served < max_requests; ++served) {
    if (services_.draining.load(std::memory_order_relaxed)) break;
    // Between requests: wait for the first bytes within the keep-alive idle timeout. A drain
    // cancels this wait.
    if (buffer_.size() == 0) {
      conn_.idle = true;
      tcp_stream().expires_after(served == 0 ? cfg_.request_read_timeout : cfg_.idle_timeout);
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(8192), kNoThrow);
      conn_.idle = false;
      if (ec) break;
      buffer_.commit(n);
    }
    // The whole request must then arrive within request_read_timeout (slow senders are cut off).
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(cfg_.max_header_bytes));
    parser.body_limit(cfg_.max_body_bytes);
    tcp_stream().expires_after(cfg_.request_read_timeout);
    auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, kNoThrow);
    tcp_stream().expires_never();

    RequestInfo ri;
    ri.start = Clock::now();
    ri.id = worker_.next_request_id();
    if (ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted) {
        break;
      }
      ri.keep_alive = false;
      api::Error err;
      if (ec == http::error::body_limit) {
        err = api::Error::make(api::ErrorKind::payload_too_large,
                               "Request body too large: the limit is " +
                                   std::to_string(cfg_.max_body_bytes) + " bytes.",
                               "", "request_too_large");
      } else if (ec == http::error::header_limit) {
        err = api::Error::make(api::ErrorKind::invalid_request,
                               "Request headers too large: the limit is " +
                                   std::to_string(cfg_.max_header_bytes) + " bytes.");
        err.status = 431;
      } else {
        err = api::Error::make(api::ErrorKind::invalid_request,
                               "Malformed HTTP request: " + ec.message());
      }
      ri.rec.method = "-";
      ri.rec.path = "-";
      co_await reply_error(ri, err);
      ri.rec.request_id = ri.id;
      ri.rec.latency_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - ri.start).count();
      services_.log.write(ri.rec);
      break;
    }

    Request& req = parser.get();
    ri.version = req.version();
    ri.keep_alive = req.keep_alive() && served + 1 < max_requests &&
                    !services_.draining.load(std::memory_order_relaxed);
    if (auto it = req.find("x-request-id"); it != req.end() && usable_request_id(it->value()))
      ri.id = std::string(it->value());

    const bool keep = co_await dispatch(req, ri);

    ri.rec.request_id = ri.id;
    ri.rec.method = req.method_string();
    ri.rec.path = req.target();
    ri.rec.model = ri.model;
    ri.rec.error = ri.error_class;
    ri.rec.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - ri.start).count();
    services_.log.write(ri.rec);
    if (!keep) break;
  }
  // Graceful close: send FIN, let the client read what we wrote.
  beast::error_code ignored;
  socket().shutdown(tcp::socket::shutdown_send, ignored);
}

template <class Stream>
awaitable<bool> Session<Stream>::dispatch(Request& req, RequestInfo& ri) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  const auto method = req.method();

  auto wrong_method = [&](const char* allow) {
    api::Error err = api::Error::make(api::ErrorKind::method_not_allowed,
                                      "Method " + std::string(req.method_string()) +
                                          " is not allowed on " + std::string(path) + ".");
    err.code = allow;
    return err;
  };

  if (path == "/v1/messages" || path.starts_with("/v1/messages/")) {
    ri.dialect = Dialect::anthropic;
    if (path == "/v1/messages") {
      if (method != http::verb::post) co_return co_await reply_error(ri, wrong_method("POST"));
      co_return co_await handle_chat(req, ri);
    }
  }
  if (path == "/v1/chat/completions") {
    if (method != http::verb::post) co_return co_await reply_error(ri, wrong_method("POST"));
    co_return co_await handle_chat(req, ri);
  }
  if (path == "/v1/models" || path.starts_with("/v1/models/")) {
    if (method != http::verb::get) co_return co_await reply_error(ri, wrong_method("GET"));
    std::string_view id = path.size() > 11 ? path.substr(11) : std::string_view{};
    co_return co_await handle_models(req, ri, id);
  }
  if (path == "/healthz") {
    if (method != http::verb::get && method != http::verb::head)
      co_return co_await reply_error(ri, wrong_method("GET"));
    co_return co_await reply(ri, 200, "{\"status\":\"ok\"}");
  }
  if (path == "/readyz") {
    if (method != http::verb::get && method != http::verb::head)
      co_return co_await reply_error(ri, wrong_method("GET"));
    if (services_.draining.load(std::memory_order_relaxed))
      co_return co_await reply(ri, 503, "{\"status\":\"draining\"}");
    co_return co_await reply(ri, 200, "{\"status\":\"ready\"}");
  }
  api::Error err = api::Error::make(api::ErrorKind::not_found,
                                    "Unknown request URL: " + std::string(req.method_string()) +
                                        " " + std::string(path.substr(0, 256)) + ".",
                                    "", "unknown_url");
  co_return co_await reply_error(ri, err);
}

template <class Stream>
awaitable<bool> Session<Stream>::handle_models(Request& req, RequestInfo& ri, std::string_view id) {
  const auto key = presented_key(req);
  auto who = key.empty() ? std::nullopt : services_.keys.authenticate(key);
  if (!who) {
    co_return co_await reply_error(
        ri, api::Error::make(api::ErrorKind::authentication,
                             key.empty() ? "You didn't provide an API key. Use the "
                                           "Authorization header: 'Bearer YOUR_KEY'."
                                         : "Incorrect API key provided.",
                             "", "invalid_api_key"));
  }
  ri.rec.key_id = who->key_id();
  ri.rec.org = who->org();
  std::vector<openai::ModelEntry> entries;
  const std::string wanted = percent_decode(id);
  for (const auto* m : services_.router.visible_models(*who)) {
    if (!id.empty() && m->name != wanted) continue;
    entries.push_back({m->name, m->owned_by, 0});
  }
  if (!id.empty()) {
    if (entries.empty()) {
      co_return co_await reply_error(
          ri, api::Error::make(api::ErrorKind::not_found,
                               "The model `" + wanted.substr(0, 256) +
                                   "` does not exist or you do not have access to it.",
                               "model", "model_not_found"));
    }
    co_return co_await reply(ri, 200, openai::render_model(entries.front()));
  }
  co_return co_await reply(ri, 200, openai::render_model_list(entries));
}

template <class Stream>
awaitable<Outcome> Session<Stream>::run_attempts(const policy::RoutePlan& plan,
                                                 const api::ChatRequest& req,
                                                 adapters::CallContext& ctx, api::EventSink& sink) {
  Outcome o;
  // Exceptions must not escape: cancellation (client gone, deadline) arrives as one.
  try {
    for (const auto& c : *plan.candidates) {
      auto* adapter = services_.adapter_for(c.provider);
      if (adapter == nullptr) continue;
      if (auto* js = dynamic_cast<JsonSink*>(&sink)) js->reset();
      if (auto* ss = dynamic_cast<SseSink*>(&sink)) ss->reset();
      adapters::Target target{c.provider, c.deployment->model};
      ++o.attempts;
      o.provider = c.provider;
      adapters::AttemptResult r = co_await adapter->chat(req, target, ctx, sink);
      o.usage = r.usage;
      if (r.ok) {
        o.ok = true;
        co_return o;
      }
      o.error = std::move(r.error);
      if (sink.committed() || !o.error.retryable) co_return o;
    }
  } catch (const std::exception& e) {
    o.ok = false;
    o.error =
        api::Error::make(api::ErrorKind::internal, "Internal error while calling the provider.");
  }
  if (o.attempts == 0) {
    o.error = api::Error::make(api::ErrorKind::unavailable,
                               "No deployment is available for model '" + req.model + "'.");
  } else if (o.error.kind == api::ErrorKind::unavailable) {
    o.error.status = 503;
    o.error.message = "No healthy deployment for model '" + req.model + "': " + o.error.message;
  }
  co_return o;
}

// Runs the attempts while watching the client's socket and the request deadline. Either one
// cancels the attempts (terminal cancellation reaches the adapter's pending upstream operation,
// which then drops its connection). The watchers are plain completion handlers sharing one small
// state, not coroutines: no exception is thrown on the common path where the attempts finish
// first (the awaitable_operators `||` race threw and rethrew three times per request).
template <class Stream>
awaitable<typename Session<Stream>::RaceEnd> Session<Stream>::run_guarded(
    const policy::RoutePlan& plan, const api::ChatRequest& req, adapters::CallContext& ctx,
    api::EventSink& sink, Outcome& out) {
  struct Race {
    explicit Race(const asio::any_io_executor& ex, Clock::time_point deadline)
        : timer(ex, deadline) {}
    asio::steady_timer timer;
    asio::cancellation_signal cancel_attempts;
    asio::cancellation_signal cancel_watch;
    RaceEnd end = RaceEnd::done;
    bool finished = false;
  };
  const auto ex = co_await asio::this_coro::executor;
  auto race = std::make_shared<Race>(ex, ctx.deadline);

  race->timer.async_wait([race](const boost::system::error_code& ec) {
    if (ec || race->finished || race->end != RaceEnd::done) return;
    race->end = RaceEnd::timed_out;
    race->cancel_attempts.emit(asio::cancellation_type::terminal);
  });
  // Readable means EOF/reset (client gone) or pipelined bytes of its next request; only the
  // former cancels. After pipelined bytes the watch ends: a later close is noticed on write.
  tcp::socket& sock = socket();
  sock.async_wait(
      tcp::socket::wait_read,
      asio::bind_cancellation_slot(race->cancel_watch.slot(),
                                   [race, &sock](const boost::system::error_code& ec) {
                                     if (ec || race->finished || race->end != RaceEnd::done) return;
                                     beast::error_code aec;
                                     const auto available = sock.available(aec);
                                     if (!aec && available > 0) return;
                                     race->end = RaceEnd::client_gone;
                                     race->cancel_attempts.emit(asio::cancellation_type::terminal);
                                   }));

  out = co_await asio::co_spawn(
      ex, run_attempts(plan, req, ctx, sink),
      asio::bind_cancellation_slot(race->cancel_attempts.slot(), use_awaitable));
  race->finished = true;
  race->timer.cancel();
  race->cancel_watch.emit(asio::cancellation_type::terminal);
  co_return race->end;
}

template <class Stream>
awaitable<bool> Session<Stream>::handle_chat(Request& req, RequestInfo& ri) {
  const auto key = presented_key(req);
  auto who = key.empty() ? std::nullopt : services_.keys.authenticate(key);
  if (!who) {
    co_return co_await reply_error(
        ri, api::Error::make(api::ErrorKind::authentication,
                             key.empty() ? "You didn't provide an API key. Use the "
                                           "Authorization header: 'Bearer YOUR_KEY'."
                                         : "Incorrect API key provided.",
                             "", "invalid_api_key"));
  }
  ri.rec.key_id = who->key_id();
  ri.rec.org = who->org();

  api::ChatRequest creq;
  api::Error err;
  const bool parsed = ri.dialect == Dialect::anthropic
                          ? anthropic::parse_messages_request(req.body(), creq, err)
                          : openai::parse_chat_request(req.body(), creq, err);
  if (!parsed) co_return co_await reply_error(ri, err);
  ri.model = creq.model.substr(0, 256);
  ri.rec.stream = creq.stream;
  if (auto it = req.find("x-hf-bill-to"); it != req.end())
    creq.bill_to = std::string(it->value().substr(0, 256));

  auto plan = services_.router.plan(creq.model, *who, err);
  if (!plan) co_return co_await reply_error(ri, err);

  adapters::CallContext ctx;
  ctx.http = &worker_.http();
  ctx.request_id = ri.id;
  ctx.deadline = ri.start + cfg_.request_timeout;

  auto record = [&](const Outcome& o) {
    ri.rec.attempts = o.attempts;
    ri.rec.provider = o.provider ? std::string_view(o.provider->name) : std::string_view{};
    ri.rec.prompt_tokens = o.usage.prompt_tokens;
    ri.rec.completion_tokens = o.usage.completion_tokens;
  };

  if (!creq.stream) {
    JsonSink sink;
    Outcome o;
    const RaceEnd end = co_await run_guarded(*plan, creq, ctx, sink, o);
    if (end == RaceEnd::client_gone) {  // nothing to answer
      record(o);
      ri.rec.status = 499;
      ri.error_class = "client_closed";
      co_return false;
    }
    if (end == RaceEnd::timed_out) {
      record(o);
      co_return co_await reply_error(
          ri, api::Error::make(api::ErrorKind::timeout, "The request timed out.", "", "timeout"));
    }
    record(o);
    if (!o.ok) co_return co_await reply_error(ri, o.error);
    auto& resp = sink.response();
    if (resp.created == 0) resp.created = unix_now();
    std::string extra;
    append_dropped_header(extra, ctx.dropped_params);
    std::string body;
    if (ri.dialect == Dialect::anthropic) {
      if (resp.id.empty()) resp.id = "msg_" + ri.id;
      body = anthropic::render_response(resp, creq.model);
    } else {
      if (resp.id.empty()) resp.id = "chatcmpl-" + ri.id;
      body = openai::render_response(resp, creq.model);
    }
    co_return co_await reply(ri, 200, body, extra);
  }

  SseSink sink(*this, ri, creq, ctx);
  Outcome o;
  const RaceEnd end = co_await run_guarded(*plan, creq, ctx, sink, o);
  if (end == RaceEnd::client_gone) {
    record(o);
    ri.rec.status = sink.committed() ? 200 : 499;
    ri.error_class = "client_closed";
    co_return false;
  }
  if (end == RaceEnd::timed_out) {
    record(o);
    const auto timeout =
        api::Error::make(api::ErrorKind::timeout, "The request timed out.", "", "timeout");
    if (!sink.committed()) co_return co_await reply_error(ri, timeout);
    ri.rec.status = 200;
    ri.error_class = "timeout";
    co_await sink.send_error(timeout);
    co_await sink.finish(false);
    co_return false;
  }
  record(o);
  if (!sink.committed()) {
    if (!o.ok) co_return co_await reply_error(ri, o.error);
    // A successful stream with no events at all still answers with a well-formed stream.
  }
  ri.rec.status = 200;
  if (!o.ok) {
    ri.error_class = std::string(api::openai_type(o.error.kind));
    if (!sink.errored()) co_await sink.send_error(o.error);
    co_await sink.finish(false);
    co_return false;  // a broken stream ends the connection
  }
  if (!co_await sink.finish(true)) co_return false;
  co_return ri.keep_alive;
}

template <class Stream>
awaitable<void> serve_stream(Worker& worker, Stream& stream, ConnectionState& conn) {
  Session<Stream> session(worker, stream, conn);
  co_await session.serve();
}

}  // namespace

awaitable<void> run_session(Worker& worker, tcp::socket socket) {
  Services& services = worker.services();
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);

  ConnectionState conn;
  struct Registration {
    Worker& w;
    ConnectionState& c;
    Registration(Worker& w_, ConnectionState& c_) : w(w_), c(c_) {
      w.add(&c);
      w.services().connections.fetch_add(1, std::memory_order_relaxed);
    }
    ~Registration() {
      w.remove(&c);
      w.services().connections.fetch_sub(1, std::memory_order_relaxed);
    }
  } registration(worker, conn);

  try {
    if (auto* tls = worker.tls()) {
      beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
      conn.socket = &beast::get_lowest_layer(stream).socket();
      beast::get_lowest_layer(stream).expires_after(services.config.server.request_read_timeout);
      auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kNoThrow);
      if (hec) co_return;
      beast::get_lowest_layer(stream).expires_never();
      co_await serve_stream(worker, stream, conn);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
      co_await stream.async_shutdown(kNoThrow);
    } else {
      beast::tcp_stream stream(std::move(socket));
      conn.socket = &stream.socket();
      co_await serve_stream(worker, stream, conn);
    }
  } catch (const std::exception& e) {
    // A session never takes the worker down; the connection just ends.
    std::fprintf(stderr, "infergate: session error: %s\n", e.what());
  }
}

}  // namespace infergate::gateway
