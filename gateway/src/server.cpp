#include "server.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/rand.h>

#include "infergate/adapters/http_client.hpp"
#ifdef INFERGATE_WITH_ENGINE
#include "local_adapter.hpp"
#endif
#include "session.hpp"

namespace infergate::gateway {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    // Request ids only need to be unique-ish; fall back to the clock.
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (std::size_t i = 0; i < bytes; ++i) buf[i] = static_cast<unsigned char>(t >> (8 * (i % 8)));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

asio::awaitable<void> accept_loop(Worker& w) {
  auto& acceptor = w.acceptor();
  const auto max_connections =
      static_cast<std::int64_t>(w.services().config.server.max_connections);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors or similar: back off briefly instead of spinning.
      asio::steady_timer t(w.io(), std::chrono::milliseconds(20));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (w.services().connections.load(std::memory_order_relaxed) >= max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // over the limit: refuse rather than degrade everyone
      continue;
    }
    asio::co_spawn(w.io(), run_session(w, std::move(socket)), asio::detached);
  }
}

// Keeps a timer due within a second at the top of the I/O thread's timer heap. Every read and
// write arms a timeout (Beast's tcp_stream, the upstream client); when the new timer is the
// earliest, Asio reprograms its timerfd: one syscall each, six per proxied request. Timeouts are
// all a second or more away, so under the anchor they never become the earliest. Costs one
// wake-up per second per I/O thread.
asio::awaitable<void> timer_anchor(asio::io_context& io) {
  asio::steady_timer t(io);
  for (;;) {
    t.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

// Lets the process hold as many sockets as the hard limit allows (one per client + upstream).
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

Services::Services(const config::Config& cfg)
    : config(cfg),
      keys(cfg.keys),
      router(cfg),
      log(cfg.server.access_log),
      instance_id(random_hex(4)) {}

bool Services::create_adapters(std::string* error) {
  for (const auto& p : config.providers) {
    std::unique_ptr<adapters::Adapter> a;
    std::string why;
#ifdef INFERGATE_WITH_ENGINE
    if (p.type == "local") a = adapters::make_local_adapter(p, &why);
#endif
    if (p.type != "local") a = adapters::make_adapter(p);
    if (!a) {
      *error = "provider '" + p.name + "' (type " + p.type +
               "): " + (why.empty() ? std::string("no adapter for this type") : why);
      return false;
    }
    adapters.emplace(&p, std::move(a));
  }
  return true;
}

Services::~Services() = default;

Worker::Worker(Services& services, int index, asio::ssl::context* tls)
    : services_(services),
      index_(index),
      http_(std::make_unique<adapters::HttpClient>(io_.get_executor())),
      tls_(tls) {}

Worker::~Worker() = default;

std::string Worker::next_request_id() {
  // <instance>-<worker><counter>: unique per process without coordination between threads.
  // Formatted by hand: snprintf cost ~1.6k instructions per request.
  static constexpr char kHex[] = "0123456789abcdef";
  char tail[32];
  char* end = tail + sizeof tail;
  char* p = end;
  auto put_hex = [&p](unsigned long long v, int min_digits) {
    for (int i = 0; v != 0 || i < min_digits; ++i, v >>= 4) *--p = kHex[v & 0xf];
  };
  put_hex(static_cast<unsigned long long>(++request_counter_), 8);
  put_hex(static_cast<unsigned long long>(index_), 1);
  std::string id;
  id.reserve(services_.instance_id.size() + 1 + static_cast<std::size_t>(end - p));
  id.append(services_.instance_id).append(1, '-').append(p, end);
  return id;
}

void Worker::begin_drain() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto* c : connections_)
    if (c->idle && c->socket) c->socket->cancel(ignored);
}

Server::Server(const config::Config& cfg) : config_(cfg), services_(cfg) {}

Server::~Server() = default;

