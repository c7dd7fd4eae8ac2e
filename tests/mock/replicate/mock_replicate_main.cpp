// infergate-mock-replicate: a fake Replicate HTTP API for integration tests. It speaks
// POST /v1/models/{owner}/{name}/predictions, POST /v1/predictions (with "version"),
// GET /v1/predictions/{id}, POST /v1/predictions/{id}/cancel, the SSE stream at urls.stream
// (GET /v1/stream/{id}) and the files it names (GET /files/{id}/{n}.png, real PNGs); it requires
// `Authorization: Bearer` (or `Token`), validates inputs per model family (replicate_mock.hpp),
// and misbehaves on request through the x-mock-behaviour header ("polls=2&fail=1&..."). Also
// GET /_mock/last_request, GET /_mock/stats, POST /_mock/reset. See README.md beside this file.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
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

#include "replicate_mock.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using json = nlohmann::json;
namespace rm = infergate::mock::replicate;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxFailKeys = 100000;
constexpr std::size_t kMaxPredictions = 10000;

struct Prediction {
  std::string id;
  std::string model;  // owner/name, or the version id
  rm::Family family = rm::Family::language;
  json input;
  infergate::mock::Behaviour b;
  rm::Extra x;
  int polls_left = 0;
  std::string status = "starting";
  bool stream = false;
  std::vector<std::string> tokens;  // language output
  std::vector<std::string> files;   // image bytes
  std::string base;                 // "http://host:port" as the client addressed us
  std::int64_t input_tokens = 0;
};

struct State {
  std::mutex mu;
  std::uint64_t requests = 0, creates = 0, polls = 0, streams_started = 0, streams_completed = 0,
                file_fetches = 0, cancels = 0, injected_failures = 0, next_id = 0;
  std::map<std::string, int> fail_seen;
  std::map<std::string, Prediction> predictions;
  json last = nullptr;
};

using Request = http::request<http::string_body>;

std::string head(int status, std::string_view content_type, std::size_t length,
                 std::string_view extra = {}) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " +
                  std::string(http::obsolete_reason(static_cast<http::status>(status))) +
                  "\r\nContent-Type: " + std::string(content_type) +
                  "\r\nContent-Length: " + std::to_string(length) + "\r\n";
  h += extra;
  h += "\r\n";
  return h;
}

asio::awaitable<bool> write(tcp::socket& s, const std::string& data) {
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(data), kTok);
  (void)n;
  co_return !ec;
}

asio::awaitable<bool> respond(tcp::socket& s, int status, std::string_view body,
                              std::string_view extra = {},
                              std::string_view type = "application/json") {
  co_return co_await write(s, head(status, type, body.size(), extra) + std::string(body));
}

asio::awaitable<void> sleep_ms(tcp::socket& s, int ms) {
  if (ms <= 0) co_return;
  asio::steady_timer t(s.get_executor(), std::chrono::milliseconds(ms));
  co_await t.async_wait(kTok);
}

std::string chunk(std::string_view data) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool terminal(const std::string& status) {
  return status == "succeeded" || status == "failed" || status == "canceled";
}

// Finishes a prediction (its outcome was decided at creation).
void complete(Prediction& p) {
  if (terminal(p.status)) return;
  p.status = p.x.prediction_fail ? "failed" : "succeeded";
}

json to_json(const Prediction& p) {
  json j = {{"id", p.id},
            {"model", p.model},
            {"version", "dp-mock0000000000000000000000000000"},
            {"input", p.input},
            {"logs", ""},
            {"output", nullptr},
            {"data_removed", false},
            {"error", nullptr},
            {"status", p.status},
            {"created_at", "2025-01-01T00:00:00.000Z"}};
  json urls = {{"get", p.base + "/v1/predictions/" + p.id},
               {"cancel", p.base + "/v1/predictions/" + p.id + "/cancel"},
               {"web", "https://replicate.com/p/" + p.id}};
  if (p.stream || p.family == rm::Family::language) urls["stream"] = p.base + "/v1/stream/" + p.id;
  j["urls"] = urls;
  if (p.status == "failed") j["error"] = "mock prediction failed: CUDA out of memory";
  if (p.status == "succeeded") {
    j["completed_at"] = "2025-01-01T00:00:01.000Z";
    if (p.family == rm::Family::language) {
      j["output"] = p.tokens;
      j["metrics"] = {{"predict_time", 0.01},
                      {"input_token_count", p.input_tokens},
                      {"output_token_count", p.tokens.size()},
                      {"tokens_per_second", 100.0}};
    } else {
      json out = json::array();
      for (std::size_t i = 0; i < p.files.size(); ++i) {
        if (p.x.data_uri) {
          out.push_back("data:image/png;base64," + rm::base64(p.files[i]));
        } else {
          out.push_back(p.base + "/files/" + p.id + "/" + std::to_string(i) + ".png");
        }
      }
      // Single-output models answer a string; these schemas always take num_outputs: a list.
      j["output"] = std::move(out);
      j["metrics"] = {{"predict_time", 0.01}, {"image_count", p.files.size()}};
    }
  }
  return j;
}

