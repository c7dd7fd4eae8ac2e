// load_probe: many concurrent keep-alive connections, each sending chat requests back to back.
//
//   load_probe --connections C (--duration S | --requests N) [--ramp-ms R] [--timeout-s T]
//              [--stream] [--watch-pid PID] TARGET
//   TARGET = label=host:port:model[:key]
//
// Connections open spread over --ramp-ms (so a burst of SYNs does not overflow the listen
// backlog), then each loops request → response until the duration is over or N requests were
// sent; requests in flight at the end are awaited, so every request is accounted for. Reports
// 2xx / non-2xx / errors by kind, the peak number of requests in flight, throughput and latency.
// --watch-pid samples that process's VmRSS every 50 ms and reports the peak.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
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
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "probe_http.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using infergate::bench::Target;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

struct Options {
  long connections = 100;
  double duration_s = 0;
  long requests = 0;
  long ramp_ms = 1000;
  long timeout_s = 30;
  bool stream = false;
  long watch_pid = 0;
};

struct Counters {
  long sent = 0;
  long ok = 0;
  long non2xx = 0;
  long connect_errors = 0;
  long io_errors = 0;
  long timeouts = 0;
  long in_flight = 0;
  long peak_in_flight = 0;
  long connections_open = 0;
  long peak_connections = 0;
  std::vector<float> latency_us;
};

