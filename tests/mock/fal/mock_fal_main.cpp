// infergate-mock-fal: a fake fal Model API for integration tests. It speaks the synchronous run
// (POST /{model_id}), the queue (POST /queue/{model_id}, GET .../requests/{id}/status,
// GET .../requests/{id}, PUT .../requests/{id}/cancel) and serves the files it names
// (GET /files/{id}/{n}.png, real PNGs); it requires `Authorization: Key ...`, validates inputs
// per model (fal_mock.hpp) and misbehaves on request through the x-mock-behaviour header
// ("polls=2&fail=1&fail_status=429&retry_after=3"). Also GET /_mock/last_request,
// GET /_mock/stats, POST /_mock/reset. See README.md beside this file.
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

#include "fal_mock.hpp"
#include "replicate_mock.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using json = nlohmann::json;
namespace fm = infergate::mock::fal;
namespace rm = infergate::mock::replicate;
constexpr auto kTok = asio::as_tuple(asio::use_awaitable);

constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxFailKeys = 100000;
constexpr std::size_t kMaxJobs = 10000;

struct Job {
  std::string id;
  std::string model;  // full model id, e.g. fal-ai/flux/schnell
  std::string app;    // owner/app: what the queue URLs use (no subpath)
  json input;
  rm::Extra x;
  int polls_left = 0;
  std::string error;  // a 422 body when the input was invalid (queue: reported at the result)
  std::vector<std::string> files;
};

