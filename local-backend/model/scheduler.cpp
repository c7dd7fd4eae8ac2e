#include "model/scheduler.hpp"

#include <algorithm>

namespace infergate::engine::model {

Scheduler::Scheduler(const Model& model, const vocab::Vocab& vocab, Forward& forward, KvCache& kv,
                     const SchedulerOptions& options)
    : model_(model),
      vocab_(vocab),
      forward_(forward),
      kv_(kv),
      opts_(options),
      n_valid_tokens_(std::min(model.hparams().n_vocab, vocab.n_tokens())),
      slots_(static_cast<std::size_t>(options.max_sequences)) {
  batch_.reserve(static_cast<std::size_t>(forward.max_batch()));
  thread_ = std::thread([this] {
    loop_id_ = std::this_thread::get_id();
    loop();
  });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

SubmitStatus Scheduler::enqueue(std::shared_ptr<Request> request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Waiting = not in a slot: the queue may hold max_queue of them beyond the free slots.
    const std::size_t free_slots = static_cast<std::size_t>(opts_.max_sequences - n_active_);
    if (stop_ || queue_.size() >= static_cast<std::size_t>(opts_.max_queue) + free_slots) {
      return SubmitStatus::queue_full;
    }
    live_[request->id] = request;
    queue_.push_back(std::move(request));
  }
  cv_.notify_one();
  return SubmitStatus::accepted;
}

void Scheduler::cancel(RequestId id) {
  std::shared_ptr<Request> r;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) return;
    r = it->second;
    r->cancelled = true;
    auto q = std::find(queue_.begin(), queue_.end(), r);
    if (q != queue_.end()) {
      queue_.erase(q);
      live_.erase(it);
    }
  }
  if (std::this_thread::get_id() == loop_id_.load()) {
    // On the loop thread (e.g. from inside a callback, which holds cb_mutex): no callback can be
    // running concurrently, so flagging is enough.
    r->closed = true;
  } else {
    std::lock_guard<std::mutex> lock(r->cb_mutex);  // waits for a running callback to return
    r->closed = true;
  }
  cv_.notify_one();
}

int Scheduler::n_queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queue_.size());
}

int Scheduler::n_active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return n_active_;
}

bool Scheduler::emit(Request& r, TokenEvent&& ev, bool final) {
  std::lock_guard<std::mutex> lock(r.cb_mutex);
  if (r.closed) return false;
  if (final) r.closed = true;
  try {
    r.on_event(std::move(ev));
  } catch (...) {
    // A throwing callback ends its request; the engine goes on.
    r.closed = true;
    r.cancelled = true;
    return false;
  }
  return !r.closed;
}

void Scheduler::release(Slot& s) {
  kv_.release(s.kv_slot);
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(s.req->id);
    --n_active_;
  }
  s.req.reset();
  s.sampler.reset();
  s.stream.reset();
  s.kv_slot = -1;
}

void Scheduler::finish(Slot& s, Finish reason, std::string text, const std::string& error) {
  TokenEvent ev;
  ev.text = std::move(text);
  ev.token = -1;
  ev.finish = reason;
  ev.prompt_tokens = static_cast<int>(s.req->prompt.size());
  ev.completion_tokens = s.n_generated;
  ev.error = error;
  emit(*s.req, std::move(ev), true);
  release(s);
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || n_active_ > 0; });
      if (stop_) break;
      // Admit waiting requests into free slots.
      for (Slot& s : slots_) {
        if (queue_.empty()) break;
        if (s.req) continue;
        const int kv_slot = kv_.acquire();
        if (kv_slot < 0) break;
        s.req = std::move(queue_.front());
        queue_.pop_front();
        s.kv_slot = kv_slot;
        s.admitted = admitted_++;
        s.n_past = 0;
        s.n_prompt_done = 0;
        s.next_token = -1;
        s.n_generated = 0;
        s.sampler.emplace(s.req->sampling, s.req->seed);
        s.stream.emplace(s.req->stops);
        ++n_active_;
      }
    }
    step();
  }

  // Shutting down: everything still queued or running ends with `cancelled`.
  for (Slot& s : slots_) {
    if (s.req) finish(s, Finish::cancelled, s.stream->flush());
  }
  std::deque<std::shared_ptr<Request>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(queue_);
    live_.clear();
  }
  for (const auto& r : left) {
    TokenEvent ev;
    ev.finish = Finish::cancelled;
    ev.prompt_tokens = static_cast<int>(r->prompt.size());
    emit(*r, std::move(ev), true);
  }
}

