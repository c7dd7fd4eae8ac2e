#include "access_log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "infergate/api/openai.hpp"

namespace infergate::gateway {

using infergate::api::openai::append_json_string;

AccessLog::AccessLog(const std::string& target) {
  if (target.empty()) return;
  if (target == "-") {
    file_ = stdout;
  } else {
    file_ = std::fopen(target.c_str(), "a");
    owns_file_ = file_ != nullptr;
    if (!file_) std::fprintf(stderr, "infergate: cannot open access log %s\n", target.c_str());
  }
  if (file_) thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (owns_file_) std::fclose(file_);
}

std::uint64_t AccessLog::dropped() const {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return dropped_;
}

void AccessLog::write(const AccessRecord& r) {
  if (!file_) return;
  char ts[64];
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));

  std::string line;
  line.reserve(320);
  line += "{\"ts\":\"";
  line += ts;
  line += "\",\"request_id\":";
  append_json_string(line, r.request_id);
  line += ",\"method\":";
  append_json_string(line, r.method);
  line += ",\"path\":";
  append_json_string(line, r.path.substr(0, 256));
  line += ",\"status\":";
  line += std::to_string(r.status);
  if (!r.key_id.empty()) {
    line += ",\"key_id\":";
    append_json_string(line, r.key_id);
    line += ",\"org\":";
    append_json_string(line, r.org);
  }
  if (!r.model.empty()) {
    line += ",\"model\":";
    append_json_string(line, r.model.substr(0, 256));
    line += ",\"provider\":";
    append_json_string(line, r.provider);
    line += ",\"attempts\":";
    line += std::to_string(r.attempts);
    line += ",\"stream\":";
    line += r.stream ? "true" : "false";
    line += ",\"prompt_tokens\":";
    line += std::to_string(r.prompt_tokens);
    line += ",\"completion_tokens\":";
    line += std::to_string(r.completion_tokens);
  }
  char num[64];
  std::snprintf(num, sizeof num, ",\"latency_ms\":%.3f", r.latency_ms);
  line += num;
  if (r.ttft_ms >= 0) {
    std::snprintf(num, sizeof num, ",\"ttft_ms\":%.3f", r.ttft_ms);
    line += num;
  }
  if (!r.error.empty()) {
    line += ",\"error\":";
    append_json_string(line, r.error);
  }
  line += "}\n";

  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() + line.size() > kMaxPending) {
      ++dropped_;
      return;
    }
    pending_ += line;
    // The writer thread also wakes on its own every few ms; waking it per line would cost a
    // futex call per request on the I/O thread.
    wake = pending_.size() >= kWakeBytes && pending_.size() - line.size() < kWakeBytes;
  }
  if (wake) cv_.notify_one();
}

void AccessLog::run() {
  std::string batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(20),
                   [this] { return stop_ || pending_.size() >= kWakeBytes; });
      if (pending_.empty()) {
        if (stop_) return;
        continue;
      }
      batch.swap(pending_);
    }
    std::fwrite(batch.data(), 1, batch.size(), file_);
    std::fflush(file_);
    batch.clear();
  }
}

}  // namespace infergate::gateway