struct State {
  std::mutex mu;
  std::uint64_t requests = 0, runs = 0, submits = 0, status_polls = 0, results = 0,
                file_fetches = 0, cancels = 0, injected_failures = 0, next_id = 0;
  std::map<std::string, int> fail_seen;
  std::map<std::string, Job> jobs;
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

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 1;  // past the leading '/'
  while (i <= path.size()) {
    const auto j = path.find('/', i);
    out.emplace_back(path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    if (!out.empty()) out += '/';
    out += parts[i];
  }
  return out;
}

json result_of(const Job& j, const std::string& base) {
  json images = json::array();
  const bool sync = j.input.value("sync_mode", false);
  int w = 1024, h = 768;
  if (j.input.contains("image_size")) {
    const auto px = fm::png_size(j.input);
    w = px.first * 64;
    h = px.second * 64;
  }
  json nsfw = json::array();
  for (std::size_t i = 0; i < j.files.size(); ++i) {
    json img = json::object();
    img["url"] = sync ? "data:image/png;base64," + rm::base64(j.files[i])
                      : base + "/files/" + j.id + "/" + std::to_string(i) + ".png";
    img["width"] = w;
    img["height"] = h;
    img["content_type"] = "image/png";
    images.push_back(std::move(img));
    nsfw.push_back(false);
  }
  json r = json::object();
  r["images"] = std::move(images);
  r["timings"] = json{{"inference", 0.01}};
  r["seed"] = j.input.value("seed", 42);
  r["has_nsfw_concepts"] = std::move(nsfw);
  r["prompt"] = j.input.value("prompt", std::string());
  return r;
}

json queue_urls(const Job& j, const std::string& base) {
  const std::string root = base + "/queue/" + j.app + "/requests/" + j.id;
  json r = json::object();
  r["request_id"] = j.id;
  r["response_url"] = root;
  r["status_url"] = root + "/status";
  r["cancel_url"] = root + "/cancel";
  return r;
}

// Returns whether the connection may serve another request.
asio::awaitable<bool> handle(tcp::socket& s, const Request& req, State& st) {
  const std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  if (req.method() == http::verb::get && path == "/_mock/last_request") {
    json last;
    {
      std::lock_guard lock(st.mu);
      last = st.last;
    }
    if (last.is_null()) co_return co_await respond(s, 404, fm::detail("no request yet"));
    co_return co_await respond(s, 200, last.dump());
  }
  if (req.method() == http::verb::get && path == "/_mock/stats") {
    json j = json::object();
    {
      std::lock_guard lock(st.mu);
      j["requests"] = st.requests;
      j["runs"] = st.runs;
      j["submits"] = st.submits;
      j["status_polls"] = st.status_polls;
      j["results"] = st.results;
      j["file_fetches"] = st.file_fetches;
      j["cancels"] = st.cancels;
      j["injected_failures"] = st.injected_failures;
    }
    co_return co_await respond(s, 200, j.dump());
  }
  if (req.method() == http::verb::post && path == "/_mock/reset") {
    {
      std::lock_guard lock(st.mu);
      st.requests = st.runs = st.submits = st.status_polls = st.results = st.file_fetches =
          st.cancels = st.injected_failures = 0;
      st.fail_seen.clear();
      st.jobs.clear();
      st.last = nullptr;
    }
    co_return co_await respond(s, 200, "{}");
  }
  {
    std::lock_guard lock(st.mu);
    ++st.requests;
  }
  const auto parts = split(path);
  const auto host_it = req.find(http::field::host);
  const std::string base =
      "http://" + (host_it == req.end() ? std::string("127.0.0.1") : std::string(host_it->value()));

  if (req.method() == http::verb::get && parts.size() == 3 && parts[0] == "files") {
    std::string bytes;
    {
      std::lock_guard lock(st.mu);
      ++st.file_fetches;
      auto it = st.jobs.find(parts[1]);
      const std::size_t n = std::strtoul(parts[2].c_str(), nullptr, 10);
      if (it != st.jobs.end() && n < it->second.files.size()) bytes = it->second.files[n];
    }
    if (bytes.empty()) co_return co_await respond(s, 404, fm::detail("File not found"));
    co_return co_await respond(s, 200, bytes, {}, "image/png");
  }

  const auto auth = req.find(http::field::authorization);
  if (auth == req.end() || std::string_view(auth->value()).rfind("Key ", 0) != 0 ||
      auth->value().size() <= 4) {
    co_return co_await respond(
        s, 401, fm::detail("Authentication is required to access this application."));
  }

  // The queue's per-request endpoints: /queue/{owner}/{app}/requests/{id}[/status|/cancel].
  if (parts.size() >= 5 && parts[0] == "queue" && parts[3] == "requests") {
    const std::string& id = parts[4];
    const std::string what = parts.size() >= 6 ? parts[5] : "";
    int status = 200;
    std::string body;
    {
      std::lock_guard lock(st.mu);
      auto it = st.jobs.find(id);
      if (it == st.jobs.end() || it->second.app != parts[1] + "/" + parts[2]) {
        status = 404;
        body = fm::detail("Request not found");
      } else {
        Job& j = it->second;
        if (what == "status" && req.method() == http::verb::get) {
          ++st.status_polls;
          json r = json::object();
          if (j.polls_left > 0) {
            --j.polls_left;
            r["status"] = j.polls_left > 0 ? "IN_QUEUE" : "IN_PROGRESS";
            if (j.polls_left > 0) r["queue_position"] = j.polls_left - 1;
            status = 202;
          } else {
            r["status"] = "COMPLETED";
            r["logs"] = nullptr;
            r["metrics"] = json{{"inference_time", 0.01}};
          }
          r["response_url"] = base + "/queue/" + j.app + "/requests/" + j.id;
          body = r.dump();
        } else if (what == "cancel" && req.method() == http::verb::put) {
          ++st.cancels;
          body = json{{"status", "CANCELLATION_REQUESTED"}}.dump();
          status = 202;
        } else if (what.empty() && req.method() == http::verb::get) {
          ++st.results;
          if (j.polls_left > 0) {
            status = 400;
            body = fm::detail("Request is still in progress");
          } else if (!j.error.empty()) {
            status = 422;
            body = j.error;
          } else {
            body = result_of(j, base).dump();
          }
        } else {
          status = 405;
          body = fm::detail("Method Not Allowed");
        }
      }
    }
    co_return co_await respond(s, status, body);
  }

  if (req.method() != http::verb::post || parts.size() < 2) {
    co_return co_await respond(s, 404, fm::detail("Not Found"));
  }
  const bool queue = parts[0] == "queue";
  const std::size_t first = queue ? 1 : 0;
  if (parts.size() < first + 2) co_return co_await respond(s, 404, fm::detail("Not Found"));
  const std::string model = join(parts, first, parts.size());
  json input = json::parse(req.body(), nullptr, false);
  {
    json headers = json::object();
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers[name] = std::string(f.value());
    }
    json last = json::object();
    last["method"] = std::string(req.method_string());
    last["target"] = target;
    last["model"] = model;
    last["queue"] = queue;
    last["headers"] = headers;
    if (input.is_discarded()) {
      last["body_raw"] = req.body();
    } else {
      last["body"] = input;
    }
    std::lock_guard lock(st.mu);
    ++(queue ? st.submits : st.runs);
    st.last = std::move(last);
  }

