// Reads a Llama-family model's hyper-parameters and tensors from GGUF metadata, validating every
// value before use: a hostile or mismatched file gives a clear error, never a crash.
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

#include "ggml/quants.hpp"
#include "model/model.hpp"

namespace infergate::engine::model {

namespace {

// Limits well beyond any real Llama-family model; they keep size arithmetic far from overflow.
constexpr std::int64_t kMaxEmbd = 1 << 16;
constexpr std::int64_t kMaxLayers = 1024;
constexpr std::int64_t kMaxHeads = 1024;
constexpr std::int64_t kMaxFf = 1 << 20;
constexpr std::int64_t kMaxVocab = 1 << 22;
constexpr std::int64_t kMaxContext = 1 << 24;

// Concatenates strings and numbers. (GCC 12 warns falsely, -Wrestrict, on some
// "literal" + std::string chains; appending avoids them.)
template <typename... Ts>
std::string cat(const Ts&... parts) {
  std::string s;
  auto add = [&s](const auto& p) {
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(p)>>) {
      s += std::to_string(p);
    } else {
      s += std::string_view(p);
    }
  };
  (add(parts), ...);
  return s;
}

std::string type_name(ggml::Type t) {
  const char* n = ggml::traits(static_cast<std::uint32_t>(t)).name;
  return n ? n : "type " + std::to_string(static_cast<std::uint32_t>(t));
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace

class ModelLoader {
 public:
  ModelLoader(const gguf::File& file, Model& model, std::string* error)
      : file_(file), m_(model), error_(error) {}

  bool run() {
    if (!read_hparams()) return false;
    if (!read_tensors()) return false;
    for (const gguf::TensorInfo& t : file_.tensors()) {
      std::int64_t n = 1;
      for (std::int64_t d : t.shape) n *= d;
      m_.n_params_ += n;
    }
    return true;
  }

 private:
  bool fail(std::string msg) {
    if (error_) *error_ = "model: " + std::move(msg);
    return false;
  }

  std::string key(std::string_view suffix) const {
    return m_.hp_.arch_name + "." + std::string(suffix);
  }

  // Integer metadata `suffix` under the architecture prefix, in [lo, hi]; `def` when absent
  // (nullopt def = required).
  bool get_int(std::string_view suffix, std::int64_t lo, std::int64_t hi,
               std::optional<std::int64_t> def, int* out) {
    const std::string k = key(suffix);
    const gguf::Value* v = file_.find(k);
    if (!v) {
      if (!def) return fail("missing required metadata key '" + k + "'");
      *out = static_cast<int>(*def);
      return true;
    }
    const std::optional<std::int64_t> x = file_.get_int(k);
    if (!x) return fail("metadata key '" + k + "' is not an integer");
    if (*x < lo || *x > hi) {
      return fail("metadata key '" + k + "' = " + std::to_string(*x) + " is out of range [" +
                  std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    *out = static_cast<int>(*x);
    return true;
  }

  bool get_float(std::string_view suffix, double lo, double hi, float def, float* out) {
    const std::string k = key(suffix);
    if (!file_.find(k)) {
      *out = def;
      return true;
    }
    const std::optional<double> x = file_.get_float(k);
    if (!x) return fail("metadata key '" + k + "' is not a number");
    if (!std::isfinite(*x) || *x < lo || *x > hi) {
      return fail("metadata key '" + k + "' = " + std::to_string(*x) + " is out of range");
    }
    *out = static_cast<float>(*x);
    return true;
  }

  bool read_hparams() {
    Hparams& hp = m_.hp_;
    const std::optional<std::string_view> arch = file_.get_string("general.architecture");
    if (!arch) return fail("missing metadata key 'general.architecture'");
    if (*arch == "llama") {
      hp.arch = Arch::llama;
      hp.rope_style = RopeStyle::normal;
    } else if (*arch == "qwen2") {
      hp.arch = Arch::qwen2;
      hp.rope_style = RopeStyle::neox;
    } else {
      return fail("unsupported architecture '" + std::string(arch->substr(0, 64)) +
                  "' (supported: llama, qwen2)");
    }
    hp.arch_name = std::string(*arch);

    if (!get_int("context_length", 1, kMaxContext, std::nullopt, &hp.n_ctx_train)) return false;
    if (!get_int("embedding_length", 1, kMaxEmbd, std::nullopt, &hp.n_embd)) return false;
    if (!get_int("block_count", 1, kMaxLayers, std::nullopt, &hp.n_layer)) return false;
    if (!get_int("feed_forward_length", 1, kMaxFf, std::nullopt, &hp.n_ff)) return false;
    if (!get_int("attention.head_count", 1, kMaxHeads, std::nullopt, &hp.n_head)) return false;
    if (!get_int("attention.head_count_kv", 1, kMaxHeads, hp.n_head, &hp.n_head_kv)) return false;
    if (hp.n_head % hp.n_head_kv != 0) {
      return fail(cat("'", key("attention.head_count"), "' (", hp.n_head,
                      ") is not a multiple of '", key("attention.head_count_kv"), "' (",
                      hp.n_head_kv, ")"));
    }
    const bool has_key_length = file_.find(key("attention.key_length")) != nullptr;
    if (!has_key_length && hp.n_embd % hp.n_head != 0) {
      return fail(cat("'", key("attention.head_count"), "' (", hp.n_head, ") does not divide '",
                      key("embedding_length"), "' (", hp.n_embd, ")"));
    }
    if (!get_int("attention.key_length", 2, kMaxHeadDim, hp.n_embd / hp.n_head, &hp.head_dim)) {
      return false;
    }
    int value_length = 0;
    if (!get_int("attention.value_length", 1, kMaxHeadDim, hp.head_dim, &value_length)) {
      return false;
    }
    if (value_length != hp.head_dim) {
      return fail("'" + key("attention.value_length") + "' (" + std::to_string(value_length) +
                  ") differs from the key length (" + std::to_string(hp.head_dim) +
                  "); not supported");
    }
    if (hp.head_dim % 2 != 0) return fail(cat("head dimension ", hp.head_dim, " is odd"));
    if (!get_int("rope.dimension_count", 2, hp.head_dim, hp.head_dim, &hp.n_rot)) return false;
    if (hp.n_rot % 2 != 0) {
      return fail("'" + key("rope.dimension_count") + "' (" + std::to_string(hp.n_rot) +
                  ") is odd");
    }
    if (!get_float("rope.freq_base", 1e-3, 1e12, 10000.0f, &hp.rope_freq_base)) return false;
    if (!get_float("attention.layer_norm_rms_epsilon", 1e-12, 0.1, 1e-5f, &hp.rms_eps))
      return false;

    // Rope scaling: none or linear (positions divided by the factor). llama3-style scaling comes
    // as per-dimension factors in the `rope_freqs.weight` tensor (read with the tensors).
    std::string scaling = "none";
    if (file_.find(key("rope.scaling.type"))) {
      const std::optional<std::string_view> s = file_.get_string(key("rope.scaling.type"));
      if (!s) return fail("metadata key '" + key("rope.scaling.type") + "' is not a string");
      scaling = std::string(s->substr(0, 64));
    }
    float factor = 1.0f;
    if (scaling == "linear") {
      if (!get_float("rope.scaling.factor", 1e-3, 1e6, 1.0f, &factor)) return false;
    } else if (scaling == "none") {
      // Older converters wrote the linear factor under this key alone.
      if (!get_float("rope.scale_linear", 1e-3, 1e6, 1.0f, &factor)) return false;
    } else {
      return fail("rope scaling type '" + scaling +
                  "' is not supported (supported: none, linear, llama3 frequency factors)");
    }
    hp.rope_freq_scale = 1.0f / factor;
    return true;
  }

  const gguf::TensorInfo* tensor(const std::string& name, bool required) {
    const gguf::TensorInfo* t = file_.find_tensor(name);
    if (!t && required) fail("missing tensor '" + name + "'");
    return t;
  }

  // Shape check allowing trailing dimensions of 1 (some writers store 1-D tensors as [n, 1]).
  bool shape_is(const gguf::TensorInfo& t, std::int64_t ne0, std::int64_t ne1) {
    std::vector<std::int64_t> want = {ne0};
    if (ne1 > 0) want.push_back(ne1);
    bool ok = t.shape.size() >= want.size();
    for (std::size_t i = 0; ok && i < t.shape.size(); ++i) {
      ok = t.shape[i] == (i < want.size() ? want[i] : 1);
    }
    if (!ok) {
      return fail("tensor '" + std::string(t.name) + "' has shape " + shape_string(t.shape) +
                  ", expected " + shape_string(want));
    }
    return true;
  }

  bool matrix(const std::string& name, std::int64_t ne0, std::int64_t ne1, ggml::WeightView* out,
              bool required = true) {
    const gguf::TensorInfo* t = tensor(name, required);
    if (!t) return !required;
    if (!shape_is(*t, ne0, ne1)) return false;
    if (!ggml::is_supported(t->type) || t->type == ggml::Type::Q8_K) {
      return fail("tensor '" + name + "' has type " + type_name(t->type) +
                  ", which the engine's kernels do not support");
    }
    const std::size_t rb = ggml::row_bytes(t->type, ne0);
    if (rb == 0 || t->bytes < rb * static_cast<std::size_t>(ne1) || !t->data) {
      return fail("tensor '" + name + "' has inconsistent size for its shape and type");
    }
    *out = ggml::WeightView{t->type, t->data, ne1, ne0};
    return true;
  }

  // A 1-D tensor of n values, copied to F32 (biases, norms: tiny, and the copy is aligned).
  bool vector(const std::string& name, std::int64_t n, const float** out, bool required = true) {
    const gguf::TensorInfo* t = tensor(name, required);
    if (!t) return !required;
    if (!shape_is(*t, n, 0)) return false;
    if (!ggml::is_supported(t->type) || ggml::row_bytes(t->type, n) == 0 ||
        t->bytes < ggml::row_bytes(t->type, n) || !t->data) {
      return fail("tensor '" + name + "' has type " + type_name(t->type) +
                  ", which cannot be read as a vector of " + std::to_string(n) + " values");
    }
    std::vector<float> v(static_cast<std::size_t>(n));
    if (t->type == ggml::Type::F32) {
      std::memcpy(v.data(), t->data, v.size() * sizeof(float));
    } else {
      ggml::dequantize_row(t->type, t->data, v.data(), n);
    }
    for (float x : v) {
      if (!std::isfinite(x)) return fail("tensor '" + name + "' holds a non-finite value");
    }
    *out = v.data();
    m_.owned_.push_back(std::move(v));
    return true;
  }

  bool read_tensors() {
    Hparams& hp = m_.hp_;
    const std::int64_t q_dim = static_cast<std::int64_t>(hp.n_head) * hp.head_dim;
    const std::int64_t kv_dim = static_cast<std::int64_t>(hp.n_head_kv) * hp.head_dim;

    const gguf::TensorInfo* embd = tensor("token_embd.weight", true);
    if (!embd) return false;
    if (embd->shape.size() < 2 || embd->shape[1] < 1 || embd->shape[1] > kMaxVocab) {
      return fail("tensor 'token_embd.weight' has shape " + shape_string(embd->shape) +
                  ", expected [" + std::to_string(hp.n_embd) + ", n_vocab]");
    }
    hp.n_vocab = static_cast<int>(embd->shape[1]);
    if (!matrix("token_embd.weight", hp.n_embd, hp.n_vocab, &m_.token_embd_)) return false;
    if (!vector("output_norm.weight", hp.n_embd, &m_.output_norm_)) return false;
    hp.tied_output = file_.find_tensor("output.weight") == nullptr;
    if (hp.tied_output) {
      m_.output_ = m_.token_embd_;
    } else if (!matrix("output.weight", hp.n_embd, hp.n_vocab, &m_.output_)) {
      return false;
    }

    const bool biases_required = hp.arch == Arch::qwen2;
    m_.layers_.resize(static_cast<std::size_t>(hp.n_layer));
    std::int64_t bytes = 0;
    for (int i = 0; i < hp.n_layer; ++i) {
      Layer& l = m_.layers_[static_cast<std::size_t>(i)];
      const std::string p = "blk." + std::to_string(i) + ".";
      if (!vector(p + "attn_norm.weight", hp.n_embd, &l.attn_norm) ||
          !matrix(p + "attn_q.weight", hp.n_embd, q_dim, &l.wq) ||
          !matrix(p + "attn_k.weight", hp.n_embd, kv_dim, &l.wk) ||
          !matrix(p + "attn_v.weight", hp.n_embd, kv_dim, &l.wv) ||
          !matrix(p + "attn_output.weight", q_dim, hp.n_embd, &l.wo) ||
          !vector(p + "attn_q.bias", q_dim, &l.bq, biases_required) ||
          !vector(p + "attn_k.bias", kv_dim, &l.bk, biases_required) ||
          !vector(p + "attn_v.bias", kv_dim, &l.bv, biases_required) ||
          !vector(p + "ffn_norm.weight", hp.n_embd, &l.ffn_norm) ||
          !matrix(p + "ffn_gate.weight", hp.n_embd, hp.n_ff, &l.gate) ||
          !matrix(p + "ffn_up.weight", hp.n_embd, hp.n_ff, &l.up) ||
          !matrix(p + "ffn_down.weight", hp.n_ff, hp.n_embd, &l.down)) {
        return false;
      }
      for (const ggml::WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) {
        bytes += static_cast<std::int64_t>(ggml::row_bytes(w->type, w->cols)) * w->rows;
      }
    }
    bytes += static_cast<std::int64_t>(ggml::row_bytes(m_.output_.type, m_.output_.cols)) *
             m_.output_.rows;
    bytes += static_cast<std::int64_t>(ggml::row_bytes(m_.token_embd_.type, hp.n_embd));
    m_.bytes_per_token_ = bytes;
    pack_weights();

    // Rotary inverse frequencies, with llama3-style per-pair divisors when the file has them.
    const int n_pairs = hp.n_rot / 2;
    const float* factors = nullptr;
    if (!vector("rope_freqs.weight", n_pairs, &factors, false)) return false;
    m_.rope_inv_freq_.resize(static_cast<std::size_t>(n_pairs));
    for (int i = 0; i < n_pairs; ++i) {
      double f = hp.rope_freq_scale *
                 std::pow(static_cast<double>(hp.rope_freq_base), -2.0 * i / hp.n_rot);
      if (factors) {
        if (!(factors[i] > 0.0f)) return fail("tensor 'rope_freqs.weight' holds a value <= 0");
        f /= factors[i];
      }
      m_.rope_inv_freq_[static_cast<std::size_t>(i)] = static_cast<float>(f);
    }
    return true;
  }

  // Copies the matrices that have a faster packed layout on this CPU (PackedWeights), and drops
  // the file pages they were read from so that the model is not resident twice. An untied
  // token_embd is not packed: a step reads only a few of its rows.
  void pack_weights() {
    std::vector<ggml::WeightView*> views;
    for (Layer& l : m_.layers_) {
      for (ggml::WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) {
        views.push_back(w);
      }
    }
    views.push_back(&m_.output_);
    m_.packed_ = ggml::PackedWeights::pack(
        views, [&](const void* p, std::size_t bytes) { file_.release_pages(p, bytes); });
    // A tied table is read through the output's copy (ggml::get_row), so the file's pages of
    // it, dropped above, stay dropped.
    if (m_.hp_.tied_output) m_.token_embd_.packed = m_.output_.packed;
  }

  const gguf::File& file_;
  Model& m_;
  std::string* error_;
};

std::unique_ptr<Model> Model::load(const gguf::File& file, std::string* error) {
  std::unique_ptr<Model> m(new Model());
  ModelLoader loader(file, *m, error);
  if (!loader.run()) return nullptr;
  return m;
}

}  // namespace infergate::engine::model
