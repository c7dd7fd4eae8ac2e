// latency_probe: the latency one non-streaming chat request adds, at concurrency 1.
//
//   latency_probe [--requests N] [--rounds R] [--warmup W] TARGET...
//   TARGET = label=host:port:model[:key]   (e.g. direct=127.0.0.1:8081:bench
//                                                  gateway=127.0.0.1:8080:bench:ig-...)
//
// Each target gets one keep-alive connection. Rounds are interleaved (R rounds of N sequential
// requests to each target in turn) so drift on a shared machine hits every target alike. Each
// request is timed from the first byte sent to the last byte received, in nanoseconds. Prints
// percentiles per target and, for every target after the first, the difference to the first.
// Lines starting with RESULT / DIFF are for scripts.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "probe_http.hpp"

namespace {

using namespace infergate::bench;

struct Stats {
  double p50, p90, p99, p999, mean;
};

Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {percentile(v, 50), percentile(v, 90), percentile(v, 99), percentile(v, 99.9),
          v.empty() ? NAN : sum / static_cast<double>(v.size())};
}

int usage() {
  std::fprintf(stderr,
               "usage: latency_probe [--requests N] [--rounds R] [--warmup W] "
               "label=host:port:model[:key]...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long requests = 2000, rounds = 5, warmup = 500;
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
      if (a == "--requests") {
        requests = number(1, 10000000);
      } else if (a == "--rounds") {
        rounds = number(1, 1000);
      } else if (a == "--warmup") {
        warmup = number(0, 10000000);
      } else if (a.rfind("--", 0) == 0) {
        return usage();
      } else {
        targets.push_back(parse_target(a));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latency_probe: %s\n", e.what());
    return usage();
  }
  if (targets.empty()) return usage();

  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<std::string> reqs;
  std::vector<std::vector<double>> samples(targets.size());
  std::vector<long> errors(targets.size(), 0);
  for (const auto& t : targets) {
    conns.push_back(std::make_unique<Connection>(t));
    reqs.push_back(chat_request(t, false, "How fast is this gateway?"));
  }
  try {
    auto one = [&](std::size_t ti) -> double {
      auto& c = *conns[ti];
      const std::int64_t t0 = now_ns();
      c.send_all(reqs[ti]);
      Response r = c.read_response();
      const std::int64_t t1 = now_ns();
      if (r.status != 200) {
        if (errors[ti]++ == 0) {
          std::fprintf(stderr, "latency_probe: %s answered %d: %.200s\n", targets[ti].label.c_str(),
                       r.status, r.body.c_str());
        }
        return -1;
      }
      return static_cast<double>(t1 - t0) / 1000.0;
    };
    for (std::size_t ti = 0; ti < targets.size(); ++ti) {
      for (long i = 0; i < warmup; ++i) one(ti);
    }
    for (long r = 0; r < rounds; ++r) {
      for (std::size_t ti = 0; ti < targets.size(); ++ti) {
        for (long i = 0; i < requests; ++i) {
          double us = one(ti);
          if (us >= 0) samples[ti].push_back(us);
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latency_probe: %s\n", e.what());
    return 1;
  }

  std::printf("%-10s %8s %9s %9s %9s %9s %9s  (microseconds)\n", "target", "n", "p50", "p90", "p99",
              "p99.9", "mean");
  std::vector<Stats> all;
  for (std::size_t ti = 0; ti < targets.size(); ++ti) {
    Stats s = stats_of(samples[ti]);
    all.push_back(s);
    std::printf("%-10s %8zu %9.1f %9.1f %9.1f %9.1f %9.1f\n", targets[ti].label.c_str(),
                samples[ti].size(), s.p50, s.p90, s.p99, s.p999, s.mean);
  }
  for (std::size_t ti = 0; ti < targets.size(); ++ti) {
    const Stats& s = all[ti];
    std::printf("RESULT %s n=%zu errors=%ld p50=%.1f p90=%.1f p99=%.1f p999=%.1f mean=%.1f\n",
                targets[ti].label.c_str(), samples[ti].size(), errors[ti], s.p50, s.p90, s.p99,
                s.p999, s.mean);
  }
  for (std::size_t ti = 1; ti < targets.size(); ++ti) {
    std::printf("DIFF %s-%s p50=%.1f p90=%.1f p99=%.1f\n", targets[ti].label.c_str(),
                targets[0].label.c_str(), all[ti].p50 - all[0].p50, all[ti].p90 - all[0].p90,
                all[ti].p99 - all[0].p99);
  }
  long total_errors = 0;
  for (long e : errors) total_errors += e;
  return total_errors == 0 ? 0 : 1;
}
