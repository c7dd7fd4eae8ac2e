#include "session.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
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
#include "infergate/api/hf.hpp"
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
// openai_text: OpenAI's legacy /v1/completions (text_completion objects and chunks).
enum class Dialect : std::uint8_t { openai, anthropic, openai_text };

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
  using Variant = std::variant<openai::StreamWriter, anthropic::StreamWriter,
                               openai::TextCompletionStreamWriter>;
  static Variant make(Dialect d, const api::ChatRequest& req, const std::string& request_id) {
    if (d == Dialect::anthropic)
      return Variant(std::in_place_index<1>, req.model, "msg_" + request_id);
    if (d == Dialect::openai_text)
      return Variant(std::in_place_index<2>, req.model, "cmpl-" + request_id, unix_now(),
                     req.include_usage);
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
  std::string hf_provider;  // hf: the provider a per-provider route names (chat plans on it)
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

  // The guarded-attempt machinery every operation shares. `attempt(adapter, target)` runs one
  // attempt of the operation (Adapter::chat, embed, generate_image) and returns its awaitable;
  // run_attempts walks the plan's deployments, falling back on retryable errors until `sink`
  // (chat streams; nullptr for whole-body operations) has committed.
  template <class Attempt>
  awaitable<Outcome> run_attempts(const policy::RoutePlan& plan, std::string_view model,
                                  const api::EventSink* sink, Attempt& attempt);
  enum class RaceEnd { done, client_gone, timed_out };
  // run_attempts under the request deadline and the client-gone watch.
  template <class Attempt>
  awaitable<RaceEnd> run_guarded(const policy::RoutePlan& plan, std::string_view model,
                                 adapters::CallContext& ctx, const api::EventSink* sink,
                                 Attempt& attempt, Outcome& out);

  // --- OpenAI non-chat routes (ops) ---
  awaitable<bool> handle_embeddings(Request& req, RequestInfo& ri);
  // Anthropic's POST /v1/messages/count_tokens, whatever provider serves the model.
  awaitable<bool> handle_count_tokens(Request& req, RequestInfo& ri);
  awaitable<bool> handle_images(Request& req, RequestInfo& ri);
  // The caller's principal (filling the access record), or nullopt with the 401 to answer.
  std::optional<policy::Principal> principal_of(const Request& req, RequestInfo& ri,
                                                api::Error& err);
  adapters::CallContext call_context(const RequestInfo& ri);
  void record_outcome(RequestInfo& ri, const Outcome& o);
  // After run_guarded of a whole-body operation: answers the failure (or nothing when the
  // client left) and returns the session's keep-alive verdict; nullopt when the caller should
  // render its success.
  awaitable<std::optional<bool>> settle_whole(RequestInfo& ri, RaceEnd end, const Outcome& o);

  // --- Hugging Face routes (hf) ---
  awaitable<bool> handle_hf(Request& req, RequestInfo& ri, const api::hf::Route& route);
  awaitable<bool> handle_hf_task(Request& req, RequestInfo& ri, const api::hf::Route& route,
                                 const policy::Principal& who);
  awaitable<bool> reply_hf_error(RequestInfo& ri, const api::Error& err);
  awaitable<std::optional<bool>> hf_settle(RequestInfo& ri, RaceEnd end, const Outcome& o);
  // The plan for a provider's model id (or a public name) on the provider a route names.
  std::optional<policy::RoutePlan> hf_plan(std::string_view model, std::string_view provider,
                                           const policy::Principal& who, api::Error& err);
  std::string hf_origin(const Request& req);  // scheme://host the client reached us at

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
        // Chunk size in hex (snprintf cost ~700 instructions per relayed event).
        char size[sizeof(std::size_t) * 2 + 2];
        char* p = size + sizeof size;
        *--p = '\n';
        *--p = '\r';
        for (std::size_t v = data.size(); v != 0; v >>= 4) *--p = "0123456789abcdef"[v & 15];
        frame_.append(p, static_cast<std::size_t>(size + sizeof size - p));
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

  // Hugging Face routes (hf): router per-provider paths, Hub mapping, task routes.
  if (const auto hf_route = api::hf::match(target); hf_route.kind != api::hf::Route::Kind::none)
    co_return co_await handle_hf(req, ri, hf_route);
  if (path == "/v1/messages" || path.starts_with("/v1/messages/")) {
    ri.dialect = Dialect::anthropic;
    if (path == "/v1/messages") {
      if (method != http::verb::post) co_return co_await reply_error(ri, wrong_method("POST"));
      co_return co_await handle_chat(req, ri);
    }
    if (path == "/v1/messages/count_tokens") {
      if (method != http::verb::post) co_return co_await reply_error(ri, wrong_method("POST"));
      co_return co_await handle_count_tokens(req, ri);
    }
  }
  if (path == "/v1/chat/completions") {
    if (method != http::verb::post) co_return co_await reply_error(ri, wrong_method("POST"));
    co_return co_await handle_chat(req, ri);
  }
  // OpenAI's non-chat routes (ops).
  if (path == "/v1/completions") {
    if (method != http::verb::post) co_return co_await reply_error(ri, wrong_method("POST"));
    ri.dialect = Dialect::openai_text;
    co_return co_await handle_chat(req, ri);
  }
  if (path == "/v1/embeddings") {
    if (method != http::verb::post) co_return co_await reply_error(ri, wrong_method("POST"));
    co_return co_await handle_embeddings(req, ri);
  }
  if (path == "/v1/images/generations") {
    if (method != http::verb::post) co_return co_await reply_error(ri, wrong_method("POST"));
    co_return co_await handle_images(req, ri);
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
template <class Attempt>
awaitable<Outcome> Session<Stream>::run_attempts(const policy::RoutePlan& plan,
                                                 std::string_view model, const api::EventSink* sink,
                                                 Attempt& attempt) {
  Outcome o;
  // Exceptions must not escape: cancellation (client gone, deadline) arrives as one.
  try {
    for (const auto& c : *plan.candidates) {
      auto* adapter = services_.adapter_for(c.provider);
      if (adapter == nullptr) continue;
      adapters::Target target{c.provider, c.deployment->model};
      ++o.attempts;
      o.provider = c.provider;
      const auto attempt_start = Clock::now();
      adapters::AttemptResult r = co_await attempt(*adapter, target);
      o.usage = r.usage;
      if (r.ok) {
        // Feeds `model:fastest` (hf): whole answers only, a stream's duration is its length.
        if (sink == nullptr || !sink->committed())
          services_.router.observe(
              c.deployment,
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - attempt_start));
        o.ok = true;
        co_return o;
      }
      o.error = std::move(r.error);
      if ((sink != nullptr && sink->committed()) || !o.error.retryable) co_return o;
    }
  } catch (const std::exception& e) {
    o.ok = false;
    o.error =
        api::Error::make(api::ErrorKind::internal, "Internal error while calling the provider.");
  }
  if (o.attempts == 0) {
    o.error =
        api::Error::make(api::ErrorKind::unavailable,
                         "No deployment is available for model '" + std::string(model) + "'.");
  } else if (o.error.kind == api::ErrorKind::unavailable) {
    o.error.status = 503;
    o.error.message =
        "No healthy deployment for model '" + std::string(model) + "': " + o.error.message;
  }
  co_return o;
}

// Runs the attempts while watching the client's socket and the request deadline. Either one
// cancels the attempts (terminal cancellation reaches the adapter's pending upstream operation,
// which then drops its connection). The watchers are plain completion handlers sharing one small
// state, not coroutines: no exception is thrown on the common path where the attempts finish
// first (the awaitable_operators `||` race threw and rethrew three times per request).
template <class Stream>
template <class Attempt>
awaitable<typename Session<Stream>::RaceEnd> Session<Stream>::run_guarded(
    const policy::RoutePlan& plan, std::string_view model, adapters::CallContext& ctx,
    const api::EventSink* sink, Attempt& attempt, Outcome& out) {
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
      ex, run_attempts(plan, model, sink, attempt),
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
  const bool parsed =
      ri.dialect == Dialect::anthropic ? anthropic::parse_messages_request(req.body(), creq, err)
      : ri.dialect == Dialect::openai_text ? openai::parse_completion_request(req.body(), creq, err)
                                           : openai::parse_chat_request(req.body(), creq, err);
  if (!parsed) co_return co_await reply_error(ri, err);
  ri.model = creq.model.substr(0, 256);
  ri.rec.stream = creq.stream;
  if (auto it = req.find("x-hf-bill-to"); it != req.end())
    creq.bill_to = std::string(it->value().substr(0, 256));

  auto plan = ri.hf_provider.empty() ? services_.router.plan(creq.model, *who, err)
                                     : hf_plan(creq.model, ri.hf_provider, *who, err);
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
    auto attempt = [&](adapters::Adapter& adapter, const adapters::Target& target) {
      sink.reset();
      return adapter.chat(creq, target, ctx, sink);
    };
    Outcome o;
    const RaceEnd end = co_await run_guarded(*plan, creq.model, ctx, &sink, attempt, o);
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
    } else if (ri.dialect == Dialect::openai_text) {
      if (resp.id.empty()) resp.id = "cmpl-" + ri.id;
      body = openai::render_text_completion(resp, creq.model);
    } else {
      if (resp.id.empty()) resp.id = "chatcmpl-" + ri.id;
      body = openai::render_response(resp, creq.model);
    }
    co_return co_await reply(ri, 200, body, extra);
  }

  SseSink sink(*this, ri, creq, ctx);
  auto attempt = [&](adapters::Adapter& adapter, const adapters::Target& target) {
    sink.reset();  // what a failed attempt's start event held back
    return adapter.chat(creq, target, ctx, sink);
  };
  Outcome o;
  const RaceEnd end = co_await run_guarded(*plan, creq.model, ctx, &sink, attempt, o);
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

