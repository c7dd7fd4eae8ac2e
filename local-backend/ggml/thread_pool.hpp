// A pool of persistent worker threads for data-parallel loops (one matmul, one attention pass).
//
// A decode step dispatches a couple of hundred loops, so dispatch must cost microseconds: workers
// spin briefly on the job ticket before sleeping on it (a futex via std::atomic::wait), and the
// caller takes part in every loop instead of waiting idle.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace infergate::engine::ggml {

class ThreadPool {
 public:
  // n_threads counts the caller: ThreadPool(1) runs everything on the calling thread. Values
  // below 1 are taken as 1, values above kMaxThreads as kMaxThreads.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  static constexpr int kMaxThreads = 256;

  int size() const { return n_threads_; }

  // Runs fn(task, thread_index) for every task in [0, n_tasks) exactly once across the pool, the
  // caller participating as thread 0; returns when all are done. Tasks are handed out one at a
  // time in increasing order, so neighbouring tasks tend to run on different threads. An
  // exception thrown by fn is rethrown here (the first one; remaining tasks still run).
  // Calls from several threads at once are serialised; a call from inside fn runs inline.
  void parallel_for(int n_tasks, const std::function<void(int task, int thread)>& fn);

 private:
  void worker_main(int thread_index);
  // Takes and runs tasks of job `gen` until none are left.
  void run_tasks(std::uint32_t gen, int thread_index);

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one parallel_for at a time

  // High 32 bits: job generation; low 32 bits: next task index. Workers take a task by CAS so a
  // late worker can never take a task of a newer job than the one it saw.
  std::atomic<std::uint64_t> ticket_{0};
  std::atomic<int> n_tasks_{0};
  std::atomic<const std::function<void(int, int)>*> fn_{nullptr};
  std::atomic<int> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace infergate::engine::ggml