long read_rss_kib(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

class Load {
 public:
  Load(asio::io_context& ioc, Options o, Target t)
      : ioc_(ioc),
        o_(o),
        target_(std::move(t)),
        request_(infergate::bench::chat_request(target_, o_.stream, "Load test, please answer")) {
    endpoint_ = tcp::endpoint(asio::ip::make_address(target_.host),
                              static_cast<unsigned short>(target_.port));
    c_.latency_us.reserve(static_cast<std::size_t>(o_.requests > 0 ? o_.requests : 1 << 20));
  }

  void start() {
    start_ = std::chrono::steady_clock::now();
    if (o_.duration_s > 0) {
      asio::co_spawn(ioc_, stop_after(), asio::detached);
    }
    if (o_.watch_pid > 0) asio::co_spawn(ioc_, watch(), asio::detached);
    for (long i = 0; i < o_.connections; ++i) {
      auto delay = std::chrono::microseconds(o_.ramp_ms * 1000 * i / std::max(1L, o_.connections));
      asio::co_spawn(ioc_, connection(delay), asio::detached);
    }
  }

  const Counters& counters() const { return c_; }
  double elapsed_s() const { return elapsed_s_; }
  long peak_rss_kib() const { return peak_rss_kib_; }

 private:
  bool more() {
    if (stop_) return false;
    if (o_.requests > 0 && c_.sent >= o_.requests) return false;
    return true;
  }

  asio::awaitable<void> stop_after() {
    asio::steady_timer t(ioc_, std::chrono::milliseconds(static_cast<long>(o_.duration_s * 1000)));
    co_await t.async_wait(kUseTuple);
    stop_ = true;
  }

  asio::awaitable<void> watch() {
    asio::steady_timer t(ioc_);
    while (live_ > 0 || !started_all_) {
      peak_rss_kib_ = std::max(peak_rss_kib_, read_rss_kib(o_.watch_pid));
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(kUseTuple);
    }
  }

  asio::awaitable<void> connection(std::chrono::microseconds delay) {
    ++live_;
    if (live_ == o_.connections) started_all_ = true;
    asio::steady_timer t(ioc_, delay);
    co_await t.async_wait(kUseTuple);
    const auto timeout = std::chrono::seconds(o_.timeout_s);
    std::unique_ptr<beast::tcp_stream> stream;
    beast::flat_buffer buf;
    while (more()) {
      if (!stream) {
        stream = std::make_unique<beast::tcp_stream>(ioc_);
        stream->expires_after(timeout);
        auto [ec] = co_await stream->async_connect(endpoint_, kUseTuple);
        if (ec) {
          ++c_.connect_errors;
          stream.reset();
          // Back off briefly, as a real client would, instead of hammering a full backlog.
          t.expires_after(std::chrono::milliseconds(100));
          co_await t.async_wait(kUseTuple);
          continue;
        }
        stream->socket().set_option(tcp::no_delay(true));
        c_.peak_connections = std::max(c_.peak_connections, ++c_.connections_open);
        buf.clear();
      }
      ++c_.sent;
      c_.peak_in_flight = std::max(c_.peak_in_flight, ++c_.in_flight);
      const auto t0 = std::chrono::steady_clock::now();
      stream->expires_after(timeout);
      auto [wec, wn] =
          co_await asio::async_write(stream->socket(), asio::buffer(request_), kUseTuple);
      http::response_parser<http::string_body> parser;
      parser.body_limit(16 * 1024 * 1024);
      beast::error_code rec = wec;
      if (!wec) {
        auto [ec2, rn] = co_await http::async_read(*stream, buf, parser, kUseTuple);
        rec = ec2;
      }
      --c_.in_flight;
      if (rec) {
        (rec == beast::error::timeout ? c_.timeouts : c_.io_errors) += 1;
        --c_.connections_open;
        stream.reset();
        continue;
      }
      const auto us =
          std::chrono::duration<float, std::micro>(std::chrono::steady_clock::now() - t0);
      c_.latency_us.push_back(us.count());
      const unsigned status = parser.get().result_int();
      (status >= 200 && status < 300 ? c_.ok : c_.non2xx) += 1;
      if (!parser.get().keep_alive()) {
        --c_.connections_open;
        stream.reset();
      }
    }
    if (stream) {
      beast::error_code ec;
      stream->socket().shutdown(tcp::socket::shutdown_both, ec);
      --c_.connections_open;
    }
    if (--live_ == 0) {
      elapsed_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
  }

  asio::io_context& ioc_;
  Options o_;
  Target target_;
  std::string request_;
  tcp::endpoint endpoint_;
  Counters c_;
  bool stop_ = false;
  long live_ = 0;
  bool started_all_ = false;
  long peak_rss_kib_ = -1;
  double elapsed_s_ = 0;
  std::chrono::steady_clock::time_point start_;
};

int usage() {
  std::fprintf(stderr,
               "usage: load_probe --connections C (--duration S | --requests N) [--ramp-ms R]\n"
               "                  [--timeout-s T] [--stream] [--watch-pid PID] "
               "label=host:port:model[:key]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<Target> targets;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string_view a = argv[i];
      auto number = [&](double lo, double hi) {
        if (i + 1 >= argc) throw std::invalid_argument(std::string(a) + " needs a value");
        double v = std::strtod(argv[++i], nullptr);
        if (v < lo || v > hi) throw std::invalid_argument(std::string(a) + " out of range");
        return v;
      };
      if (a == "--connections") {
        o.connections = static_cast<long>(number(1, 100000));
      } else if (a == "--duration") {
        o.duration_s = number(0.1, 3600);
      } else if (a == "--requests") {
        o.requests = static_cast<long>(number(1, 1e9));
      } else if (a == "--ramp-ms") {
        o.ramp_ms = static_cast<long>(number(0, 600000));
      } else if (a == "--timeout-s") {
        o.timeout_s = static_cast<long>(number(1, 3600));
      } else if (a == "--watch-pid") {
        o.watch_pid = static_cast<long>(number(1, 1e9));
      } else if (a == "--stream") {
        o.stream = true;
      } else if (a.rfind("--", 0) == 0) {
        return usage();
      } else {
        targets.push_back(infergate::bench::parse_target(a));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "load_probe: %s\n", e.what());
    return usage();
  }
  if (targets.size() != 1 || (o.duration_s <= 0) == (o.requests <= 0)) return usage();

  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 &&
      lim.rlim_cur < static_cast<rlim_t>(o.connections) + 64) {
    std::fprintf(stderr, "load_probe: descriptor limit %ld is too low for %ld connections\n",
                 static_cast<long>(lim.rlim_cur), o.connections);
    return 1;
  }

  asio::io_context ioc(1);
  Load load(ioc, o, targets[0]);
  load.start();
  ioc.run();

  const Counters& c = load.counters();
  std::vector<float> lat = c.latency_us;
  std::sort(lat.begin(), lat.end());
  auto p = [&](double q) {
    if (lat.empty()) return 0.0;
    auto idx = static_cast<std::size_t>(q / 100.0 * static_cast<double>(lat.size() - 1));
    return static_cast<double>(lat[idx]) / 1000.0;
  };
  const double rps =
      load.elapsed_s() > 0 ? static_cast<double>(c.ok + c.non2xx) / load.elapsed_s() : 0;
  std::printf(
      "RESULT %s connections=%ld sent=%ld ok=%ld non2xx=%ld connect_errors=%ld io_errors=%ld "
      "timeouts=%ld peak_in_flight=%ld peak_connections=%ld elapsed_s=%.2f rps=%.0f "
      "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f peak_rss_kib=%ld\n",
      targets[0].label.c_str(), o.connections, c.sent, c.ok, c.non2xx, c.connect_errors,
      c.io_errors, c.timeouts, c.peak_in_flight, c.peak_connections, load.elapsed_s(), rps, p(50),
      p(99), p(100), load.peak_rss_kib());
  const bool clean = c.non2xx == 0 && c.connect_errors == 0 && c.io_errors == 0 && c.timeouts == 0;
  return clean ? 0 : 1;
}
