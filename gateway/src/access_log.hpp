// One JSON line per request, written by a background thread so no I/O thread ever blocks on the
// log's file or pipe. Never holds prompts or secrets: callers pass only the fields below.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace infergate::gateway {

struct AccessRecord {
  std::string_view request_id;
  std::string_view method;
  std::string_view path;
  std::string_view key_id;
  std::string_view org;
  std::string_view model;
  std::string_view provider;
  int status = 0;
  int attempts = 0;
  bool stream = false;
  double latency_ms = 0;
  double ttft_ms = -1;  // streams: time to the first byte of content sent; -1 = none
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::string_view error;  // short error class, never a message that may carry client text
};

class AccessLog {
 public:
  // target: "-" = stdout, "" = disabled, else a file appended to.
  explicit AccessLog(const std::string& target);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return file_ != nullptr; }
  void write(const AccessRecord& r);
  std::uint64_t dropped() const;

 private:
  void run();

  static constexpr std::size_t kWakeBytes = 64 * 1024;
  static constexpr std::size_t kMaxPending = 8 * 1024 * 1024;  // beyond this, lines are dropped
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  std::uint64_t dropped_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace infergate::gateway