// ---- OpenAI non-chat routes (ops): /v1/embeddings, /v1/images/generations ----------------------
// (/v1/completions is handle_chat with Dialect::openai_text.) Same auth, limits, routing and
// fallback, deadline and client-gone watch, access log and error shapes as chat.

template <class Stream>
std::optional<policy::Principal> Session<Stream>::principal_of(const Request& req, RequestInfo& ri,
                                                               api::Error& err) {
  const auto key = presented_key(req);
  auto who = key.empty() ? std::nullopt : services_.keys.authenticate(key);
  if (!who) {
    err = api::Error::make(api::ErrorKind::authentication,
                           key.empty() ? "You didn't provide an API key. Use the "
                                         "Authorization header: 'Bearer YOUR_KEY'."
                                       : "Incorrect API key provided.",
                           "", "invalid_api_key");
    return std::nullopt;
  }
  ri.rec.key_id = who->key_id();
  ri.rec.org = who->org();
  return who;
}

template <class Stream>
adapters::CallContext Session<Stream>::call_context(const RequestInfo& ri) {
  adapters::CallContext ctx;
  ctx.http = &worker_.http();
  ctx.request_id = ri.id;
  ctx.deadline = ri.start + cfg_.request_timeout;
  return ctx;
}

template <class Stream>
void Session<Stream>::record_outcome(RequestInfo& ri, const Outcome& o) {
  ri.rec.attempts = o.attempts;
  ri.rec.provider = o.provider ? std::string_view(o.provider->name) : std::string_view{};
  ri.rec.prompt_tokens = o.usage.prompt_tokens;
  ri.rec.completion_tokens = o.usage.completion_tokens;
}

