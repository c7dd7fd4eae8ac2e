#include "model/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/vec_ops.hpp"

namespace infergate::engine::model {

std::string validate_sampling(const SamplingParams& p) {
  auto in = [](float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  if (!in(p.temperature, 0.0f, 100.0f)) return "temperature must be in [0, 100]";
  if (!in(p.top_p, 0.0f, 1.0f) || p.top_p <= 0.0f) return "top_p must be in (0, 1]";
  if (p.top_k < 0) return "top_k must be >= 0";
  if (!in(p.min_p, 0.0f, 1.0f)) return "min_p must be in [0, 1]";
  if (!in(p.presence_penalty, -2.0f, 2.0f)) return "presence_penalty must be in [-2, 2]";
  if (!in(p.frequency_penalty, -2.0f, 2.0f)) return "frequency_penalty must be in [-2, 2]";
  if (!in(p.repetition_penalty, 0.0f, 10.0f) || p.repetition_penalty <= 0.0f) {
    return "repetition_penalty must be in (0, 10]";
  }
  return "";
}

Sampler::Sampler(const SamplingParams& params, std::uint64_t seed) : p_(params), rng_(seed) {}

void Sampler::accept(std::int32_t token) { ++counts_[token]; }

std::int32_t Sampler::sample(const float* logits, int n_vocab, SamplerScratch& s) {
  // Penalties change few logits; they are applied to a copy.
  const bool penalize =
      !counts_.empty() && (p_.repetition_penalty != 1.0f || p_.presence_penalty != 0.0f ||
                           p_.frequency_penalty != 0.0f);
  const float* l = logits;
  if (penalize) {
    s.logits.resize(static_cast<std::size_t>(n_vocab));
    std::memcpy(s.logits.data(), logits, s.logits.size() * sizeof(float));
    for (const auto& [tok, count] : counts_) {
      if (tok < 0 || tok >= n_vocab) continue;
      float& v = s.logits[static_cast<std::size_t>(tok)];
      // llama.cpp's repetition penalty: shrink positive logits, grow negative ones.
      if (p_.repetition_penalty != 1.0f) {
        v = v > 0.0f ? v / p_.repetition_penalty : v * p_.repetition_penalty;
      }
      // OpenAI: logit -= count * frequency_penalty + (count > 0) * presence_penalty.
      v -= static_cast<float>(count) * p_.frequency_penalty + p_.presence_penalty;
    }
    l = s.logits.data();
  }

  if (p_.temperature <= 0.0f) return static_cast<std::int32_t>(argmax(l, n_vocab));

  auto& c = s.candidates;
  c.resize(static_cast<std::size_t>(n_vocab));
  const float inv_t = 1.0f / p_.temperature;
  for (int i = 0; i < n_vocab; ++i) c[static_cast<std::size_t>(i)] = {l[i] * inv_t, i};
  // Higher first; ties by lower id so the order never depends on the algorithm.
  auto higher = [](const std::pair<float, std::int32_t>& a,
                   const std::pair<float, std::int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::size_t n = c.size();
  if (p_.top_k > 0 && static_cast<std::size_t>(p_.top_k) < n) {
    std::nth_element(c.begin(), c.begin() + p_.top_k - 1, c.end(), higher);
    n = static_cast<std::size_t>(p_.top_k);
  }

  // Probabilities of the survivors.
  float mx = c[0].first;
  for (std::size_t i = 1; i < n; ++i) mx = std::max(mx, c[i].first);
  s.logits.resize(std::max(s.logits.size(), n));
  float* p = s.logits.data();
  for (std::size_t i = 0; i < n; ++i) p[i] = c[i].first - mx;
  exp_inplace(p, static_cast<std::int64_t>(n));
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += p[i];
  for (std::size_t i = 0; i < n; ++i) c[i].first = static_cast<float>(p[i] / sum);

  // min_p keeps p >= min_p * p_max (p_max = e^0 / sum). It commutes with top_p (both keep a
  // prefix of the sorted order), so it runs first: no sort needed and fewer tokens to sort.
  if (p_.min_p > 0.0f) {
    const float threshold = p_.min_p * static_cast<float>(1.0 / sum);
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (c[i].first >= threshold) c[m++] = c[i];
    }
    n = std::max<std::size_t>(m, 1);
  }

  if (p_.top_p < 1.0f) {
    // The nucleus is usually small: sort a growing head of the candidates until it holds top_p.
    std::size_t sorted = 0;
    std::size_t keep = n;
    for (std::size_t head = std::min<std::size_t>(64, n);; head = std::min(head * 8, n)) {
      std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(head),
                        c.begin() + static_cast<std::ptrdiff_t>(n), higher);
      sorted = head;
      double cum = 0.0;
      std::size_t i = 0;
      for (; i < sorted; ++i) {
        cum += c[i].first;
        if (cum >= p_.top_p) break;
      }
      if (i < sorted) {
        keep = i + 1;
        break;
      }
      if (head == n) break;
    }
    n = keep;
  }

  // Draw from what is left, renormalised.
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) total += c[i].first;
  const double u = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0) * total;
  double acc = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    acc += c[i].first;
    if (u < acc) return c[i].second;
  }
  return c[n - 1].second;
}

}  // namespace infergate::engine::model
