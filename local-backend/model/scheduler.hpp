// Continuous batching: one owner thread admits queued requests into free KV slots and, each
// step, decodes one batch holding one token of every generating sequence plus prompt chunks of
// the sequences still in prefill; then samples, detokenises and calls back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "infergate/engine.hpp"
#include "model/forward.hpp"
#include "model/kv_cache.hpp"
#include "model/sampling.hpp"
#include "model/text_stream.hpp"
#include "vocab/vocab.hpp"

namespace infergate::engine::model {

// A validated request: the prompt already tokenised, limits already applied.
struct Request {
  RequestId id = 0;
  std::vector<std::int32_t> prompt;  // 1 .. context - 1 tokens
  SamplingParams sampling;
  std::uint64_t seed = 0;
  int max_tokens = 1;  // >= 1, prompt + max_tokens <= context
  std::vector<std::string> stops;
  bool ignore_eog = false;  // benchmarks: generate max_tokens whatever is sampled
  std::function<void(TokenEvent&&)> on_event;

  // The callback contract: on_event runs under cb_mutex and only while !closed; cancel() sets
  // closed under the same mutex, so once it returns no callback is running or will run.
  std::mutex cb_mutex;
  std::atomic<bool> closed{false};
  std::atomic<bool> cancelled{false};
};

struct SchedulerOptions {
  int max_sequences = 8;
  int max_queue = 64;
  int prefill_chunk = 256;
};

class Scheduler {
 public:
  Scheduler(const Model& model, const vocab::Vocab& vocab, Forward& forward, KvCache& kv,
            const SchedulerOptions& options);
  // Stops the loop; requests still queued or running get a final `cancelled` event.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // accepted or queue_full (never blocks on the loop).
  SubmitStatus enqueue(std::shared_ptr<Request> request);
  void cancel(RequestId id);

  // Requests waiting for a slot / running (for tests and metrics).
  int n_queued() const;
  int n_active() const;

 private:
  struct Slot {
    std::shared_ptr<Request> req;
    int kv_slot = -1;
    std::uint64_t admitted = 0;  // admission order: prefill goes first come, first served
    int n_past = 0;              // tokens in the cache
    int n_prompt_done = 0;       // prompt tokens decoded
    std::int32_t next_token = -1;
    int n_generated = 0;
    std::optional<Sampler> sampler;
    std::optional<TextStream> stream;
  };

  void loop();
  void step();
  // Calls the request's callback unless it is closed; false when closed (cancelled or a throwing
  // callback). `final` closes it.
  bool emit(Request& r, TokenEvent&& ev, bool final);
  void finish(Slot& s, Finish reason, std::string text, const std::string& error = {});
  void release(Slot& s);

  const Model& model_;
  const vocab::Vocab& vocab_;
  Forward& forward_;
  KvCache& kv_;
  SchedulerOptions opts_;
  int n_valid_tokens_;  // ids the tokenizer knows: sampling stays below

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                             // guarded by mu_
  std::deque<std::shared_ptr<Request>> queue_;                    // guarded by mu_
  std::unordered_map<RequestId, std::shared_ptr<Request>> live_;  // queued + active, by mu_
  int n_active_ = 0;                                              // guarded by mu_

  // Loop thread only.
  std::vector<Slot> slots_;
  std::uint64_t admitted_ = 0;
  std::vector<BatchToken> batch_;
  std::vector<int> out_slots_;  // slot of each logits row
  SamplerScratch scratch_;

  std::thread thread_;
  std::atomic<std::thread::id> loop_id_{};
};

}  // namespace infergate::engine::model