template <class Stream>
awaitable<std::optional<bool>> Session<Stream>::settle_whole(RequestInfo& ri, RaceEnd end,
                                                             const Outcome& o) {
  record_outcome(ri, o);
  if (end == RaceEnd::client_gone) {  // nothing to answer
    ri.rec.status = 499;
    ri.error_class = "client_closed";
    co_return false;
  }
  if (end == RaceEnd::timed_out) {
    const auto timeout =
        api::Error::make(api::ErrorKind::timeout, "The request timed out.", "", "timeout");
    co_return co_await reply_error(ri, timeout);
  }
  if (!o.ok) co_return co_await reply_error(ri, o.error);
  co_return std::nullopt;
}

template <class Stream>
awaitable<bool> Session<Stream>::handle_embeddings(Request& req, RequestInfo& ri) {
  api::Error err;
  const auto who = principal_of(req, ri, err);
  if (!who) co_return co_await reply_error(ri, err);
  api::EmbeddingsRequest ereq;
  if (!openai::parse_embeddings_request(req.body(), ereq, err))
    co_return co_await reply_error(ri, err);
  ri.model = ereq.model.substr(0, 256);
  if (auto it = req.find("x-hf-bill-to"); it != req.end())
    ereq.bill_to = std::string(it->value().substr(0, 256));
  auto plan = services_.router.plan(ereq.model, *who, err);
  if (!plan) co_return co_await reply_error(ri, err);

  adapters::CallContext ctx = call_context(ri);
  api::EmbeddingsResponse resp;
  auto attempt = [&](adapters::Adapter& adapter, const adapters::Target& target) {
    resp = api::EmbeddingsResponse{};
    return adapter.embed(ereq, target, ctx, resp);
  };
  Outcome o;
  const RaceEnd end = co_await run_guarded(*plan, ereq.model, ctx, nullptr, attempt, o);
  if (auto done = co_await settle_whole(ri, end, o)) co_return *done;
  std::string extra;
  append_dropped_header(extra, ctx.dropped_params);
  const std::string body = openai::render_embeddings(resp, ereq.model, ereq.base64);
  co_return co_await reply(ri, 200, body, extra);
}

