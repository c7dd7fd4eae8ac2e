// The forward pass over one batch of tokens drawn from several sequences at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ggml/matmul.hpp"
#include "ggml/thread_pool.hpp"
#include "model/kv_cache.hpp"
#include "model/model.hpp"

namespace infergate::engine::model {

struct BatchToken {
  std::int32_t token = 0;
  std::int32_t pos = 0;   // position in its sequence; the cache holds 0..pos-1 already (from
                          // earlier steps or earlier tokens of the same batch)
  std::int32_t slot = 0;  // KV cache slot of its sequence
  bool logits = false;    // compute this token's logits (last prompt token, decode tokens)
};

class Forward {
 public:
  // Buffers for batches of up to max_batch tokens, max_outputs of which want logits, are
  // allocated here once.
  Forward(const Model& model, KvCache& kv, ggml::ThreadPool& pool, int max_batch, int max_outputs);

  // Runs the batch: writes its keys/values into the cache and returns the logits of the tokens
  // with logits = true, in batch order, n_vocab floats each (valid until the next call).
  // Returns nullptr and sets *error for a batch outside the limits above.
  const float* decode(const std::vector<BatchToken>& batch, std::string* error);

  int max_batch() const { return max_batch_; }
  int max_outputs() const { return max_outputs_; }

 private:
  void attention(int layer, const std::vector<BatchToken>& batch, int n_rows);
  void parallel_rows(int n_rows, std::int64_t work_per_row, const std::function<void(int row)>& fn);

  const Model& model_;
  KvCache& kv_;
  ggml::ThreadPool& pool_;
  int max_batch_;
  int max_outputs_;
  std::int64_t q_dim_, kv_dim_;

  // Per-step buffers, max_batch rows each.
  std::vector<float> x_, xn_, q_, k_, v_, att_, tmp_, gate_, up_;
  std::vector<float> rope_cos_, rope_sin_;  // max_batch x n_rot/2
  std::vector<float> logits_;               // max_outputs x n_vocab
  std::vector<float> scores_;               // per pool thread: kv capacity
  std::vector<int> rows_;                   // batch index of each row still computed
};

}  // namespace infergate::engine::model
