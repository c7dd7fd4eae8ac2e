// infergate-engine: the in-process engine from the command line.
//
//   infergate-engine tokenize   --model F [--no-special] "text"
//   infergate-engine detokenize --model F id...
//   infergate-engine generate   --model F --prompt "..." [--max-tokens N] [--temperature T]
//                               [--top-k K] [--top-p P] [--min-p P] [--seed S] [--ids]
//   infergate-engine chat       --model F [--system "..."] --message "..." [--reply]
//   infergate-engine bench      --model F [--threads 2] [--prompt 128] [--gen 64]
//                               [--concurrency 1,4,8]
//   infergate-engine membw      [--threads N] [--mib 1024]
//
// Common: --threads N, --context N, --template FAMILY.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/engine_impl.hpp"

namespace {

using namespace infergate::engine;
using Clock = std::chrono::steady_clock;

int usage() {
  std::fprintf(stderr,
               "usage: infergate-engine COMMAND [options]\n"
               "  tokenize   --model F [--no-special] TEXT      print token ids\n"
               "  detokenize --model F ID...                    print text\n"
               "  generate   --model F --prompt TEXT [--max-tokens N] [--temperature T]\n"
               "             [--top-k K] [--top-p P] [--min-p P] [--seed S] [--ids]\n"
               "             (greedy unless --temperature is given)\n"
               "  chat       --model F [--system TEXT] --message TEXT [--reply]\n"
               "             print the prompt the chat template renders (--reply: generate too)\n"
               "  bench      --model F [--threads 2] [--prompt 128] [--gen 64]\n"
               "             [--concurrency 1,4,8]\n"
               "  membw      [--threads N] [--mib 1024]   read bandwidth of this machine\n"
               "common options: --threads N  --context N  --template FAMILY\n");
  return 2;
}

struct Args {
  std::string command;
  std::map<std::string, std::string> opts;
  std::vector<std::string> positional;
  std::string error;

  bool has(const std::string& k) const { return opts.count(k) != 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    return it == opts.end() ? def : it->second;
  }
  // An integer option in [lo, hi]; sets error when malformed.
  long long get_int(const std::string& k, long long def, long long lo, long long hi) {
    if (!has(k)) return def;
    const std::string s = get(k);
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) {
      error = "--" + k + ": expected an integer in [" + std::to_string(lo) + ", " +
              std::to_string(hi) + "]";
      return def;
    }
    return v;
  }
  double get_float(const std::string& k, double def) {
    if (!has(k)) return def;
    const std::string s = get(k);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size()) {
      error = "--" + k + ": expected a number";
      return def;
    }
    return v;
  }
};

// Flags that take no value.
bool is_switch(const std::string& k) {
  return k == "ids" || k == "no-special" || k == "reply" || k == "help";
}

Args parse_args(int argc, char** argv) {
  Args a;
  if (argc >= 2) a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    if (s.size() > 2 && s.compare(0, 2, "--") == 0) {
      const std::string k = s.substr(2);
      if (is_switch(k)) {
        a.opts[k] = "1";
      } else if (i + 1 < argc) {
        a.opts[k] = argv[++i];
      } else {
        a.error = "--" + k + " needs a value";
      }
    } else {
      a.positional.push_back(std::move(s));
    }
  }
  return a;
}

bool engine_options(Args& a, EngineOptions* o) {
  o->threads = static_cast<int>(a.get_int("threads", 0, 0, 256));
  o->context_size = static_cast<int>(a.get_int("context", 4096, 16, 1 << 24));
  o->max_sequences = 1;
  o->chat_template = a.get("template");
  return a.error.empty();
}

std::unique_ptr<model::EngineImpl> load_engine(const std::string& path, const EngineOptions& o) {
  std::string error;
  auto e = model::EngineImpl::create(path, o, &error);
  if (!e) std::fprintf(stderr, "error: %s\n", error.c_str());
  return e;
}

