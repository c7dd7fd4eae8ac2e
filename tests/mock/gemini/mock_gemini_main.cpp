// infergate-mock-gemini: a fake Gemini API provider for integration tests. It speaks
// POST /v1beta/models/{model}:generateContent and :streamGenerateContent?alt=sse (Gemini's wire
// format, see gemini_mock.hpp) and :countTokens, requires an API key (x-goog-api-key header or
// ?key=), answers invalid bodies with 400 in Google's error shape, and misbehaves on request
// through the OpenAI mock's behaviours in the model id ("gemini-mock?tokens=3&fail=1",
// percent-encoded in the path) or the x-mock-behaviour header. Also GET /_mock/last_request, GET
// /_mock/stats, POST /_mock/reset. See README.md beside this file.
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

#include "gemini_mock.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using json = nlohmann::json;
namespace gm = infergate::mock::gemini;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxFailKeys = 100000;

struct State {
  std::mutex mu;
  std::uint64_t requests = 0, count_requests = 0, streams_started = 0, streams_completed = 0,
                abandoned_streams = 0, resets = 0, injected_failures = 0, next_id = 0;
  std::map<std::string, int> fail_seen;
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
                              std::string_view extra = {}) {
  co_return co_await write(
      s, head(status, "application/json; charset=UTF-8", body.size(), extra) + std::string(body));
}

asio::awaitable<void> sleep_ms(tcp::socket& s, int ms) {
  if (ms <= 0) co_return;
  asio::steady_timer t(s.get_executor(), std::chrono::milliseconds(ms));
  co_await t.async_wait(kTok);
}

void reset(tcp::socket& s, State& st) {
  {
    std::lock_guard lock(st.mu);
    ++st.resets;
  }
  boost::system::error_code ec;
  s.set_option(asio::socket_base::linger(true, 0), ec);
  s.close(ec);
}

std::string chunk(std::string_view data) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

