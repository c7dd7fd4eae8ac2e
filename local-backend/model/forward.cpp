// The forward pass (llama.cpp's llm_build_llama / llm_build_qwen2 graphs, written out as loops):
// per layer RMSNorm -> Q/K/V projections (+ qwen2 biases) -> rope -> K/V into the cache ->
// causal GQA attention per sequence -> output projection + residual -> RMSNorm -> SwiGLU FFN +
// residual; then the final norm and the output projection for the tokens that need logits.
//
// Every weight is multiplied once per step for the whole batch (one matmul call per weight), so
// a decode step with 8 sequences reads the weights once, as a step with one does.
#include "model/forward.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ggml/quants.hpp"
#include "model/vec_ops.hpp"

namespace infergate::engine::model {

namespace {

// Element-wise work below this many values per step runs on the calling thread: waking the pool
// costs more than it saves.
constexpr std::int64_t kParallelMinWork = 1 << 15;

std::size_t sz(std::int64_t n) { return static_cast<std::size_t>(n); }

// Rotates the first n_rot dims of one head by the angles whose cos/sin are given (n_rot/2 each).
void rope_head(float* v, const float* cos_t, const float* sin_t, int n_rot, RopeStyle style) {
  const int n_pairs = n_rot / 2;
  if (style == RopeStyle::normal) {
    for (int i = 0; i < n_pairs; ++i) {
      const float x0 = v[2 * i], x1 = v[2 * i + 1];
      v[2 * i] = x0 * cos_t[i] - x1 * sin_t[i];
      v[2 * i + 1] = x0 * sin_t[i] + x1 * cos_t[i];
    }
  } else {
    for (int i = 0; i < n_pairs; ++i) {
      const float x0 = v[i], x1 = v[i + n_pairs];
      v[i] = x0 * cos_t[i] - x1 * sin_t[i];
      v[i + n_pairs] = x0 * sin_t[i] + x1 * cos_t[i];
    }
  }
}

}  // namespace

Forward::Forward(const Model& model, KvCache& kv, ggml::ThreadPool& pool, int max_batch,
                 int max_outputs)
    : model_(model), kv_(kv), pool_(pool), max_batch_(max_batch), max_outputs_(max_outputs) {
  const Hparams& hp = model.hparams();
  q_dim_ = static_cast<std::int64_t>(hp.n_head) * hp.head_dim;
  kv_dim_ = static_cast<std::int64_t>(hp.n_head_kv) * hp.head_dim;
  const std::int64_t b = max_batch;
  x_.resize(sz(b * hp.n_embd));
  xn_.resize(sz(b * hp.n_embd));
  q_.resize(sz(b * q_dim_));
  k_.resize(sz(b * kv_dim_));
  v_.resize(sz(b * kv_dim_));
  att_.resize(sz(b * q_dim_));
  tmp_.resize(sz(b * hp.n_embd));
  gate_.resize(sz(b * hp.n_ff));
  up_.resize(sz(b * hp.n_ff));
  rope_cos_.resize(sz(b * (hp.n_rot / 2)));
  rope_sin_.resize(sz(b * (hp.n_rot / 2)));
  logits_.resize(sz(static_cast<std::int64_t>(max_outputs) * hp.n_vocab));
  scores_.resize(
      sz(static_cast<std::int64_t>(pool.size()) * (hp.n_head / hp.n_head_kv) * kv.capacity()));
  rows_.reserve(sz(b));
}

void Forward::parallel_rows(int n_rows, std::int64_t work_per_row,
                            const std::function<void(int row)>& fn) {
  if (n_rows == 1 || n_rows * work_per_row < kParallelMinWork || pool_.size() == 1) {
    for (int r = 0; r < n_rows; ++r) fn(r);
    return;
  }
  pool_.parallel_for(n_rows, [&](int r, int) { fn(r); });
}

void Forward::attention(int layer, const std::vector<BatchToken>& batch, int n_rows) {
  const Hparams& hp = model_.hparams();
  const int hd = hp.head_dim;
  const int group = hp.n_head / hp.n_head_kv;
  const int cap = kv_.capacity();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // One task per (row, KV head): the query heads sharing a KV head read its cache once.
  pool_.parallel_for(n_rows * hp.n_head_kv, [&](int task, int thread) {
    const int r = task / hp.n_head_kv;
    const int kvh = task % hp.n_head_kv;
    const BatchToken& t = batch[sz(rows_[sz(r)])];
    const int n_kv = t.pos + 1;  // causal: this token and every earlier one of its sequence
    const std::int64_t h0 = static_cast<std::int64_t>(kvh) * group;
    const float* q = q_.data() + r * q_dim_ + h0 * hd;
    float* sc = scores_.data() + static_cast<std::int64_t>(thread) * group * cap;
    ggml::attn_scores(kv_.kt(layer, t.slot, kvh), cap, hd, q, group, n_kv, scale, sc, cap);
    for (int h = 0; h < group; ++h) softmax(sc + static_cast<std::int64_t>(h) * cap, n_kv);
    ggml::attn_values(kv_.v(layer, t.slot, kvh), hd, sc, cap, group, n_kv,
                      att_.data() + r * q_dim_ + h0 * hd);
  });
}

const float* Forward::decode(const std::vector<BatchToken>& batch, std::string* error) {
  const Hparams& hp = model_.hparams();
  const int n = static_cast<int>(batch.size());
  if (n == 0 || n > max_batch_) {
    if (error)
      *error = "batch of " + std::to_string(n) + " tokens outside [1, " +
               std::to_string(max_batch_) + "]";
    return nullptr;
  }
  int n_out = 0;
  for (const BatchToken& t : batch) {
    if (t.token < 0 || t.token >= hp.n_vocab || t.slot < 0 || t.slot >= kv_.n_slots() ||
        t.pos < 0 || t.pos >= kv_.capacity()) {
      if (error) *error = "batch token out of range (token, slot or position)";
      return nullptr;
    }
    n_out += t.logits ? 1 : 0;
  }
  if (n_out > max_outputs_) {
    if (error) *error = "too many output tokens in one batch";
    return nullptr;
  }

  const std::int64_t E = hp.n_embd;
  const int hd = hp.head_dim;
  const int n_pairs = hp.n_rot / 2;
  const int cap = kv_.capacity();
  const ggml::WeightView& emb = model_.token_embd();
  const std::vector<float>& inv_freq = model_.rope_inv_freq();

  // Embeddings, and the rotary angles of each token (shared by every layer).
  parallel_rows(n, E, [&](int b) {
    const BatchToken& t = batch[sz(b)];
    ggml::get_row(emb, t.token, x_.data() + b * E);
    for (int i = 0; i < n_pairs; ++i) {
      const float angle = static_cast<float>(t.pos) * inv_freq[sz(i)];
      rope_cos_[sz(b * n_pairs + i)] = std::cos(angle);
      rope_sin_[sz(b * n_pairs + i)] = std::sin(angle);
    }
  });

  rows_.resize(sz(n));
  for (int b = 0; b < n; ++b) rows_[sz(b)] = b;
  int n_rows = n;

  for (int l = 0; l < hp.n_layer; ++l) {
    const Layer& L = model_.layers()[sz(l)];
    parallel_rows(n_rows, E, [&](int r) {
      rms_norm(x_.data() + r * E, L.attn_norm, xn_.data() + r * E, E, hp.rms_eps);
    });
    const ggml::MatmulJob qkv[] = {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}};
    ggml::matmul_many(qkv, 3, xn_.data(), n_rows, pool_);

    // Biases, rope and the cache writes: a few times the work of a norm per value.
    parallel_rows(n_rows, 4 * (q_dim_ + 2 * kv_dim_), [&](int r) {
      const BatchToken& t = batch[sz(r)];  // rows are the batch itself until the last layer
      float* q = q_.data() + r * q_dim_;
      float* k = k_.data() + r * kv_dim_;
      float* v = v_.data() + r * kv_dim_;
      if (L.bq) add_to(q, L.bq, q_dim_);
      if (L.bk) add_to(k, L.bk, kv_dim_);
      if (L.bv) add_to(v, L.bv, kv_dim_);
      const float* c = rope_cos_.data() + r * n_pairs;
      const float* s = rope_sin_.data() + r * n_pairs;
      for (int h = 0; h < hp.n_head; ++h) rope_head(q + h * hd, c, s, hp.n_rot, hp.rope_style);
      for (int h = 0; h < hp.n_head_kv; ++h) {
        float* kh = k + h * hd;
        rope_head(kh, c, s, hp.n_rot, hp.rope_style);
        ggml::half* kc = kv_.kt(l, t.slot, h) + t.pos;
        // Keys are stored transposed: converted together, then spread down the column.
        ggml::half kh16[kMaxHeadDim];
        to_fp16(kh, kh16, hd);
        for (int d = 0; d < hd; ++d) kc[static_cast<std::int64_t>(d) * cap] = kh16[d];
        to_fp16(v + h * hd, kv_.v(l, t.slot, h) + static_cast<std::int64_t>(t.pos) * hd, hd);
      }
    });

    if (l == hp.n_layer - 1) {
      // Past the cache writes of the last layer only the tokens that want logits matter.
      int m = 0;
      for (int b = 0; b < n; ++b) {
        if (!batch[sz(b)].logits) continue;
        if (m != b) {
          std::memcpy(x_.data() + m * E, x_.data() + b * E, sz(E) * sizeof(float));
          std::memcpy(q_.data() + m * q_dim_, q_.data() + b * q_dim_, sz(q_dim_) * sizeof(float));
        }
        rows_[sz(m++)] = b;
      }
      n_rows = m;
      rows_.resize(sz(m));
      if (n_rows == 0) return logits_.data();
    }

    attention(l, batch, n_rows);
    ggml::matmul(L.wo, att_.data(), n_rows, tmp_.data(), pool_);
    parallel_rows(n_rows, E, [&](int r) {
      add_to(x_.data() + r * E, tmp_.data() + r * E, E);
      rms_norm(x_.data() + r * E, L.ffn_norm, xn_.data() + r * E, E, hp.rms_eps);
    });
    const ggml::MatmulJob gate_up[] = {{&L.gate, gate_.data()}, {&L.up, up_.data()}};
    ggml::matmul_many(gate_up, 2, xn_.data(), n_rows, pool_);
    parallel_rows(n_rows, hp.n_ff, [&](int r) {
      silu_mul(gate_.data() + r * hp.n_ff, up_.data() + r * hp.n_ff, hp.n_ff);
    });
    ggml::matmul(L.down, gate_.data(), n_rows, tmp_.data(), pool_);
    parallel_rows(n_rows, E, [&](int r) { add_to(x_.data() + r * E, tmp_.data() + r * E, E); });
  }

  parallel_rows(n_rows, E, [&](int r) {
    rms_norm(x_.data() + r * E, model_.output_norm(), xn_.data() + r * E, E, hp.rms_eps);
  });
  ggml::matmul(model_.output(), xn_.data(), n_rows, logits_.data(), pool_);
  return logits_.data();
}

}  // namespace infergate::engine::model
