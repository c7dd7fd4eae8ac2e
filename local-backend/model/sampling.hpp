// Token sampling: penalties over the generated tokens, then greedy (temperature 0) or
// temperature -> top_k -> top_p -> min_p -> a draw from a per-request seeded generator, so the
// same seed and request give the same output.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "infergate/engine.hpp"

namespace infergate::engine::model {

// Checks ranges (and NaN); returns an empty string when valid, else why not.
std::string validate_sampling(const SamplingParams& p);

// Scratch shared by the samplers that one thread runs (one vocab-sized buffer, not one each).
struct SamplerScratch {
  std::vector<float> logits;
  std::vector<std::pair<float, std::int32_t>> candidates;
};

class Sampler {
 public:
  Sampler(const SamplingParams& params, std::uint64_t seed);

  // Picks a token id in [0, n_vocab) from one row of logits.
  std::int32_t sample(const float* logits, int n_vocab, SamplerScratch& scratch);
  // Records a generated token (what the penalties count).
  void accept(std::int32_t token);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::unordered_map<std::int32_t, int> counts_;  // generated token -> occurrences
};

}  // namespace infergate::engine::model
