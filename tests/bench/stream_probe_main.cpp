// stream_probe: time to first token and the gaps between relayed SSE events, per target.
//
//   stream_probe [--streams N] [--rounds R] [--warmup W] TARGET...
//   TARGET = label=host:port:model[:key]
//
// Streams one chat completion at a time per target (keep-alive), rounds interleaved across
// targets. Every body read is timestamped when recv returns; an SSE event's time is that of the
// read that completed it. TTFT = first event with non-empty delta.content minus the time the
// request was sent; gaps = differences between consecutive content events. Prints percentiles
// and, for targets after the first, differences to the first (RESULT / DIFF lines for scripts).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "probe_http.hpp"

namespace {

using namespace infergate::bench;

struct Pct {
  double p50, p90, p99;
};

Pct pct(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {percentile(v, 50), percentile(v, 90), percentile(v, 99)};
}

bool has_content(std::string_view data) {
  auto doc = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return false;
  auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array() || choices->empty()) return false;
  const auto& delta = (*choices)[0].value("delta", nlohmann::json::object());
  auto content = delta.find("content");
  return content != delta.end() && content->is_string() && !content->get<std::string>().empty();
}

int usage() {
  std::fprintf(stderr,
               "usage: stream_probe [--streams N] [--rounds R] [--warmup W] "
               "label=host:port:model[:key]...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long streams = 40, rounds = 3, warmup = 5;
  std::vector<Target> targets;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string_view a = argv[i];
      auto number = [&](long lo, long hi) {
        if (i + 1 >= argc) throw std::invalid_argument(std::string(a) + " needs a value");
        long v = std::strtol(argv[++i], nullptr, 10);
        if (v < lo || v > hi) throw std::invalid_argument(std::string(a) + " out of range");
        return v;
      };
      if (a == "--streams") {
        streams = number(1, 1000000);
      } else if (a == "--rounds") {
        rounds = number(1, 1000);
      } else if (a == "--warmup") {
        warmup = number(0, 1000000);
      } else if (a.rfind("--", 0) == 0) {
        return usage();
      } else {
        targets.push_back(parse_target(a));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stream_probe: %s\n", e.what());
    return usage();
  }
  if (targets.empty()) return usage();

  const std::size_t n = targets.size();
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<std::string> reqs;
  std::vector<std::vector<double>> ttft(n), gaps(n);
  std::vector<long> errors(n, 0), events(n, 0), completed(n, 0);
  for (const auto& t : targets) {
    conns.push_back(std::make_unique<Connection>(t));
    reqs.push_back(chat_request(t, true, "Stream me a few tokens"));
  }

  struct Event {
    std::int64_t t;
    std::string data;
  };
  std::vector<Event> evs;
  std::string pending;
  auto one = [&](std::size_t ti, bool record) {
    evs.clear();
    pending.clear();
    const std::int64_t t0 = now_ns();
    conns[ti]->send_all(reqs[ti]);
    Response r = conns[ti]->read_response([&](std::int64_t t, std::string_view bytes) {
      pending.append(bytes);
      std::size_t end;
      while ((end = pending.find("\n\n")) != std::string::npos) {
        std::string_view ev(pending.data(), end);
        if (ev.rfind("data: ", 0) == 0) evs.push_back({t, std::string(ev.substr(6))});
        pending.erase(0, end + 2);
      }
    });
    if (r.status != 200 || evs.empty() || evs.back().data != "[DONE]") {
      if (errors[ti]++ == 0) {
        std::fprintf(stderr, "stream_probe: %s answered %d: %.200s\n", targets[ti].label.c_str(),
                     r.status, r.body.c_str());
      }
      return;
    }
    if (!record) return;
    std::int64_t prev = -1;
    for (const auto& e : evs) {
      if (!has_content(e.data)) continue;
      ++events[ti];
      if (prev < 0) {
        ttft[ti].push_back(static_cast<double>(e.t - t0) / 1000.0);
      } else {
        gaps[ti].push_back(static_cast<double>(e.t - prev) / 1000.0);
      }
      prev = e.t;
    }
    ++completed[ti];
  };
  try {
    for (std::size_t ti = 0; ti < n; ++ti) {
      for (long i = 0; i < warmup; ++i) one(ti, false);
    }
    for (long r = 0; r < rounds; ++r) {
      for (std::size_t ti = 0; ti < n; ++ti) {
        for (long i = 0; i < streams; ++i) one(ti, true);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stream_probe: %s\n", e.what());
    return 1;
  }

  std::printf("%-10s %7s %7s %9s %9s %9s %9s %9s %9s  (microseconds)\n", "target", "streams",
              "events", "ttft p50", "ttft p90", "ttft p99", "gap p50", "gap p90", "gap p99");
  std::vector<Pct> t_all, g_all;
  for (std::size_t ti = 0; ti < n; ++ti) {
    t_all.push_back(pct(ttft[ti]));
    g_all.push_back(pct(gaps[ti]));
    std::printf("%-10s %7ld %7ld %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", targets[ti].label.c_str(),
                completed[ti], events[ti], t_all[ti].p50, t_all[ti].p90, t_all[ti].p99,
                g_all[ti].p50, g_all[ti].p90, g_all[ti].p99);
  }
  for (std::size_t ti = 0; ti < n; ++ti) {
    std::printf(
        "RESULT %s streams=%ld errors=%ld events=%ld ttft_p50=%.1f ttft_p90=%.1f ttft_p99=%.1f "
        "gap_p50=%.1f gap_p90=%.1f gap_p99=%.1f\n",
        targets[ti].label.c_str(), completed[ti], errors[ti], events[ti], t_all[ti].p50,
        t_all[ti].p90, t_all[ti].p99, g_all[ti].p50, g_all[ti].p90, g_all[ti].p99);
  }
  for (std::size_t ti = 1; ti < n; ++ti) {
    std::printf("DIFF %s-%s ttft_p50=%.1f ttft_p99=%.1f gap_p50=%.1f gap_p99=%.1f\n",
                targets[ti].label.c_str(), targets[0].label.c_str(), t_all[ti].p50 - t_all[0].p50,
                t_all[ti].p99 - t_all[0].p99, g_all[ti].p50 - g_all[0].p50,
                g_all[ti].p99 - g_all[0].p99);
  }
  long total_errors = 0;
  for (long e : errors) total_errors += e;
  return total_errors == 0 ? 0 : 1;
}
