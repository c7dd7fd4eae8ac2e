#include "model/kv_cache.hpp"

namespace infergate::engine::model {

KvCache::KvCache(int n_layer, int n_head_kv, int head_dim, int n_slots, int capacity)
    : n_layer_(n_layer),
      n_head_kv_(n_head_kv),
      head_dim_(head_dim),
      n_slots_(n_slots),
      capacity_(capacity),
      // Default-initialised (not zeroed): untouched pages cost no memory.
      data_(new ggml::half[static_cast<std::size_t>(n_layer) * n_slots * 2 * n_head_kv *
                           static_cast<std::size_t>(capacity) * head_dim]),
      used_(static_cast<std::size_t>(n_slots), false) {}

std::int64_t KvCache::bytes_per_token(int n_layer, int n_head_kv, int head_dim) {
  return static_cast<std::int64_t>(n_layer) * 2 * n_head_kv * head_dim * sizeof(ggml::half);
}

int KvCache::acquire() {
  for (int i = 0; i < n_slots_; ++i) {
    if (!used_[static_cast<std::size_t>(i)]) {
      used_[static_cast<std::size_t>(i)] = true;
      return i;
    }
  }
  return -1;
}

void KvCache::release(int slot) {
  if (slot >= 0 && slot < n_slots_) used_[static_cast<std::size_t>(slot)] = false;
}

int KvCache::n_free() const {
  int n = 0;
  for (bool u : used_) n += u ? 0 : 1;
  return n;
}

}  // namespace infergate::engine::model
