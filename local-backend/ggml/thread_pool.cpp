#include "ggml/thread_pool.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace infergate::engine::ggml {
namespace {

// How long an idle worker keeps polling before it sleeps. Long enough to bridge the gaps between
// the loops of one decode step, short enough not to burn a shared core between requests.
constexpr auto kSpinTime = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

constexpr std::uint32_t kClosed = 0xFFFFFFFFu;  // task index of a finished job: above any count

constexpr std::uint32_t gen_of(std::uint64_t t) { return static_cast<std::uint32_t>(t >> 32); }
constexpr std::uint32_t idx_of(std::uint64_t t) { return static_cast<std::uint32_t>(t); }

// Set while a thread runs tasks of some pool, so a nested parallel_for runs inline instead of
// deadlocking on the pool it is already part of.
thread_local const ThreadPool* t_current_pool = nullptr;

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::clamp(n_threads, 1, kMaxThreads)) {
  workers_.reserve(static_cast<std::size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_seq_cst);
  // A new generation with no tasks wakes everyone; they see stop_ and leave.
  ticket_.fetch_add(std::uint64_t{1} << 32, std::memory_order_seq_cst);
  ticket_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks(std::uint32_t gen, int thread_index) {
  const ThreadPool* previous = t_current_pool;
  t_current_pool = this;
  std::uint64_t t = ticket_.load(std::memory_order_acquire);
  while (true) {
    if (gen_of(t) != gen) break;
    // n may already be the next job's count (larger than this one's), but then this job was
    // closed before it was written (see parallel_for), so the CAS below cannot succeed with a
    // ticket of this job.
    const std::uint32_t n = static_cast<std::uint32_t>(n_tasks_.load(std::memory_order_acquire));
    if (idx_of(t) >= n) break;
    if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
      continue;
    }
    const auto* fn = fn_.load(std::memory_order_relaxed);
    try {
      (*fn)(static_cast<int>(idx_of(t)), thread_index);
    } catch (...) {
      std::lock_guard lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    done_.fetch_add(1, std::memory_order_acq_rel);
    t = ticket_.load(std::memory_order_acquire);
  }
  t_current_pool = previous;
}

void ThreadPool::worker_main(int thread_index) {
  // Generation 0 is the pool's initial state. Not read from ticket_: a loop (or the destructor)
  // may have published generation 1 before this thread got to run.
  std::uint32_t seen = 0;
  while (true) {
    std::uint64_t t = ticket_.load(std::memory_order_acquire);
    if (gen_of(t) == seen) {
      // Spin a while, then sleep until the ticket changes.
      const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
      int spins = 0;
      while (gen_of(t = ticket_.load(std::memory_order_acquire)) == seen) {
        cpu_relax();
        if (++spins % 64 == 0 && std::chrono::steady_clock::now() > deadline) break;
      }
      while (gen_of(t) == seen) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        t = ticket_.load(std::memory_order_seq_cst);
        if (gen_of(t) == seen) ticket_.wait(t, std::memory_order_seq_cst);
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        t = ticket_.load(std::memory_order_acquire);
      }
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = gen_of(t);
    run_tasks(seen, thread_index);
  }
}

void ThreadPool::parallel_for(int n_tasks, const std::function<void(int, int)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1 || t_current_pool == this) {
    for (int i = 0; i < n_tasks; ++i) fn(i, 0);
    return;
  }
  std::lock_guard call_lock(call_mutex_);
  error_ = nullptr;
  fn_.store(&fn, std::memory_order_relaxed);
  n_tasks_.store(n_tasks, std::memory_order_release);
  done_.store(0, std::memory_order_relaxed);
  const std::uint32_t gen = gen_of(ticket_.load(std::memory_order_relaxed)) + 1;
  // seq_cst store then seq_cst load of sleepers_, against the workers' increment-then-recheck:
  // either we see a sleeper and wake it, or it sees the new ticket and does not sleep.
  ticket_.store(std::uint64_t{gen} << 32, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) ticket_.notify_all();

  run_tasks(gen, 0);
  // A worker may have been preempted in its last task (the cores are shared): stop hogging the
  // core after a while so it can finish.
  for (int spins = 0; done_.load(std::memory_order_acquire) < n_tasks; ++spins) {
    if (spins < 4096) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  // Close the job: a worker still holding this job's last ticket value must not take a task
  // with it once the next job's count is in n_tasks_.
  ticket_.store((std::uint64_t{gen} << 32) | kClosed, std::memory_order_seq_cst);
  if (error_) {
    std::exception_ptr e = std::exchange(error_, nullptr);
    std::rethrow_exception(e);
  }
}

}  // namespace infergate::engine::ggml