bool Server::listen(std::string* error) {
  raise_fd_limit();
  if (!services_.create_adapters(error)) return false;
  const auto& sc = config_.server;
  if (sc.tls) {
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    boost::system::error_code ec;
    tls_->use_certificate_chain_file(sc.tls->cert_file, ec);
    if (!ec) tls_->use_private_key_file(sc.tls->key_file, asio::ssl::context::pem, ec);
    if (ec) {
      *error = "TLS: cannot load certificate or key: " + ec.message();
      return false;
    }
  }
  int threads = sc.io_threads > 0
                    ? sc.io_threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(sc.host, ec);
  if (ec) {
    *error = "server.host: '" + sc.host + "' is not an IP address";
    return false;
  }
  std::uint16_t port = sc.port;
  for (int i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>(services_, i, tls_.get());
    auto& acc = w->acceptor();
    const tcp::endpoint ep(address, port);
    acc.open(ep.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc.set_option(reuse_port(true), ec);
    if (!ec) acc.bind(ep, ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *error = "cannot listen on " + sc.host + ":" + std::to_string(port) + ": " + ec.message();
      return false;
    }
    port = acc.local_endpoint().port();  // the first bind picks the port when 0 was asked
    workers_.push_back(std::move(w));
  }
  port_ = port;
  if (!sc.port_file.empty()) {
    const std::string tmp = sc.port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << port_ << "\n";
    }
    std::rename(tmp.c_str(), sc.port_file.c_str());
  }
  return true;
}

namespace {

// Runs an I/O thread's loop. With a spin window, the thread keeps polling for that long after its
// last handler before it blocks in epoll_wait: a request or upstream chunk that arrives within
// the window is handled without the wake-up of a sleeping thread (tens to hundreds of µs on a
// virtual machine). Idle threads still block, so an idle gateway uses no CPU.
void run_io(asio::io_context& io, std::chrono::microseconds spin) {
  if (spin.count() <= 0) {
    io.run();
    return;
  }
  using clock = std::chrono::steady_clock;
  auto last_work = clock::now();
  while (!io.stopped()) {
    if (io.poll() > 0) {
      last_work = clock::now();
      continue;
    }
    if (io.stopped()) break;
    if (clock::now() - last_work < spin) {
      sched_yield();  // let a runnable neighbour on this core go first
      continue;
    }
    io.run_one();
    last_work = clock::now();
  }
}

}  // namespace

int Server::run() {
  for (auto& w : workers_) {
    asio::co_spawn(w->io(), accept_loop(*w), asio::detached);
    asio::co_spawn(w->io(), timer_anchor(w->io()), asio::detached);
  }

  auto& main_io = workers_.front()->io();
  asio::signal_set signals(main_io, SIGINT, SIGTERM);
  const auto grace = config_.server.shutdown_grace;
  std::atomic<bool> stopping{false};

  auto stop_all = [this] {
    for (auto& w : workers_) w->io().stop();
  };

  // On the first signal: stop accepting, close idle connections, let in-flight requests finish
  // (they answer with Connection: close), then stop at the grace deadline at the latest.
  // A second signal stops at once.
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        if (stopping.exchange(true)) {
          stop_all();
          return;
        }
        std::fprintf(stderr, "infergate: draining (up to %lld ms)\n",
                     static_cast<long long>(grace.count()));
        services_.draining.store(true);
        for (auto& w : workers_) asio::post(w->io(), [wp = w.get()] { wp->begin_drain(); });
        asio::co_spawn(
            main_io,
            [&, grace, stop_all]() -> asio::awaitable<void> {
              const auto deadline = std::chrono::steady_clock::now() + grace;
              asio::steady_timer t(main_io);
              while (services_.connections.load() > 0 &&
                     std::chrono::steady_clock::now() < deadline) {
                t.expires_after(std::chrono::milliseconds(10));
                co_await t.async_wait(asio::use_awaitable);
              }
              stop_all();
            },
            asio::detached);
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  const std::chrono::microseconds spin(config_.server.busy_poll_us);
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers_.size(); ++i)
    threads.emplace_back([w = workers_[i].get(), spin] { run_io(w->io(), spin); });
  run_io(main_io, spin);
  stop_all();
  for (auto& t : threads) t.join();
  std::fprintf(stderr, "infergate: stopped\n");
  return 0;
}

}  // namespace infergate::gateway