  infergate::mock::Behaviour b;
  rm::Extra x;
  const auto bh = req.find("x-mock-behaviour");
  const std::string behaviour_header = bh == req.end() ? std::string() : std::string(bh->value());
  if (auto why = rm::parse_behaviour(behaviour_header, b, x); !why.empty())
    co_return co_await respond(s, 400, fm::detail(why));
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
      std::string extra;
      if (b.retry_after_s >= 0) extra = "Retry-After: " + std::to_string(b.retry_after_s) + "\r\n";
      extra += "X-Fal-Retryable: true\r\n";
      const std::string failure = fm::detail("injected failure");
      co_return co_await respond(s, b.fail_status, failure, extra);
    }
  }

  Job job;
  job.model = model;
  job.app = parts[first] + "/" + parts[first + 1];
  job.input = input;
  job.x = x;
  job.polls_left = queue ? x.polls : 0;
  job.error = fm::validate(model, input);
  if (!queue && !job.error.empty()) co_return co_await respond(s, 422, job.error);
  co_await sleep_ms(s, b.latency_ms);
  if (job.error.empty()) {
    const auto px = fm::png_size(input);
    const int n = input.value("num_images", 1);
    const auto seed = static_cast<std::uint32_t>(input.value("seed", 0));
    for (int i = 0; i < n; ++i)
      job.files.push_back(rm::png(px.first, px.second, seed + static_cast<std::uint32_t>(i)));
  }
  json answer;
  {
    std::lock_guard lock(st.mu);
    const std::string num = std::to_string(++st.next_id);
    job.id = "mockf-" + std::string(num.size() < 12 ? 12 - num.size() : 0, '0') + num;
    while (st.jobs.size() >= kMaxJobs) st.jobs.erase(st.jobs.begin());
    answer = queue ? queue_urls(job, base) : result_of(job, base);
    if (queue) answer["queue_position"] = 0;
    st.jobs.emplace(job.id, std::move(job));
  }
  co_return co_await respond(s, 200, answer.dump());
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
    "usage: infergate-mock-fal [--host ADDR] [--port N] [--port-file PATH] [--threads N]\n";

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", port_file;
  long port = 8084, threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "infergate-mock-fal: " << arg << " needs a value\n" << kUsage;
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
      std::cerr << "infergate-mock-fal: bad option " << arg << ' ' << value << '\n' << kUsage;
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
      std::cerr << "infergate-mock-fal: cannot write " << port_file << '\n';
      io.stop();
      for (auto& t : pool) t.join();
      return 1;
    }
    std::cerr << "infergate-mock-fal listening on " << host << ':' << bound << '\n';
    int sig = 0;
    sigwait(&stop_signals, &sig);
    io.stop();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::cerr << "infergate-mock-fal: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