bool authorized(const Request& req) {
  const auto a = req.find(http::field::authorization);
  if (a == req.end()) return false;
  const std::string_view v = a->value();
  return (v.rfind("Bearer ", 0) == 0 && v.size() > 7) ||
         (v.rfind("Token ", 0) == 0 && v.size() > 6);
}

asio::awaitable<bool> unauthenticated(tcp::socket& s) {
  co_return co_await respond(
      s, 401, rm::problem(401, "Unauthenticated", "You did not pass a valid authentication token"));
}

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= path.size()) {
    const auto j = path.find('/', i);
    out.emplace_back(path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

// GET /v1/stream/{id}: the prediction's output as server-sent events.
asio::awaitable<bool> stream(tcp::socket& s, const std::string& id, State& st) {
  Prediction p;
  {
    std::lock_guard lock(st.mu);
    auto it = st.predictions.find(id);
    if (it == st.predictions.end() || it->second.family != rm::Family::language) {
      p.id.clear();
    } else {
      p = it->second;
      ++st.streams_started;
    }
  }
  if (p.id.empty())
    co_return co_await respond(
        s, 404, rm::problem(404, "Not found", "The requested resource could not be found."));
  bool ok = co_await write(s,
                           "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: "
                           "no-store\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (std::size_t i = 0; ok && i < p.tokens.size(); ++i) {
    if (p.x.stream_error >= 0 && static_cast<int>(i) == p.x.stream_error) break;
    if (p.b.reset_after >= 0 && static_cast<int>(i) == p.b.reset_after) {
      co_await sleep_ms(s, 20);
      boost::system::error_code ec;
      s.set_option(asio::socket_base::linger(true, 0), ec);
      s.close(ec);
      co_return false;
    }
    if (i > 0) co_await sleep_ms(s, p.b.token_delay_ms);
    std::string ev = "event: output\nid: " + p.id + ":" + std::to_string(i) + "\n";
    // One data line per line of the token (the SSE framing of multi-line data).
    std::string_view t = p.tokens[i];
    for (;;) {
      const auto nl = t.find('\n');
      ev += "data: " + std::string(t.substr(0, nl)) + "\n";
      if (nl == std::string_view::npos) break;
      t.remove_prefix(nl + 1);
    }
    ev += "\n";
    ok = co_await write(s, chunk(ev));
  }
  std::string end;
  if (p.x.stream_error >= 0 || p.x.prediction_fail) {
    end =
        "event: error\ndata: {\"detail\": \"mock prediction failed: CUDA out of memory\"}\n\n"
        "event: done\ndata: {\"reason\": \"error\"}\n\n";
  } else {
    end = "event: done\ndata: {}\n\n";
  }
  if (ok) ok = co_await write(s, chunk(end));
  if (ok) ok = co_await write(s, "0\r\n\r\n");
  {
    std::lock_guard lock(st.mu);
    auto it = st.predictions.find(p.id);
    if (it != st.predictions.end()) {
      it->second.status = p.x.stream_error >= 0 || p.x.prediction_fail ? "failed" : "succeeded";
      it->second.polls_left = 0;
    }
    if (ok) ++st.streams_completed;
  }
  co_return ok;
}

asio::awaitable<bool> create(tcp::socket& s, const Request& req,
                             const std::vector<std::string>& parts, const std::string& base,
                             State& st);

// Returns whether the connection may serve another request.
asio::awaitable<bool> handle(tcp::socket& s, const Request& req, State& st) {
  std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  if (req.method() == http::verb::get && path == "/_mock/last_request") {
    json last;
    {
      std::lock_guard lock(st.mu);
      last = st.last;
    }
    if (last.is_null()) co_return co_await respond(s, 404, rm::problem(404, "Not found", "none"));
    co_return co_await respond(s, 200, last.dump());
  }
  if (req.method() == http::verb::get && path == "/_mock/stats") {
    json j;
    {
      std::lock_guard lock(st.mu);
      j = {{"requests", st.requests},
           {"creates", st.creates},
           {"polls", st.polls},
           {"streams_started", st.streams_started},
           {"streams_completed", st.streams_completed},
           {"file_fetches", st.file_fetches},
           {"cancels", st.cancels},
           {"injected_failures", st.injected_failures}};
    }
    co_return co_await respond(s, 200, j.dump());
  }
  if (req.method() == http::verb::post && path == "/_mock/reset") {
    {
      std::lock_guard lock(st.mu);
      st.requests = st.creates = st.polls = st.streams_started = st.streams_completed =
          st.file_fetches = st.cancels = st.injected_failures = 0;
      st.fail_seen.clear();
      st.predictions.clear();
      st.last = nullptr;
    }
    co_return co_await respond(s, 200, "{}");
  }
  {
    std::lock_guard lock(st.mu);
    ++st.requests;
  }
  const auto parts = split(path);  // "", "v1", ...
  const auto host_it = req.find(http::field::host);
  const std::string base =
      "http://" + (host_it == req.end() ? std::string("127.0.0.1") : std::string(host_it->value()));

  // GET /files/{id}/{n}.png: the generated files (no auth, like replicate.delivery).
  if (req.method() == http::verb::get && parts.size() == 4 && parts[1] == "files") {
    std::string bytes;
    {
      std::lock_guard lock(st.mu);
      ++st.file_fetches;
      auto it = st.predictions.find(parts[2]);
      const std::size_t n = std::strtoul(parts[3].c_str(), nullptr, 10);
      if (it != st.predictions.end() && n < it->second.files.size()) bytes = it->second.files[n];
    }
    if (bytes.empty()) co_return co_await respond(s, 404, "not found", {}, "text/plain");
    co_return co_await respond(s, 200, bytes, {}, "image/png");
  }

  if (parts.size() < 3 || parts[1] != "v1") {
    co_return co_await respond(
        s, 404, rm::problem(404, "Not found", "The requested resource could not be found."));
  }
  if (!authorized(req)) co_return co_await unauthenticated(s);

  // GET /v1/predictions/{id}, POST /v1/predictions/{id}/cancel
  if (parts[2] == "predictions" && parts.size() >= 4) {
    json answer;
    {
      std::lock_guard lock(st.mu);
      auto it = st.predictions.find(parts[3]);
      if (it == st.predictions.end()) {
        answer = nullptr;
      } else {
        Prediction& p = it->second;
        if (req.method() == http::verb::post && parts.size() == 5 && parts[4] == "cancel") {
          ++st.cancels;
          if (!terminal(p.status)) p.status = "canceled";
        } else if (req.method() == http::verb::get && parts.size() == 4) {
          ++st.polls;
          if (!terminal(p.status)) {
            if (p.polls_left > 0) {
              --p.polls_left;
              p.status = "processing";
            } else {
              complete(p);
            }
          }
        }
        answer = to_json(p);
      }
    }
    if (answer.is_null())
      co_return co_await respond(
          s, 404, rm::problem(404, "Not found", "The requested resource could not be found."));
    co_return co_await respond(s, 200, answer.dump());
  }

  // GET /v1/stream/{id}: the prediction's output as server-sent events.
  if (req.method() == http::verb::get && parts[2] == "stream" && parts.size() == 4)
    co_return co_await stream(s, parts[3], st);

  co_return co_await create(s, req, parts, base, st);
}

asio::awaitable<bool> create(tcp::socket& s, const Request& req,
                             const std::vector<std::string>& parts, const std::string& base,
                             State& st) {
  const std::string target(req.target());
  // POST /v1/models/{owner}/{name}/predictions, POST /v1/predictions
  const bool by_model = parts.size() == 6 && parts[2] == "models" && parts[5] == "predictions";
  const bool by_version = parts.size() == 3 && parts[2] == "predictions";
  if (req.method() != http::verb::post || (!by_model && !by_version)) {
    co_return co_await respond(
        s, 404, rm::problem(404, "Not found", "The requested resource could not be found."));
  }
  json body = json::parse(req.body(), nullptr, false);
  {
    json headers = json::object();
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers[name] = std::string(f.value());
    }
    json last = {
        {"method", std::string(req.method_string())}, {"target", target}, {"headers", headers}};
    if (body.is_discarded()) {
      last["body_raw"] = req.body();
    } else {
      last["body"] = body;
    }
    std::lock_guard lock(st.mu);
    ++st.creates;
    st.last = std::move(last);
  }
  std::string model;
  if (by_model) {
    model = percent_decode(parts[3]) + "/" + percent_decode(parts[4]);
  } else if (body.is_object() && body.contains("version") && body["version"].is_string()) {
    model = body["version"].get<std::string>();
    if (const auto colon = model.find(':'); colon != std::string::npos)
      model = model.substr(colon + 1);
  } else {
    co_return co_await respond(
        s, 422, rm::problem(422, "Input validation failed", "- version: version is required"));
  }
  if (!body.is_object() || !body.contains("input")) {
    co_return co_await respond(
        s, 422, rm::problem(422, "Input validation failed", "- input: input is required"));
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() != "input" && it.key() != "version" && it.key() != "stream" &&
        it.key() != "webhook" && it.key() != "webhook_events_filter")
      co_return co_await respond(
          s, 422,
          rm::problem(422, "Invalid request",
                      "Additional property " + it.key() + " is not allowed"));
  }

  infergate::mock::Behaviour b;
  rm::Extra x;
  const auto bh = req.find("x-mock-behaviour");
  const std::string behaviour_header = bh == req.end() ? "" : std::string(bh->value());
  if (auto why = rm::parse_behaviour(behaviour_header, b, x); !why.empty())
    co_return co_await respond(s, 400, rm::problem(400, "Bad request", why));

  if (b.fail > 0) {
    bool failing = false;
    {
      std::lock_guard lock(st.mu);
      const std::string fkey = model + "\n" + behaviour_header;
      auto it = st.fail_seen.find(fkey);
      if (it == st.fail_seen.end() && st.fail_seen.size() < kMaxFailKeys)
        it = st.fail_seen.emplace(fkey, 0).first;
      if (it != st.fail_seen.end() && it->second < b.fail) {
        ++it->second;
        ++st.injected_failures;
        failing = true;
      }
    }
    if (failing) {
      const std::string extra =
          b.retry_after_s >= 0 ? "Retry-After: " + std::to_string(b.retry_after_s) + "\r\n" : "";
      if (b.fail_status == 429) {
        const int secs = b.retry_after_s >= 0 ? b.retry_after_s : 1;
        json throttled = json::object();
        throttled["detail"] = "Request was throttled. Expected available in " +
                              std::to_string(secs) + (secs == 1 ? " second." : " seconds.");
        const std::string throttled_body = throttled.dump();
        co_return co_await respond(s, 429, throttled_body, extra);
      }
      co_return co_await respond(
          s, b.fail_status,
          rm::problem(b.fail_status,
                      std::string(http::obsolete_reason(static_cast<http::status>(b.fail_status))),
                      "injected failure"),
          extra);
    }
  }

  const rm::Family family =
      rm::family_of(by_model ? percent_decode(parts[4]) : std::string("language"));
  const auto invalid = rm::validate_input(family, body["input"]);
  if (!invalid.empty()) {
    std::string detail;
    for (const auto& i : invalid) detail += "- " + i.field + ": " + i.description + "\n";
    co_return co_await respond(s, 422,
                               rm::problem(422, "Input validation failed", detail, invalid));
  }
  co_await sleep_ms(s, b.latency_ms);
  if (b.stall) {
    char sink[512];
    for (;;) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(sink), kTok);
      (void)n;
      if (ec) co_return false;
    }
  }

  Prediction p;
  p.model = model;
  p.family = family;
  p.input = body["input"];
  p.b = b;
  p.x = x;
  p.polls_left = x.polls;
  p.base = base;
  p.stream = body.value("stream", false);
  if (family == rm::Family::language) {
    p.tokens = rm::tokens_for(p.input, b);
    p.input_tokens = infergate::mock::count_words(p.input.value("prompt", std::string())) +
                     infergate::mock::count_words(p.input.value("system_prompt", std::string()));
  } else {
    const std::pair<int, int> size = rm::png_size(family, p.input);
    const int w = size.first, h = size.second;
    const int n = p.input.value("num_outputs", 1);
    const std::uint32_t seed = static_cast<std::uint32_t>(p.input.value("seed", 0));
    for (int i = 0; i < n; ++i)
      p.files.push_back(rm::png(w, h, seed + static_cast<std::uint32_t>(i)));
  }
  const auto prefer = req.find("prefer");
  const bool wait = prefer != req.end() && std::string_view(prefer->value()).rfind("wait", 0) == 0;
  if (wait && x.polls == 0 && !p.stream) complete(p);
  json answer;
  {
    std::lock_guard lock(st.mu);
    std::string num = std::to_string(++st.next_id);
    p.id = "mockp" + std::string(num.size() < 12 ? 12 - num.size() : 0, '0') + num;
    while (st.predictions.size() >= kMaxPredictions) st.predictions.erase(st.predictions.begin());
    answer = to_json(p);
    st.predictions.emplace(p.id, std::move(p));
  }
  co_return co_await respond(s, 201, answer.dump());
}

