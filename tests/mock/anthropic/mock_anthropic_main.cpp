// infergate-mock-anthropic: a fake Anthropic Messages API provider for tests. Behaviours (tokens,
// tool calls, failures, resets, ...) are chosen per request from the model id, e.g.
// "claude?fail=2&fail_status=529"; see tests/mock/anthropic/README.md.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "mock_anthropic_server.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: infergate-mock-anthropic [--host ADDR] [--port N] [--port-file PATH] [--threads N]\n"
    "  --host        listen address (default 127.0.0.1)\n"
    "  --port        listen port, 0 = ephemeral (default 8082)\n"
    "  --port-file   write the bound port to PATH (atomically) once listening\n"
    "  --threads     I/O threads (default 1)\n";

bool parse_number(const char* s, long lo, long hi, long& out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
  out = v;
  return true;
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
  infergate::mock::anthropic::ServerOptions options;
  options.port = 8082;
  std::string port_file;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "infergate-mock-anthropic: " << arg << " needs a value\n" << kUsage;
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
    } else {
      std::cerr << "infergate-mock-anthropic: bad option " << arg << ' ' << value << '\n' << kUsage;
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
    infergate::mock::anthropic::Server server(options);
    server.start();
    const unsigned port = server.port();
    if (!port_file.empty() && !write_port_file(port_file, port)) {
      std::cerr << "infergate-mock-anthropic: cannot write " << port_file << '\n';
      return 1;
    }
    std::cerr << "infergate-mock-anthropic listening on " << options.host << ':' << port << '\n';
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  } catch (const std::exception& e) {
    std::cerr << "infergate-mock-anthropic: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