// Same auth, key model restrictions, routing, fallback and guards as /v1/messages; answers in
// Anthropic's shapes. Deployments whose provider cannot count answer unsupported_operation
// (retryable), so the next one is tried; a count is not usage (nothing lands in the record's
// token fields).
template <class Stream>
awaitable<bool> Session<Stream>::handle_count_tokens(Request& req, RequestInfo& ri) {
  api::Error err;
  const auto who = principal_of(req, ri, err);
  if (!who) co_return co_await reply_error(ri, err);
  api::ChatRequest creq;
  if (!anthropic::parse_count_tokens_request(req.body(), creq, err))
    co_return co_await reply_error(ri, err);
  ri.model = creq.model.substr(0, 256);
  auto plan = services_.router.plan(creq.model, *who, err);
  if (!plan) co_return co_await reply_error(ri, err);

  adapters::CallContext ctx = call_context(ri);
  api::CountTokensResponse resp;
  bool none_can_count = true;  // every attempt so far answered unsupported_operation
  auto attempt = [&](adapters::Adapter& adapter,
                     const adapters::Target& target) -> awaitable<adapters::AttemptResult> {
    resp = api::CountTokensResponse{};
    adapters::AttemptResult r = co_await adapter.count_tokens(creq, target, ctx, resp);
    if (r.ok || r.error.code != "unsupported_operation") none_can_count = false;
    r.usage = api::Usage{};
    co_return r;
  };
  Outcome o;
  const RaceEnd end = co_await run_guarded(*plan, creq.model, ctx, nullptr, attempt, o);
  if (end == RaceEnd::done && !o.ok && o.attempts > 0 && none_can_count) {
    o.error = api::Error::make(api::ErrorKind::invalid_request,
                               "Token counting is not available for model '" + ri.model +
                                   "': none of its providers counts tokens.",
                               "model", "unsupported_operation");
  }
  if (auto done = co_await settle_whole(ri, end, o)) co_return *done;
  std::string extra;
  append_dropped_header(extra, ctx.dropped_params);
  const std::string body = anthropic::render_count_tokens(resp);
  co_return co_await reply(ri, 200, body, extra);
}

