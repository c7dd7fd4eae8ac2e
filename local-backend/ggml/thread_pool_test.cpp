#include "ggml/thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ggml = infergate::engine::ggml;

namespace {

TEST(ThreadPool, SizeCountsTheCallerAndIsClamped) {
  EXPECT_EQ(ggml::ThreadPool(1).size(), 1);
  EXPECT_EQ(ggml::ThreadPool(3).size(), 3);
  EXPECT_EQ(ggml::ThreadPool(0).size(), 1);
  EXPECT_EQ(ggml::ThreadPool(-5).size(), 1);
}

TEST(ThreadPool, EveryTaskRunsExactlyOnce) {
  ggml::ThreadPool pool(4);
  for (int n : {0, 1, 2, 3, 7, 64, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    pool.parallel_for(n, [&](int task, int thread) {
      ASSERT_GE(thread, 0);
      ASSERT_LT(thread, 4);
      hits[static_cast<std::size_t>(task)].fetch_add(1);
    });
    for (int i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1) << n;
  }
}

TEST(ThreadPool, ManyBackToBackLoopsUnderContention) {
  // More pool threads than cores plus busy threads beside them: workers get preempted in the
  // middle of tasks and wake late for the next loop, the case the ticket CAS guards.
  ggml::ThreadPool pool(6);
  std::atomic<bool> stop{false};
  std::vector<std::thread> noise;
  for (int i = 0; i < 2; ++i) {
    noise.emplace_back([&] {
      volatile unsigned x = 0;
      while (!stop.load(std::memory_order_relaxed)) x = x + 1;
    });
  }
  std::vector<std::atomic<int>> hits(97);
  int bad_round = -1, bad_task = -1, bad_count = 0;
  for (int round = 0; round < 5000 && bad_round < 0; ++round) {
    const int n = 1 + round % 97;
    pool.parallel_for(n, [&](int task, int) { hits[static_cast<std::size_t>(task)].fetch_add(1); });
    // Counted right after the call returns: a task still running, or one run twice, shows.
    for (int i = 0; i < 97 && bad_round < 0; ++i) {
      const int c = hits[static_cast<std::size_t>(i)].exchange(0);
      if (c != (i < n ? 1 : 0)) {
        bad_round = round;
        bad_task = i;
        bad_count = c;
      }
    }
  }
  stop = true;
  for (auto& t : noise) t.join();
  EXPECT_EQ(bad_round, -1) << "task " << bad_task << " ran " << bad_count << " times";
}

TEST(ThreadPool, UsesSeveralThreads) {
  ggml::ThreadPool pool(2);
  std::set<int> seen;
  std::mutex m;
  // Tasks that take a while, so the worker gets some even on a busy machine.
  for (int attempt = 0; attempt < 50 && seen.size() < 2; ++attempt) {
    pool.parallel_for(8, [&](int, int thread) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::lock_guard lock(m);
      seen.insert(thread);
    });
  }
  EXPECT_EQ(seen.size(), 2u);
}

TEST(ThreadPool, ConcurrentCallersAreSerialised) {
  ggml::ThreadPool pool(3);
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        pool.parallel_for(10, [&](int task, int) { total.fetch_add(task + 1); });
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4L * 200 * 55);
}

TEST(ThreadPool, NestedCallRunsInline) {
  ggml::ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.parallel_for(4, [&](int, int) {
    pool.parallel_for(3, [&](int, int thread) {
      EXPECT_EQ(thread, 0);
      inner.fetch_add(1);
    });
  });
  EXPECT_EQ(inner.load(), 12);
}

TEST(ThreadPool, ExceptionReachesTheCallerAndThePoolStaysUsable) {
  ggml::ThreadPool pool(3);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(20,
                                 [&](int task, int) {
                                   ran.fetch_add(1);
                                   if (task == 13) throw std::runtime_error("boom");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 20);  // the other tasks still ran
  std::atomic<int> after{0};
  pool.parallel_for(5, [&](int, int) { after.fetch_add(1); });
  EXPECT_EQ(after.load(), 5);
}

TEST(ThreadPool, WakesAfterWorkersHaveGoneToSleep) {
  ggml::ThreadPool pool(3);
  for (int i = 0; i < 5; ++i) {
    // Longer than the spin time: the workers are asleep on the futex when the loop comes.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::atomic<int> n{0};
    pool.parallel_for(30, [&](int, int) { n.fetch_add(1); });
    EXPECT_EQ(n.load(), 30);
  }
}

}  // namespace
