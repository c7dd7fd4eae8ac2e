#include "model/sampling.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace infergate::engine::model {
namespace {

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

TEST(Sampling, GreedyTakesTheLargestLogitLowestIdOnTies) {
  SamplerScratch s;
  Sampler sm(greedy(), 1);
  const float l[] = {0.5f, 2.0f, -1.0f, 2.0f};
  EXPECT_EQ(sm.sample(l, 4, s), 1);
}

TEST(Sampling, GreedyOverAVocabularyFindsTheFirstMaximumAndSkipsNaN) {
  SamplerScratch s;
  Sampler sm(greedy(), 1);
  // Lengths around the 16-wide lanes of argmax, the maximum at the start, in the middle, in the
  // tail, repeated, and NaN / -inf neighbours.
  for (int n : {1, 15, 16, 17, 33, 151936}) {
    std::vector<float> l(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) l[static_cast<std::size_t>(i)] = std::sin(static_cast<float>(i));
    for (int at : {0, n / 2, n - 1}) {
      std::vector<float> v = l;
      v[static_cast<std::size_t>(at)] = 5.0f;
      if (at + 3 < n) v[static_cast<std::size_t>(at + 3)] = 5.0f;  // a tie after it
      if (at > 0) v[static_cast<std::size_t>(at - 1)] = std::nanf("");
      if (at > 1) v[static_cast<std::size_t>(at - 2)] = INFINITY * 0.0f;  // NaN too
      EXPECT_EQ(sm.sample(v.data(), n, s), at) << "n " << n << " at " << at;
    }
  }
  const float all_nan[] = {std::nanf(""), std::nanf("")};
  EXPECT_EQ(sm.sample(all_nan, 2, s), 0);
  const float neg[] = {-INFINITY, -3.0f, -INFINITY};
  EXPECT_EQ(sm.sample(neg, 3, s), 1);
}

TEST(Sampling, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  SamplerScratch s;
  SamplingParams p = greedy();
  p.repetition_penalty = 2.0f;
  Sampler sm(p, 1);
  // Token 0 (3.0) would win; penalised to 1.5 it loses to token 1 (2.0).
  const float l[] = {3.0f, 2.0f, -1.0f};
  EXPECT_EQ(sm.sample(l, 3, s), 0);
  sm.accept(0);
  EXPECT_EQ(sm.sample(l, 3, s), 1);
  // Negative logits grow more negative: -0.4 * 2 = -0.8 < -0.5.
  SamplingParams p2 = greedy();
  p2.repetition_penalty = 2.0f;
  Sampler sm2(p2, 1);
  const float n[] = {-0.4f, -0.5f};
  sm2.accept(0);
  EXPECT_EQ(sm2.sample(n, 2, s), 1);
}

TEST(Sampling, PresenceAndFrequencyPenaltiesFollowOpenAI) {
  SamplerScratch s;
  SamplingParams p = greedy();
  p.frequency_penalty = 0.5f;
  Sampler sm(p, 1);
  const float l[] = {2.0f, 1.2f};
  sm.accept(0);
  EXPECT_EQ(sm.sample(l, 2, s), 0);  // 2.0 - 0.5 = 1.5 > 1.2
  sm.accept(0);
  EXPECT_EQ(sm.sample(l, 2, s), 1);  // 2.0 - 1.0 = 1.0 < 1.2

  SamplingParams q = greedy();
  q.presence_penalty = 0.5f;
  Sampler sp(q, 1);
  sp.accept(0);
  sp.accept(0);
  sp.accept(0);
  EXPECT_EQ(sp.sample(l, 2, s), 0);  // presence counts once: 2.0 - 0.5 = 1.5 > 1.2
  // A negative presence penalty encourages repeats.
  SamplingParams r = greedy();
  r.presence_penalty = -1.0f;
  Sampler sr(r, 1);
  sr.accept(1);
  EXPECT_EQ(sr.sample(l, 2, s), 1);
}

TEST(Sampling, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  SamplerScratch s;
  std::vector<float> l(1000);
  for (std::size_t i = 0; i < l.size(); ++i) l[i] = std::sin(static_cast<float>(i)) * 2.0f;
  SamplingParams p;
  p.temperature = 1.0f;
  auto draws = [&](std::uint64_t seed) {
    Sampler sm(p, seed);
    std::vector<int> out;
    for (int i = 0; i < 50; ++i) out.push_back(sm.sample(l.data(), 1000, s));
    return out;
  };
  EXPECT_EQ(draws(42), draws(42));
  EXPECT_NE(draws(42), draws(43));
}

TEST(Sampling, TemperatureOneFollowsTheSoftmax) {
  SamplerScratch s;
  SamplingParams p;
  p.temperature = 1.0f;
  Sampler sm(p, 7);
  const float l[] = {0.0f, std::log(3.0f)};  // p = 0.25, 0.75
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += sm.sample(l, 2, s);
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.015);
}