template <class Stream>
awaitable<bool> Session<Stream>::handle_images(Request& req, RequestInfo& ri) {
  api::Error err;
  const auto who = principal_of(req, ri, err);
  if (!who) co_return co_await reply_error(ri, err);
  api::ImageRequest ireq;
  if (!openai::parse_image_request(req.body(), ireq, err)) co_return co_await reply_error(ri, err);
  ri.model = ireq.model.substr(0, 256);
  if (auto it = req.find("x-hf-bill-to"); it != req.end())
    ireq.bill_to = std::string(it->value().substr(0, 256));
  auto plan = services_.router.plan(ireq.model, *who, err);
  if (!plan) co_return co_await reply_error(ri, err);

  adapters::CallContext ctx = call_context(ri);
  api::ImageResponse resp;
  auto attempt = [&](adapters::Adapter& adapter, const adapters::Target& target) {
    resp = api::ImageResponse{};
    return adapter.generate_image(ireq, target, ctx, resp);
  };
  Outcome o;
  const RaceEnd end = co_await run_guarded(*plan, ireq.model, ctx, nullptr, attempt, o);
  if (auto done = co_await settle_whole(ri, end, o)) co_return *done;
  if (resp.created == 0) resp.created = unix_now();
  std::string extra;
  append_dropped_header(extra, ctx.dropped_params);
  std::string body = openai::render_images(resp, ireq.want_url);
  resp.images.clear();  // the bytes are in `body` now
  co_return co_await reply(ri, 200, body, extra);
}
// ---- end of OpenAI non-chat routes (ops) ------------------------------------------------------

// ---- Hugging Face routes (hf) ------------------------------------------------------------------
// The Inference Providers router's per-provider paths, the Hub's model-mapping call, Inference
// Endpoints task routes and the fal/Replicate shapes the @huggingface/inference client sends
// (api/hf/include/infergate/api/hf.hpp lists them). Chat goes through handle_chat (OpenAI shape,
// the plan restricted to the provider the path names); everything else answers {"error": "..."}.

// What fal queue results and served images live in between calls: one per process, bounded.
inline api::hf::ResultStore& hf_store() {
  static api::hf::ResultStore store;
  return store;
}

template <class Stream>
awaitable<bool> Session<Stream>::reply_hf_error(RequestInfo& ri, const api::Error& err) {
  std::string extra;
  if (err.retry_after_s >= 0) extra = "Retry-After: " + std::to_string(err.retry_after_s) + "\r\n";
  if (err.status == 405) extra += "Allow: " + err.code + "\r\n";
  if (err.status == 401) extra += "WWW-Authenticate: Bearer\r\n";
  if (ri.error_class.empty()) ri.error_class = std::string(api::openai_type(err.kind));
  const std::string body = api::hf::error_body(err);
  co_return co_await reply(ri, static_cast<unsigned>(err.status), body, extra);
}

template <class Stream>
std::optional<policy::RoutePlan> Session<Stream>::hf_plan(std::string_view model,
                                                          std::string_view provider,
                                                          const policy::Principal& who,
                                                          api::Error& err) {
  const auto& router = services_.router;
  // The provider's own model id (the Hub mapping's providerId) on that provider...
  if (auto p = router.plan_provider_model(provider, model, who, err)) return p;
  const api::Error first = err;
  // ...else a public model name, restricted to that provider as `model:provider` would be. The
  // gateway stands in for HF's own hf-inference: without a provider of that name, any
  // deployment of the public model serves.
  std::string name(model);
  if (router.knows_provider(provider)) {
    name += ':';
    name += provider;
  } else if (provider != "hf-inference") {
    err = first;
    return std::nullopt;
  }
  if (auto p = router.plan(name, who, err)) return p;
  err = first;
  return std::nullopt;
}

template <class Stream>
std::string Session<Stream>::hf_origin(const Request& req) {
  std::string_view host;
  if (auto it = req.find(http::field::host); it != req.end()) host = it->value();
  const bool ok =
      !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
      });
  std::string origin = worker_.tls() != nullptr ? "https://" : "http://";
  origin += ok ? host : std::string_view("localhost");
  return origin;
}

