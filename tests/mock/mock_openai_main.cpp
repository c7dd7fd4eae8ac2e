// infergate-mock-openai: a fake OpenAI-compatible provider for tests, the quickstart and the
// proxy benchmark. Behaviours (latency, failures, resets, stalls, tool calls, ...) are chosen per
// request from the model id, e.g. "gpt?latency_ms=200&fail=2"; see tests/mock/README.md.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "mock_server.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: infergate-mock-openai [--host ADDR] [--port N] [--port-file PATH] [--threads N]\n"
    "                             [--latency-ms N]\n"
    "  --host        listen address (default 127.0.0.1)\n"
    "  --port        listen port, 0 = ephemeral (default 8081)\n"
    "  --port-file   write the bound port to PATH (atomically) once listening\n"
    "  --threads     I/O threads (default 1)\n"
    "  --latency-ms  default delay before answering a chat request (default 0)\n";

bool parse_number(const char* s, long lo, long hi, long& out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
  out = v;
  return true;
}

// Thousands of concurrent connections need thousands of descriptors: take what the hard limit
// allows.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
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

}  // namespace

int main(int argc, char** argv) {
  infergate::mock::ServerOptions options;
  options.port = 8081;
  std::string port_file;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "infergate-mock-openai: " << arg << " needs a value\n" << kUsage;
      return 2;
    }
    const char* value = argv[++i];
    long n = 0;
    if (arg == "--host") {
      options.host = value;
    } else if (arg == "--port-file") {
      port_file = value;
    } else if (arg == "--port" && parse_number(value, 0, 65535, n)) {
      options.port = static_cast<std::uint16_t>(n);
    } else if (arg == "--threads" && parse_number(value, 1, 256, n)) {
      options.threads = static_cast<int>(n);
    } else if (arg == "--latency-ms" && parse_number(value, 0, 600000, n)) {
      options.latency_ms = static_cast<int>(n);
    } else {
      std::cerr << "infergate-mock-openai: bad option " << arg << ' ' << value << '\n' << kUsage;
      return 2;
    }
  }

  raise_fd_limit();
  // Block the stop signals in every thread; main waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    infergate::mock::Server server(options);
    server.start();
    const unsigned port = server.port();
    if (!port_file.empty() && !write_port_file(port_file, port)) {
      std::cerr << "infergate-mock-openai: cannot write " << port_file << '\n';
      return 1;
    }
    std::cerr << "infergate-mock-openai listening on " << options.host << ':' << port << " ("
              << options.threads << " thread" << (options.threads == 1 ? "" : "s") << ")\n";
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  } catch (const std::exception& e) {
    std::cerr << "infergate-mock-openai: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