TEST(Sampling, TopKTopPMinPRestrictTheCandidates) {
  SamplerScratch s;
  // Probabilities proportional to 8, 4, 2, 1, 1 (ids 0..4).
  const float l[] = {std::log(8.f), std::log(4.f), std::log(2.f), 0.0f, 0.0f};
  auto seen = [&](SamplingParams p) {
    p.temperature = 1.0f;
    Sampler sm(p, 3);
    std::map<int, int> c;
    for (int i = 0; i < 4000; ++i) ++c[sm.sample(l, 5, s)];
    return c;
  };
  SamplingParams k;
  k.top_k = 2;
  auto ck = seen(k);
  EXPECT_EQ(ck.size(), 2u);
  EXPECT_TRUE(ck.count(0) && ck.count(1));
  EXPECT_NEAR(ck[0] / 4000.0, 2.0 / 3.0, 0.03);

  SamplingParams tp;
  tp.top_p = 0.7f;  // 8/16 = 0.5 < 0.7 <= 12/16: ids 0 and 1
  auto cp = seen(tp);
  EXPECT_EQ(cp.size(), 2u);

  SamplingParams mp;
  mp.min_p = 0.25f;  // keeps p >= 0.25 * 8/16: ids 0, 1, 2
  auto cm = seen(mp);
  EXPECT_EQ(cm.size(), 3u);
  EXPECT_FALSE(cm.count(3));

  SamplingParams k1;
  k1.top_k = 1;
  EXPECT_EQ(seen(k1).size(), 1u);
}

TEST(Sampling, TopPOnALargeVocabularySortsOnlyWhatItNeeds) {
  SamplerScratch s;
  std::vector<float> l(151936, 0.0f);
  l[77] = 30.0f;  // almost all the mass
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.9f;
  Sampler sm(p, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sm.sample(l.data(), static_cast<int>(l.size()), s), 77);
  // A flat distribution needs the whole vocabulary for top_p = 0.999.
  std::vector<float> flat(5000, 1.0f);
  p.top_p = 0.999f;
  Sampler sf(p, 2);
  std::map<int, int> c;
  for (int i = 0; i < 2000; ++i) ++c[sf.sample(flat.data(), 5000, s)];
  EXPECT_GT(c.size(), 1000u);
}

TEST(Sampling, ValidationRejectsOutOfRangeAndNan) {
  SamplingParams p;
  EXPECT_EQ(validate_sampling(p), "");
  p.temperature = -1.0f;
  EXPECT_NE(validate_sampling(p), "");
  p = {};
  p.top_p = 0.0f;
  EXPECT_NE(validate_sampling(p), "");
  p = {};
  p.min_p = std::nanf("");
  EXPECT_NE(validate_sampling(p), "");
  p = {};
  p.top_k = -3;
  EXPECT_NE(validate_sampling(p), "");
  p = {};
  p.presence_penalty = 3.0f;
  EXPECT_NE(validate_sampling(p), "");
  p = {};
  p.repetition_penalty = 0.0f;
  EXPECT_NE(validate_sampling(p), "");
}

}  // namespace
}  // namespace infergate::engine::model