template <class Stream>
awaitable<bool> Session<Stream>::handle_hf(Request& req, RequestInfo& ri,
                                           const api::hf::Route& route) {
  using Kind = api::hf::Route::Kind;
  const auto method = req.method();
  auto wrong_method = [&](const char* allow) {
    api::Error err = api::Error::make(
        api::ErrorKind::method_not_allowed,
        "Method " + std::string(req.method_string()) + " is not allowed on this route.");
    err.code = allow;
    return err;
  };
  const bool get = method == http::verb::get;
  const bool post = method == http::verb::post;

  if (route.kind == Kind::chat) {
    if (!post) co_return co_await reply_error(ri, wrong_method("POST"));
    if (route.provider.empty()) {
      // Inference Endpoints style (/models/{model}/v1/chat/completions): the path names the
      // public model; the client's body may carry the endpoint URL as `model` instead.
      if (api::hf::body_model(req.body()) != route.model) {
        auto j = nlohmann::json::parse(req.body(), nullptr, false);
        if (j.is_object()) {
          j["model"] = route.model;
          req.body() = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
      }
    } else {
      ri.hf_provider = route.provider;
    }
    co_return co_await handle_chat(req, ri);
  }
  if (route.kind == Kind::file) {
    if (!get) co_return co_await reply_hf_error(ri, wrong_method("GET"));
    auto file = hf_store().file(route.id);
    if (!file) {
      co_return co_await reply_hf_error(
          ri, api::Error::make(api::ErrorKind::not_found, "This file does not exist or expired."));
    }
    co_return co_await reply(ri, 200, file->bytes, "Cache-Control: private, max-age=600\r\n",
                             file->content_type);
  }

  // Everything else is per key.
  const auto key = presented_key(req);
  auto who = key.empty() ? std::nullopt : services_.keys.authenticate(key);
  if (!who) {
    co_return co_await reply_hf_error(
        ri, api::Error::make(api::ErrorKind::authentication,
                             key.empty() ? "You didn't provide an API key. Use the "
                                           "Authorization header: 'Bearer YOUR_KEY'."
                                         : "Invalid credentials in Authorization header.",
                             "", "invalid_api_key"));
  }
  ri.rec.key_id = who->key_id();
  ri.rec.org = who->org();

  if (route.kind == Kind::hub_model) {
    if (!get) co_return co_await reply_hf_error(ri, wrong_method("GET"));
    const auto* m = services_.config.find_model(route.model);
    ri.model = route.model.substr(0, 256);
    if (m == nullptr || !who->may_use(m->name)) {
      co_return co_await reply_hf_error(
          ri, api::Error::make(api::ErrorKind::not_found,
                               "Model `" + route.model.substr(0, 256) +
                                   "` does not exist or you do not have access to it.",
                               "model", "model_not_found"));
    }
    co_return co_await reply(ri, 200, api::hf::render_hub_model(*m, services_.config));
  }
  if (route.kind == Kind::fal_result || route.kind == Kind::fal_status) {
    if (!get) co_return co_await reply_hf_error(ri, wrong_method("GET"));
    auto result = hf_store().result(route.id, who->key_id());
    if (!result) {
      co_return co_await reply_hf_error(
          ri, api::Error::make(api::ErrorKind::not_found,
                               "Request `" + route.id + "` does not exist or expired."));
    }
    if (route.kind == Kind::fal_result) co_return co_await reply(ri, 200, *result);
    const std::string body = api::hf::render_fal_status(hf_origin(req), route.model, route.id);
    co_return co_await reply(ri, 200, body);
  }
  if (!post) co_return co_await reply_hf_error(ri, wrong_method("POST"));
  co_return co_await handle_hf_task(req, ri, route, *who);
}

template <class Stream>
awaitable<bool> Session<Stream>::handle_hf_task(Request& req, RequestInfo& ri,
                                                const api::hf::Route& route,
                                                const policy::Principal& who) {
  using Kind = api::hf::Route::Kind;
  using api::hf::Task;
  namespace hf = api::hf;
  api::Error err;
  std::string bill_to;
  if (auto it = req.find("x-hf-bill-to"); it != req.end())
    bill_to = std::string(it->value().substr(0, 256));

  // Which model and provider the route names, and (when the route fixes it) the task.
  std::string model = route.model;
  std::string provider = route.provider;
  std::string version;
  std::optional<Task> task;
  switch (route.kind) {
    case Kind::embeddings:
      task = Task::feature_extraction;
      model = hf::body_model(req.body());
      break;
    case Kind::images:
      task = Task::text_to_image;
      model = hf::body_model(req.body());
      break;
    case Kind::pipeline:
      task = route.task;
      break;
    case Kind::fal_submit:
      task = Task::text_to_image;
      break;
    case Kind::replicate_predict:
      task = Task::text_to_image;
      if (model.empty()) {
        // POST /v1/predictions names the model only by version: the deployment whose upstream
        // id is "owner/name:version".
        auto j = nlohmann::json::parse(req.body(), nullptr, false);
        if (j.is_object() && j.contains("version") && j["version"].is_string())
          version = j["version"].template get<std::string>().substr(0, 256);
        const std::string suffix = ":" + version;
        for (const auto& m : services_.config.models)
          for (const auto& d : m.deployments)
            if (!version.empty() && d.model.size() > suffix.size() && d.model.ends_with(suffix))
              if (const auto* p = services_.config.find_provider(d.provider);
                  p != nullptr && policy::hf_provider_name(*p) == "replicate" && model.empty())
                model = d.model;
        if (model.empty()) {
          co_return co_await reply_hf_error(
              ri, api::Error::make(api::ErrorKind::not_found,
                                   "No model with version `" + version + "` is served here.",
                                   "version", "model_not_found"));
        }
      }
      break;
    default:  // model_task: the model's own task
      break;
  }
  ri.model = model.substr(0, 256);
  if (model.empty()) {
    co_return co_await reply_hf_error(
        ri, api::Error::make(api::ErrorKind::invalid_request, "`model` is required.", "model"));
  }
  std::optional<policy::RoutePlan> plan = provider.empty() ? services_.router.plan(model, who, err)
                                                           : hf_plan(model, provider, who, err);
  if (!plan) co_return co_await reply_hf_error(ri, err);
  if (!task) task = hf::model_task(*plan->model, services_.config);
  const std::string& public_name = plan->model->name;
  ri.model = public_name.substr(0, 256);

  adapters::CallContext ctx = call_context(ri);
  Outcome o;
  RaceEnd end = RaceEnd::done;
  std::string extra;

  if (*task == Task::conversational) {
    co_return co_await reply_hf_error(
        ri, api::Error::make(
                api::ErrorKind::invalid_request,
                "Model `" + public_name + "` is a conversational model: use /v1/chat/completions.",
                "model", "unsupported_task"));
  }

  if (*task == Task::feature_extraction) {
    api::EmbeddingsRequest ereq;
    bool single = false;
    const bool openai_shape = route.kind == Kind::embeddings;
    const bool parsed =
        openai_shape ? openai::parse_embeddings_request(req.body(), ereq, err)
                     : hf::parse_feature_extraction(req.body(), public_name, ereq, single, err);
    if (!parsed) co_return co_await reply_hf_error(ri, err);
    ereq.model = public_name;
    ereq.bill_to = bill_to;
    api::EmbeddingsResponse resp;
    auto attempt = [&](adapters::Adapter& adapter, const adapters::Target& target) {
      resp = api::EmbeddingsResponse{};
      return adapter.embed(ereq, target, ctx, resp);
    };
    end = co_await run_guarded(*plan, public_name, ctx, nullptr, attempt, o);
    if (auto done = co_await hf_settle(ri, end, o)) co_return *done;
    append_dropped_header(extra, ctx.dropped_params);
    const std::string body = openai_shape ? openai::render_embeddings(resp, model, ereq.base64)
                                          : hf::render_feature_extraction(resp, single);
    co_return co_await reply(ri, 200, body, extra);
  }

  // text-to-image
  api::ImageRequest ireq;
  bool parsed = false;
  switch (route.kind) {
    case Kind::images:
      parsed = hf::parse_together_images(req.body(), ireq, err);
      break;
    case Kind::fal_submit:
      parsed = hf::parse_fal_request(req.body(), public_name, ireq, err);
      break;
    case Kind::replicate_predict:
      parsed = hf::parse_replicate_request(req.body(), public_name, ireq, nullptr, err);
      break;
    default:
      parsed = hf::parse_text_to_image(req.body(), public_name, ireq, err);
      break;
  }
  if (!parsed) co_return co_await reply_hf_error(ri, err);
  ireq.model = public_name;
  ireq.bill_to = bill_to;
  const auto started = Clock::now();
  api::ImageResponse resp;
  auto attempt = [&](adapters::Adapter& adapter, const adapters::Target& target) {
    resp = api::ImageResponse{};
    return adapter.generate_image(ireq, target, ctx, resp);
  };
  end = co_await run_guarded(*plan, public_name, ctx, nullptr, attempt, o);
  if (auto done = co_await hf_settle(ri, end, o)) co_return *done;
  append_dropped_header(extra, ctx.dropped_params);
  if (resp.images.empty()) {
    co_return co_await reply_hf_error(
        ri, api::Error::make(api::ErrorKind::upstream, "The provider returned no image."));
  }
  for (auto& im : resp.images)
    if (!im.bytes.empty())
      im.content_type = std::string(hf::sniff_image_type(
          im.bytes, im.content_type.empty() ? std::string_view("image/png") : im.content_type));

  if (route.kind == Kind::pipeline || route.kind == Kind::model_task) {
    // HF task API: the image itself.
    auto& im = resp.images.front();
    if (im.bytes.empty()) {
      co_return co_await reply_hf_error(
          ri, api::Error::make(api::ErrorKind::upstream,
                               "The provider returned an image URL, not the image."));
    }
    const std::string bytes = std::move(im.bytes);
    const std::string type = im.content_type;
    co_return co_await reply(ri, 200, bytes, extra, type);
  }

  // fal, Replicate and (url) Together answer URLs: images the gateway serves for a while
  // (a data: URL when the store cannot take one), or the provider's own URL.
  const std::string origin = hf_origin(req);
  std::vector<std::string> urls;
  if (route.kind != Kind::images || ireq.want_url) {
    for (auto& im : resp.images) {
      if (im.bytes.empty()) {
        urls.push_back(im.url);
        continue;
      }
      std::string id = hf_store().put_file(im.bytes, im.content_type);
      if (!id.empty()) {
        urls.push_back(origin + "/hf-files/" + id);
      } else {
        std::string data = "data:" + im.content_type + ";base64,";
        openai::append_base64(data, im.bytes);
        urls.push_back(std::move(data));
      }
    }
  }
  if (route.kind == Kind::images) {
    const std::string body =
        hf::render_together_images("img-" + ri.id, model, resp, ireq.want_url, urls);
    co_return co_await reply(ri, 200, body, extra);
  }
  if (route.kind == Kind::replicate_predict) {
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    const auto colon = model.find(':');
    const std::string body = hf::render_replicate_prediction(
        origin, hf::random_id(), model.substr(0, colon),
        colon == std::string::npos ? std::string_view{} : std::string_view(model).substr(colon + 1),
        ireq, urls, unix_now(), seconds);
    co_return co_await reply(ri, 201, body, extra);
  }
  // fal: the result itself (synchronous run), or kept for the queue's result call.
  std::string result = hf::render_fal_result(ireq, urls, resp);
  if (!route.queue) co_return co_await reply(ri, 200, result, extra);
  const std::string id = hf_store().put_result(who.key_id(), std::move(result));
  if (id.empty()) {
    co_return co_await reply_hf_error(
        ri, api::Error::make(api::ErrorKind::internal, "The result is too large to keep."));
  }
  const std::string body = hf::render_fal_queued(origin, route.model, id);
  co_return co_await reply(ri, 200, body, extra);
}

// After run_guarded of an HF task: the failure in HF's shape, or nullopt on success.
template <class Stream>
awaitable<std::optional<bool>> Session<Stream>::hf_settle(RequestInfo& ri, RaceEnd end,
                                                          const Outcome& o) {
  record_outcome(ri, o);
  if (end == RaceEnd::client_gone) {
    ri.rec.status = 499;
    ri.error_class = "client_closed";
    co_return false;
  }
  if (end == RaceEnd::timed_out) {
    co_return co_await reply_hf_error(
        ri, api::Error::make(api::ErrorKind::timeout, "The request timed out.", "", "timeout"));
  }
  if (o.ok) co_return std::nullopt;
  api::Error err = o.error;
  // The HF client retries a 503 at once and without bound (src/utils/request.ts): "no healthy
  // deployment" is answered 502 on these routes so it does not spin.
  if (err.status == 503) err.status = 502;
  co_return co_await reply_hf_error(ri, err);
}
// ---- end of Hugging Face routes (hf) ------------------------------------------------------------

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