// Returns whether the connection may serve another request.
asio::awaitable<bool> handle(tcp::socket& s, const Request& req, State& st) {
  const std::string target(req.target());
  if (req.method() == http::verb::get && target == "/_mock/last_request") {
    json last;
    {
      std::lock_guard lock(st.mu);
      last = st.last;
    }
    if (last.is_null()) co_return co_await respond(s, 404, gm::error_body(404, "no request yet"));
    co_return co_await respond(s, 200, last.dump());
  }
  if (req.method() == http::verb::get && target == "/_mock/stats") {
    json j;
    {
      std::lock_guard lock(st.mu);
      j = {{"requests", st.requests},
           {"count_requests", st.count_requests},
           {"streams_started", st.streams_started},
           {"streams_completed", st.streams_completed},
           {"abandoned_streams", st.abandoned_streams},
           {"resets", st.resets},
           {"injected_failures", st.injected_failures}};
    }
    co_return co_await respond(s, 200, j.dump());
  }
  if (req.method() == http::verb::post && target == "/_mock/reset") {
    {
      std::lock_guard lock(st.mu);
      st.requests = st.count_requests = st.streams_started = st.streams_completed =
          st.abandoned_streams = st.resets = st.injected_failures = 0;
      st.fail_seen.clear();
      st.last = nullptr;
    }
    co_return co_await respond(s, 200, "{}");
  }

  gm::Route route;
  if (req.method() != http::verb::post || !gm::parse_route(target, route)) {
    co_return co_await respond(
        s, 404, gm::error_body(404, "Method not found or models/{model}:{method} path invalid."));
  }
  std::string id;
  {
    json headers = json::object();
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers[name] = std::string(f.value());
    }
    json body = json::parse(req.body(), nullptr, false);
    json last = {{"method", std::string(req.method_string())},
                 {"target", target},
                 {"model", route.model},
                 {"headers", headers}};
    if (body.is_discarded()) {
      last["body_raw"] = req.body();
    } else {
      last["body"] = std::move(body);
    }
    std::lock_guard lock(st.mu);
    ++st.requests;
    st.last = std::move(last);
    id = "mock-" + std::to_string(++st.next_id);
  }

  const auto key = req.find("x-goog-api-key");
  if ((key == req.end() || key->value().empty()) && !route.key_in_query) {
    co_return co_await respond(
        s, 403,
        gm::error_body(403,
                       "Method doesn't allow unregistered callers (callers without established "
                       "identity). Please use API Key or other form of API consumer identity to "
                       "call this API."));
  }

  infergate::mock::Behaviour b;
  const auto bh = req.find("x-mock-behaviour");
  const std::string behaviour_header = bh == req.end() ? "" : std::string(bh->value());
  if (auto why = infergate::mock::behaviour_for(route.model, behaviour_header, b); !why.empty())
    co_return co_await respond(s, 400, gm::error_body(400, why));

  if (b.fail > 0) {
    bool failing = false;
    {
      std::lock_guard lock(st.mu);
      const std::string fkey = route.model + "\n" + behaviour_header;
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
      co_return co_await respond(s, b.fail_status,
                                 gm::error_body(b.fail_status, "injected failure"), extra);
    }
  }

  if (route.method == "countTokens") {
    std::int64_t n = 0;
    if (auto bad = gm::count_tokens(req.body(), route.model, n))
      co_return co_await respond(s, 400, gm::error_body(400, *bad));
    {
      std::lock_guard lock(st.mu);
      ++st.count_requests;
    }
    const std::string count = std::to_string(n);
    co_return co_await respond(s, 200,
                               R"({"totalTokens":)" + count +
                                   R"(,"promptTokensDetails":[{"modality":"TEXT","tokenCount":)" +
                                   count + "}]}");
  }

  gm::Call call;
  if (auto bad = gm::parse_request(req.body(), call))
    co_return co_await respond(s, 400, gm::error_body(400, *bad));

  co_await sleep_ms(s, b.latency_ms);
  if (b.stall) {
    char sink[512];
    for (;;) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(sink), kTok);
      (void)n;
      if (ec) co_return false;
    }
  }
  const infergate::mock::Answer answer = gm::plan(call, b);
  const std::string model_version = route.model.substr(0, route.model.find('?'));

  if (route.method == "generateContent" || !route.alt_sse) {
    if (b.reset_after == 0) {
      reset(s, st);
      co_return false;
    }
    std::string body = gm::response_body(answer, model_version, id);
    if (route.method == "streamGenerateContent") body = "[" + body + "]";  // no alt=sse: an array
    if (b.malformed) body.resize(body.size() / 2);
    co_return co_await respond(s, 200, body);
  }

  {
    std::lock_guard lock(st.mu);
    ++st.streams_started;
  }
  bool ok = co_await write(
      s,
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::size_t events = answer.tool_call ? 1 : std::max<std::size_t>(answer.pieces.size(), 1);
  for (std::size_t i = 0; ok && i < events; ++i) {
    if (b.reset_after >= 0 && static_cast<int>(i) == b.reset_after) {
      co_await sleep_ms(s, 20);  // let the events sent so far be read before the RST
      reset(s, st);
      co_return false;
    }
    if (b.stall_after >= 0 && static_cast<int>(i) == b.stall_after) {
      char sink[512];
      for (;;) {
        auto [ec, n] = co_await s.async_read_some(asio::buffer(sink), kTok);
        (void)n;
        if (ec) break;
      }
      ok = false;
      break;
    }
    if (i > 0) co_await sleep_ms(s, b.token_delay_ms);
    std::string ev = gm::stream_event(answer, model_version, id, i, i + 1 == events);
    if (b.malformed && i == 0) ev = "data: {\"candidates\": [oops\r\n\r\n" + ev;
    ok = co_await write(s, chunk(ev));
  }
  if (ok) ok = co_await write(s, "0\r\n\r\n");
  {
    std::lock_guard lock(st.mu);
    ++(ok ? st.streams_completed : st.abandoned_streams);
  }
  co_return ok;
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
    "usage: infergate-mock-gemini [--host ADDR] [--port N] [--port-file PATH] [--threads N]\n";

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", port_file;
  long port = 8082, threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "infergate-mock-gemini: " << arg << " needs a value\n" << kUsage;
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
      std::cerr << "infergate-mock-gemini: bad option " << arg << ' ' << value << '\n' << kUsage;
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
      std::cerr << "infergate-mock-gemini: cannot write " << port_file << '\n';
      io.stop();
      for (auto& t : pool) t.join();
      return 1;
    }
    std::cerr << "infergate-mock-gemini listening on " << host << ':' << bound << '\n';
    int sig = 0;
    sigwait(&stop_signals, &sig);
    io.stop();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::cerr << "infergate-mock-gemini: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
