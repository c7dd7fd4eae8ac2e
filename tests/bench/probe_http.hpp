// A minimal blocking HTTP/1.1 client for the latency and streaming probes: one keep-alive
// connection, plain POSIX sockets, no allocation per read beyond the response itself. Blocking
// calls on a dedicated thread give the most faithful arrival timestamps; a probe measures one
// request at a time, so nothing is lost by not multiplexing.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::bench {

using Clock = std::chrono::steady_clock;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// One probe target: "label=host:port:model[:key]".
struct Target {
  std::string label;
  std::string host;
  int port = 0;
  std::string model;
  std::string key;
};

inline Target parse_target(std::string_view spec) {
  Target t;
  auto eq = spec.find('=');
  if (eq == std::string_view::npos)
    throw std::invalid_argument("target wants label=host:port:model[:key]");
  t.label = std::string(spec.substr(0, eq));
  std::vector<std::string> parts;
  std::string_view rest = spec.substr(eq + 1);
  for (int i = 0; i < 3; ++i) {
    auto colon = rest.find(':');
    parts.emplace_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) {
      rest = {};
      break;
    }
    rest = rest.substr(colon + 1);
  }
  if (parts.size() < 3) throw std::invalid_argument("target wants label=host:port:model[:key]");
  t.host = parts[0];
  t.port = std::atoi(parts[1].c_str());
  t.model = parts[2];
  t.key = std::string(rest);  // the key may contain ':'
  if (t.port <= 0 || t.port > 65535) throw std::invalid_argument("bad port in target");
  return t;
}

// The request bytes for a chat completion to `t`.
inline std::string chat_request(const Target& t, bool stream, std::string_view content) {
  std::string body = R"({"model":")" + t.model + R"(","messages":[{"role":"user","content":")" +
                     std::string(content) + R"("}])";
  body += stream ? R"(,"stream":true})" : "}";
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: " + t.host +
                    "\r\nContent-Type: application/json\r\n";
  if (!t.key.empty()) req += "Authorization: Bearer " + t.key + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return req;
}

struct Response {
  int status = 0;
  std::string body;  // de-chunked
  bool keep_alive = true;
};

class Connection {
 public:
  explicit Connection(const Target& t) : target_(t) {}
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
    pos_ = 0;
  }

  void ensure_open() {
    if (fd_ >= 0) return;
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0};  // no probe waits forever on a stuck server
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(target_.port));
    if (::inet_pton(AF_INET, target_.host.c_str(), &addr.sin_addr) != 1) {
      throw std::runtime_error("bad IPv4 address " + target_.host);
    }
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int e = errno;
      close();
      throw std::runtime_error("connect to " + target_.label + " failed: " + std::strerror(e));
    }
  }

  void send_all(std::string_view bytes) {
    ensure_open();
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads one response. `on_data(t_ns, bytes)` sees body bytes (de-chunked) as they arrive, with
  // the time the read that brought them returned.
  template <class OnData>
  Response read_response(OnData&& on_data) {
    Response r;
    std::size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n", pos_)) == std::string::npos) fill();
    std::string_view head(buf_.data() + pos_, head_end - pos_);
    r.status = std::atoi(std::string(head.substr(9, 3)).c_str());
    bool chunked = false;
    long long length = -1;
    for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;) {
      std::size_t next = head.find("\r\n", at + 2);
      std::string line(head.substr(
          at + 2, next == std::string_view::npos ? std::string_view::npos : next - at - 2));
      std::string lower = line;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (lower.rfind("content-length:", 0) == 0) length = std::atoll(line.c_str() + 15);
      if (lower.rfind("transfer-encoding:", 0) == 0 && lower.find("chunked") != std::string::npos) {
        chunked = true;
      }
      if (lower.rfind("connection:", 0) == 0 && lower.find("close") != std::string::npos) {
        r.keep_alive = false;
      }
      at = next;
    }
    pos_ = head_end + 4;
    std::int64_t t = last_fill_ns_;
    if (chunked) {
      for (;;) {
        std::size_t line_end;
        while ((line_end = buf_.find("\r\n", pos_)) == std::string::npos) t = fill();
        std::size_t size = std::strtoull(buf_.c_str() + pos_, nullptr, 16);
        pos_ = line_end + 2;
        if (size == 0) {
          while (buf_.find("\r\n", pos_) == std::string::npos) fill();
          pos_ = buf_.find("\r\n", pos_) + 2;  // no trailers expected
          break;
        }
        std::size_t left = size;
        while (left > 0) {
          if (pos_ == buf_.size()) t = fill();
          std::size_t take = std::min(left, buf_.size() - pos_);
          on_data(t, std::string_view(buf_.data() + pos_, take));
          r.body.append(buf_, pos_, take);
          pos_ += take;
          left -= take;
        }
        while (buf_.size() - pos_ < 2) t = fill();
        pos_ += 2;
      }
    } else if (length >= 0) {
      auto left = static_cast<std::size_t>(length);
      while (left > 0) {
        if (pos_ == buf_.size()) t = fill();
        std::size_t take = std::min(left, buf_.size() - pos_);
        on_data(t, std::string_view(buf_.data() + pos_, take));
        r.body.append(buf_, pos_, take);
        pos_ += take;
        left -= take;
      }
    } else {
      throw std::runtime_error("response without length or chunking");
    }
    compact();
    if (!r.keep_alive) close();
    return r;
  }

  Response read_response() {
    return read_response([](std::int64_t, std::string_view) {});
  }

 private:
  std::int64_t fill() {
    compact();
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) throw std::runtime_error(n == 0 ? "connection closed" : "recv failed");
    last_fill_ns_ = now_ns();
    buf_.append(tmp, static_cast<std::size_t>(n));
    return last_fill_ns_;
  }

  void compact() {
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    }
  }

  Target target_;
  int fd_ = -1;
  std::string buf_;
  std::size_t pos_ = 0;
  std::int64_t last_fill_ns_ = 0;
};

// Percentile by nearest rank over sorted samples.
inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return NAN;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace infergate::bench
