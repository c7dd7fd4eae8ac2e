// The key/value cache: one fixed-capacity slot per sequence decoded together.
//
// F16 storage: it halves the memory next to F32 and the memory traffic of attention, and the
// attention kernels convert with F16C at no measurable cost. Keys are stored transposed
// ([head_dim][token]) so that the scores of 16 tokens come out of one register, q·k summed over
// dimensions with no horizontal sums; values per token ([token][head_dim]) so that the
// softmax-weighted sum over tokens accumulates whole rows (see ggml::attn_scores/attn_values).
// The memory is allocated uninitialised, so pages are only touched as contexts grow.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ggml/ggml_types.hpp"

namespace infergate::engine::model {

class KvCache {
 public:
  KvCache(int n_layer, int n_head_kv, int head_dim, int n_slots, int capacity);

  // Bytes one token takes in the cache (all layers, keys and values).
  static std::int64_t bytes_per_token(int n_layer, int n_head_kv, int head_dim);

  int n_slots() const { return n_slots_; }
  int capacity() const { return capacity_; }  // tokens per slot

  // Keys of (layer, slot, kv head), transposed: head_dim x capacity.
  ggml::half* kt(int layer, int slot, int kv_head) {
    return data_.get() + offset(layer, slot, kv_head, 0);
  }
  // Values: capacity x head_dim.
  ggml::half* v(int layer, int slot, int kv_head) {
    return data_.get() + offset(layer, slot, kv_head, 1);
  }

  // Slot bookkeeping: acquire() returns a free slot or -1; release() makes it free again at once
  // (its contents are simply overwritten by the next sequence).
  int acquire();
  void release(int slot);
  int n_free() const;

 private:
  std::size_t offset(int layer, int slot, int kv_head, int which) const {
    return (
        (((static_cast<std::size_t>(layer) * n_slots_ + slot) * 2 + which) * n_head_kv_ + kv_head) *
        static_cast<std::size_t>(capacity_) * head_dim_);
  }

  int n_layer_, n_head_kv_, head_dim_, n_slots_, capacity_;
  std::unique_ptr<ggml::half[]> data_;
  std::vector<bool> used_;
};

}  // namespace infergate::engine::model