void Scheduler::step() {
  // Cancelled requests leave at the step boundary, silently (cancel() closed them).
  for (Slot& s : slots_) {
    if (s.req && (s.req->cancelled || s.req->closed)) release(s);
  }

  batch_.clear();
  out_slots_.clear();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!s.req || s.next_token < 0) continue;
    batch_.push_back({s.next_token, s.n_past, s.kv_slot, true});
    out_slots_.push_back(static_cast<int>(i));
  }
  // Prompt chunks, oldest admission first, up to prefill_chunk tokens in all.
  std::vector<int> prefill;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.req && s.next_token < 0 && s.n_prompt_done < static_cast<int>(s.req->prompt.size())) {
      prefill.push_back(static_cast<int>(i));
    }
  }
  std::sort(prefill.begin(), prefill.end(), [&](int a, int b) {
    return slots_[static_cast<std::size_t>(a)].admitted <
           slots_[static_cast<std::size_t>(b)].admitted;
  });
  int budget = opts_.prefill_chunk;
  std::vector<std::pair<int, int>> chunks;  // slot, tokens taken this step
  for (int i : prefill) {
    if (budget <= 0) break;
    Slot& s = slots_[static_cast<std::size_t>(i)];
    const int n_prompt = static_cast<int>(s.req->prompt.size());
    const int take = std::min(budget, n_prompt - s.n_prompt_done);
    for (int j = 0; j < take; ++j) {
      const int p = s.n_prompt_done + j;
      const bool last = p == n_prompt - 1;
      batch_.push_back({s.req->prompt[static_cast<std::size_t>(p)], p, s.kv_slot, last});
      if (last) out_slots_.push_back(i);
    }
    chunks.emplace_back(i, take);
    budget -= take;
  }
  if (batch_.empty()) return;

  std::string error;
  const float* logits = forward_.decode(batch_, &error);
  if (!logits) {
    for (Slot& s : slots_) {
      if (s.req) finish(s, Finish::error, "", "engine error: " + error);
    }
    return;
  }
  // Advance the cache positions of everything decoded.
  for (int i : out_slots_) {
    Slot& s = slots_[static_cast<std::size_t>(i)];
    if (s.next_token >= 0) s.n_past += 1;
  }
  for (const auto& [i, take] : chunks) {
    Slot& s = slots_[static_cast<std::size_t>(i)];
    s.n_prompt_done += take;
    s.n_past += take;
  }

  const std::int64_t n_vocab = model_.hparams().n_vocab;
  for (std::size_t row = 0; row < out_slots_.size(); ++row) {
    Slot& s = slots_[static_cast<std::size_t>(out_slots_[row])];
    Request& r = *s.req;
    const std::int32_t tok = s.sampler->sample(logits + static_cast<std::int64_t>(row) * n_vocab,
                                               n_valid_tokens_, scratch_);
    s.sampler->accept(tok);
    ++s.n_generated;
    s.next_token = tok;
    if (!r.ignore_eog && vocab_.is_eog(tok)) {
      finish(s, Finish::stop, s.stream->flush());
      continue;
    }
    bool stopped = false;
    TokenEvent ev;
    ev.text = s.stream->push(vocab_.token_to_piece(tok), &stopped);
    ev.token = tok;
    if (!emit(r, std::move(ev), false)) {
      release(s);
      continue;
    }
    if (stopped) {
      finish(s, Finish::stop, "");
    } else if (s.n_generated >= r.max_tokens) {
      finish(s, Finish::length, s.stream->flush());
    }
  }
}

}  // namespace infergate::engine::model