// Loads only the file and its vocabulary (tokenize / detokenize need no weights).
struct VocabOnly {
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<vocab::Vocab> vocab;
};
bool load_vocab(const std::string& path, VocabOnly* v) {
  std::string error;
  v->file = gguf::File::open(path, &error);
  if (v->file) v->vocab = vocab::Vocab::load(*v->file, &error);
  if (!v->vocab) std::fprintf(stderr, "error: %s\n", error.c_str());
  return v->vocab != nullptr;
}

// Collects a request's events; wait() returns at the final one.
// CPU time of the whole process (all threads): on a shared machine, with wall time, what a run
// would take with the cores to itself (spinning included, time taken by other processes not).
double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

class Collector {
 public:
  std::function<void(TokenEvent&&)> callback(bool print_text, bool print_ids) {
    return [this, print_text, print_ids](TokenEvent&& ev) {
      if (print_text && !ev.text.empty()) {
        std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
        std::fflush(stdout);
      }
      std::lock_guard<std::mutex> lock(mu_);
      const auto now = Clock::now();
      if (ev.token >= 0) {
        if (print_ids) std::printf("%s%d", ids_.empty() ? "" : " ", ev.token);
        ids_.push_back(ev.token);
        times_.push_back(now);
        cpu_times_.push_back(process_cpu_s());
      }
      if (ev.finish != Finish::none) {
        final_ = std::move(ev);
        done_ = true;
        end_ = now;
        cv_.notify_all();
      }
    };
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
  }
  const TokenEvent& final_event() const { return final_; }
  const std::vector<Clock::time_point>& times() const { return times_; }
  const std::vector<double>& cpu_times() const { return cpu_times_; }
  Clock::time_point end() const { return end_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  TokenEvent final_;
  std::vector<std::int32_t> ids_;
  std::vector<Clock::time_point> times_;
  std::vector<double> cpu_times_;
  Clock::time_point end_;
};

const char* finish_name(Finish f) {
  switch (f) {
    case Finish::none:
      return "none";
    case Finish::stop:
      return "stop";
    case Finish::length:
      return "length";
    case Finish::cancelled:
      return "cancelled";
    case Finish::error:
      return "error";
  }
  return "?";
}

int cmd_tokenize(Args& a) {
  if (!a.has("model") || a.positional.size() != 1) return usage();
  VocabOnly v;
  if (!load_vocab(a.get("model"), &v)) return 1;
  const bool special = !a.has("no-special");
  const auto ids = v.vocab->tokenize(a.positional[0], special, special);
  for (std::size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
  std::printf("\n");
  return 0;
}

int cmd_detokenize(Args& a) {
  if (!a.has("model")) return usage();
  VocabOnly v;
  if (!load_vocab(a.get("model"), &v)) return 1;
  std::vector<std::int32_t> ids;
  for (const std::string& s : a.positional) {
    std::int32_t id = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
    if (ec != std::errc() || p != s.data() + s.size() || id < 0 || id >= v.vocab->n_tokens()) {
      std::fprintf(stderr, "error: '%s' is not a token id of this vocabulary\n", s.c_str());
      return 1;
    }
    ids.push_back(id);
  }
  std::printf("%s\n", v.vocab->detokenize(ids, false).c_str());
  return 0;
}

bool sampling_args(Args& a, SamplingParams* p) {
  p->temperature = static_cast<float>(a.get_float("temperature", 0.0));
  p->top_k = static_cast<int>(a.get_int("top-k", 0, 0, 1 << 22));
  p->top_p = static_cast<float>(a.get_float("top-p", 1.0));
  p->min_p = static_cast<float>(a.get_float("min-p", 0.0));
  p->repetition_penalty = static_cast<float>(a.get_float("repeat-penalty", 1.0));
  p->presence_penalty = static_cast<float>(a.get_float("presence-penalty", 0.0));
  p->frequency_penalty = static_cast<float>(a.get_float("frequency-penalty", 0.0));
  if (a.has("seed")) {
    p->seed = static_cast<std::uint64_t>(a.get_int("seed", 0, 0, INT64_MAX));
  }
  return a.error.empty();
}

int run_generate(model::EngineImpl& e, GenerateRequest req, bool ids) {
  Collector c;
  const auto t0 = Clock::now();
  SubmitResult r = e.submit(std::move(req), c.callback(!ids, ids));
  if (r.status != SubmitStatus::accepted) {
    std::fprintf(stderr, "error: %s\n", r.error.c_str());
    return 1;
  }
  c.wait();
  const TokenEvent& f = c.final_event();
  if (!ids && !f.text.empty()) std::fwrite(f.text.data(), 1, f.text.size(), stdout);
  std::printf("\n");
  const double secs = std::chrono::duration<double>(c.end() - t0).count();
  std::fprintf(stderr, "[finish=%s prompt_tokens=%d completion_tokens=%d %.2f s%s%s]\n",
               finish_name(f.finish), f.prompt_tokens, f.completion_tokens, secs,
               f.error.empty() ? "" : " error: ", f.error.c_str());
  return f.finish == Finish::error ? 1 : 0;
}

int cmd_generate(Args& a) {
  if (!a.has("model") || !a.has("prompt")) return usage();
  EngineOptions o;
  GenerateRequest req;
  req.prompt = a.get("prompt");
  req.max_tokens = static_cast<int>(a.get_int("max-tokens", 64, 1, 1 << 24));
  if (!engine_options(a, &o) || !sampling_args(a, &req.sampling)) {
    std::fprintf(stderr, "error: %s\n", a.error.c_str());
    return 2;
  }
  auto e = load_engine(a.get("model"), o);
  if (!e) return 1;
  return run_generate(*e, std::move(req), a.has("ids"));
}

int cmd_chat(Args& a) {
  if (!a.has("model") || !a.has("message")) return usage();
  EngineOptions o;
  GenerateRequest req;
  if (a.has("system")) req.messages.push_back({"system", a.get("system")});
  req.messages.push_back({"user", a.get("message")});
  req.max_tokens = static_cast<int>(a.get_int("max-tokens", 64, 1, 1 << 24));
  if (!engine_options(a, &o) || !sampling_args(a, &req.sampling)) {
    std::fprintf(stderr, "error: %s\n", a.error.c_str());
    return 2;
  }
  auto e = load_engine(a.get("model"), o);
  if (!e) return 1;
  std::vector<std::int32_t> tokens;
  std::string error;
  if (!e->build_prompt(req, &tokens, &error)) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  std::printf("# template family: %s, %zu prompt tokens\n",
              std::string(chat::family_name(e->family())).c_str(), tokens.size());
  std::printf("%s\n", e->vocab().detokenize(tokens, false).c_str());
  if (!a.has("reply")) return 0;
  std::printf("# reply:\n");
  return run_generate(*e, std::move(req), a.has("ids"));
}

// ---- bench -------------------------------------------------------------------------------

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// A deterministic prompt of n ordinary tokens, different for each `salt`.
std::vector<std::int32_t> bench_prompt(const vocab::Vocab& v, int n, std::uint64_t salt) {
  std::vector<std::int32_t> out;
  std::uint64_t x = 0x9E3779B97F4A7C15ull * (salt + 1);
  const std::int32_t limit = std::min<std::int32_t>(v.n_tokens(), 30000);
  while (static_cast<int>(out.size()) < n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const auto id = static_cast<std::int32_t>(x % static_cast<std::uint64_t>(limit));
    if (v.token_type(id) == vocab::TokenType::normal) out.push_back(id);
  }
  return out;
}

struct Run {
  std::unique_ptr<Collector> c;
  Clock::time_point submitted;
  double submitted_cpu = 0.0;
};

// Submits `n` requests at once and waits for all.
bool run_batch(model::EngineImpl& e, int n, int prompt, int gen, std::uint64_t salt,
               std::vector<Run>* runs) {
  runs->clear();
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  for (int i = 0; i < n; ++i) {
    Run r;
    r.c = std::make_unique<Collector>();
    r.submitted = Clock::now();
    r.submitted_cpu = process_cpu_s();
    SubmitResult s =
        e.submit_tokens(bench_prompt(e.vocab(), prompt, salt + static_cast<std::uint64_t>(i)),
                        greedy, gen, {}, true, r.c->callback(false, false));
    if (s.status != SubmitStatus::accepted) {
      std::fprintf(stderr, "error: %s\n", s.error.c_str());
      return false;
    }
    runs->push_back(std::move(r));
  }
  for (Run& r : *runs) r.c->wait();
  for (Run& r : *runs) {
    if (r.c->final_event().finish == Finish::error) {
      std::fprintf(stderr, "error: %s\n", r.c->final_event().error.c_str());
      return false;
    }
  }
  return true;
}

double secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int cmd_bench(Args& a) {
  if (!a.has("model")) return usage();
  const int threads = static_cast<int>(a.get_int("threads", 2, 1, 256));
  const int prompt = static_cast<int>(a.get_int("prompt", 128, 1, 8192));
  const int gen = static_cast<int>(a.get_int("gen", 64, 2, 8192));
  const int reps = static_cast<int>(a.get_int("reps", 3, 1, 100));
  std::vector<int> conc;
  {
    const std::string s = a.get("concurrency", "1,4,8");
    std::size_t pos = 0;
    while (pos <= s.size()) {
      const std::size_t comma = std::min(s.find(',', pos), s.size());
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + pos, s.data() + comma, v);
      if (ec != std::errc() || p != s.data() + comma || v < 1 || v > 256) {
        std::fprintf(stderr, "error: --concurrency: expected a list like 1,4,8\n");
        return 2;
      }
      conc.push_back(v);
      pos = comma + 1;
    }
  }
  if (!a.error.empty()) {
    std::fprintf(stderr, "error: %s\n", a.error.c_str());
    return 2;
  }
  EngineOptions o;
  o.threads = threads;
  o.context_size = prompt + gen + 16;
  o.max_sequences = *std::max_element(conc.begin(), conc.end());
  o.prefill_chunk = std::max(256, prompt);
  o.max_queue = o.max_sequences;
  const auto t_load = Clock::now();
  auto e = load_engine(a.get("model"), o);
  if (!e) return 1;
  const auto& hp = e->model().hparams();
  const auto& wq = e->model().layers()[0].wq;
  std::printf("model %s\n", e->info().name.c_str());
  std::printf("arch %s\n", hp.arch_name.c_str());
  std::printf("weight_type %s\n",
              infergate::engine::ggml::traits(static_cast<std::uint32_t>(wq.type)).name);
  std::printf("parameters %lld\n", static_cast<long long>(e->model().n_params()));
  std::printf("threads %d\n", e->threads());
  std::printf("load_s %.3f\n", secs(t_load, Clock::now()));
  std::printf("bytes_per_token %lld\n",
              static_cast<long long>(e->model().weight_bytes_per_token()));

  // Warm-up: faults the weights in and lets the pool settle.
  std::vector<Run> runs;
  if (!run_batch(*e, 1, prompt, 2, 1000, &runs)) return 1;

  // Prefill: time to the first token of a lone request (best of reps).
  double best_prefill = 1e30;
  double best_prefill_cpu = 1e30;
  for (int i = 0; i < reps; ++i) {
    if (!run_batch(*e, 1, prompt, 2, 2000 + static_cast<std::uint64_t>(i), &runs)) return 1;
    best_prefill = std::min(best_prefill, secs(runs[0].submitted, runs[0].c->times()[0]));
    best_prefill_cpu =
        std::min(best_prefill_cpu, (runs[0].c->cpu_times()[0] - runs[0].submitted_cpu) / threads);
  }
  std::printf("prefill_tok_s %.1f\n", prompt / best_prefill);
  // The same from CPU time / threads: the figure on a machine not shared with other work.
  std::printf("prefill_cpu_tok_s %.1f\n", prompt / best_prefill_cpu);

  // Decode: tokens after the first, over the time between first and last; best of reps at every
  // concurrency, so the ratios between them compare like with like.
  for (int c : conc) {
    double best = 0.0;
    double best_cpu = 0.0;
    for (int i = 0; i < reps; ++i) {
      if (!run_batch(*e, c, prompt, gen, 3000 + 100 * static_cast<std::uint64_t>(c + i), &runs)) {
        return 1;
      }
      // Steady state: from when every sequence has its first token to when the first finishes.
      Clock::time_point start = runs[0].c->times().front();
      Clock::time_point stop = runs[0].c->times().back();
      for (const Run& r : runs) {
        start = std::max(start, r.c->times().front());
        stop = std::min(stop, r.c->times().back());
      }
      long tokens = 0;
      for (const Run& r : runs) {
        for (const auto& t : r.c->times()) tokens += (t > start && t <= stop) ? 1 : 0;
      }
      const double rate = stop > start ? tokens / secs(start, stop) : 0.0;
      best = std::max(best, rate);
      if (c == 1) {
        const auto& ct = runs[0].c->cpu_times();
        const double cpu = (ct.back() - ct.front()) / threads;
        if (cpu > 0) best_cpu = std::max(best_cpu, static_cast<double>(ct.size() - 1) / cpu);
      }
    }
    if (c == 1) {
      std::printf("decode_tok_s %.1f\n", best);
      std::printf("decode_cpu_tok_s %.1f\n", best_cpu);
    }
    std::printf("aggregate_decode_tok_s_c%d %.1f\n", c, best);
  }
  std::printf("peak_rss_mib %.0f\n", peak_rss_mib());
  return 0;
}

// ---- membw -------------------------------------------------------------------------------

#if defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
std::uint64_t
sum_words(const std::uint64_t* p, std::size_t n) {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

int cmd_membw(Args& a) {
  const int threads = static_cast<int>(
      a.get_int("threads", std::max(1u, std::thread::hardware_concurrency()), 1, 256));
  const std::size_t mib = static_cast<std::size_t>(a.get_int("mib", 1024, 64, 1 << 16));
  if (!a.error.empty()) {
    std::fprintf(stderr, "error: %s\n", a.error.c_str());
    return 2;
  }
  const std::size_t words = mib * (1 << 20) / sizeof(std::uint64_t);
  std::unique_ptr<std::uint64_t[]> buf(new std::uint64_t[words]);
  // Touch every page, in parallel so each thread's slice lands near it.
  const std::size_t per = words / static_cast<std::size_t>(threads);
  std::atomic<std::uint64_t> sink{0};
  auto parallel = [&](auto fn) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) ts.emplace_back(fn, t);
    for (auto& t : ts) t.join();
  };
  parallel([&](int t) {
    std::uint64_t* p = buf.get() + per * static_cast<std::size_t>(t);
    for (std::size_t i = 0; i < per; ++i) p[i] = i;
  });
  double best = 0.0;
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = Clock::now();
    parallel([&](int t) { sink += sum_words(buf.get() + per * static_cast<std::size_t>(t), per); });
    const double s = secs(t0, Clock::now());
    best =
        std::max(best, static_cast<double>(per * static_cast<std::size_t>(threads) * 8) / s / 1e9);
  }
  std::printf("threads %d\nbuffer_mib %zu\nread_bandwidth_gb_s %.1f\n", threads, mib, best);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse_args(argc, argv);
  if (!a.error.empty()) {
    std::fprintf(stderr, "error: %s\n", a.error.c_str());
    return 2;
  }
  if (a.has("help")) return usage();
  if (a.command == "tokenize") return cmd_tokenize(a);
  if (a.command == "detokenize") return cmd_detokenize(a);
  if (a.command == "generate") return cmd_generate(a);
  if (a.command == "chat") return cmd_chat(a);
  if (a.command == "bench") return cmd_bench(a);
  if (a.command == "membw") return cmd_membw(a);
  return usage();
}