asio::awaitable<void> session(tcp::socket s, State& st) {
  boost::beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    auto [ec, n] = co_await http::async_read(s, buf, parser, kTok);
    (void)n;
    if (ec) co_return;
    Request req = parser.release();
    const bool keep = req.keep_alive();
    if (!co_await handle(s, req, st) || !keep || !s.is_open()) break;
  }
  boost::system::error_code ec;
  s.shutdown(tcp::socket::shutdown_both, ec);
  s.close(ec);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, State& st) {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(kTok);
    if (ec) co_return;
    // Events go out as written (no Nagle delay): also what makes reset_after deterministic, as
    // an RST discards data still queued for sending.
    boost::system::error_code opt_ec;
    sock.set_option(tcp::no_delay(true), opt_ec);
    asio::co_spawn(acceptor.get_executor(), session(std::move(sock), st), asio::detached);
  }
}

bool write_port_file(const std::string& path, unsigned port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << port << '\n';
    if (!f.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

constexpr std::string_view kUsage =
    "usage: infergate-mock-replicate [--host ADDR] [--port N] [--port-file PATH] [--threads N]\n";

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", port_file;
  long port = 8083, threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "infergate-mock-replicate: " << arg << " needs a value\n" << kUsage;
      return 2;
    }
    const std::string value = argv[++i];
    char* end = nullptr;
    const long n = std::strtol(value.c_str(), &end, 10);
    const bool numeric = end && *end == '\0' && !value.empty();
    if (arg == "--host") {
      host = value;
    } else if (arg == "--port-file") {
      port_file = value;
    } else if (arg == "--port" && numeric && n >= 0 && n <= 65535) {
      port = n;
    } else if (arg == "--threads" && numeric && n >= 1 && n <= 64) {
      threads = n;
    } else {
      std::cerr << "infergate-mock-replicate: bad option " << arg << ' ' << value << '\n' << kUsage;
      return 2;
    }
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    asio::io_context io;
    tcp::acceptor acceptor(io);
    const tcp::endpoint ep(asio::ip::make_address(host), static_cast<unsigned short>(port));
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen();
    State st;
    asio::co_spawn(io, accept_loop(acceptor, st), asio::detached);
    std::vector<std::thread> pool;
    for (long t = 0; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
    const unsigned bound = acceptor.local_endpoint().port();
    if (!port_file.empty() && !write_port_file(port_file, bound)) {
      std::cerr << "infergate-mock-replicate: cannot write " << port_file << '\n';
      io.stop();
      for (auto& t : pool) t.join();
      return 1;
    }
    std::cerr << "infergate-mock-replicate listening on " << host << ':' << bound << '\n';
    int sig = 0;
    sigwait(&stop_signals, &sig);
    io.stop();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::cerr << "infergate-mock-replicate: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
