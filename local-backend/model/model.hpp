// A Llama-family model (llama, qwen2) read from a GGUF file: hyper-parameters and views of the
// weights. The big weights stay inside the file's mapping; only 1-D tensors (norms, biases, rope
// frequency factors) are converted to F32 copies, a few KB each.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ggml/matmul.hpp"
#include "gguf/gguf.hpp"

namespace infergate::engine::model {

enum class Arch : std::uint8_t { llama, qwen2 };

// How rotary embeddings pair up the dimensions of a head (llama.cpp's llama_model_rope_type):
// `normal` rotates adjacent pairs (x[2i], x[2i+1]) — llama, whose q/k were permuted by the
// converter; `neox` rotates halves (x[i], x[i + n_rot/2]) — qwen2.
enum class RopeStyle : std::uint8_t { normal, neox };

// The largest head dimension a model may have (the loader rejects more).
inline constexpr int kMaxHeadDim = 1024;

struct Hparams {
  Arch arch = Arch::llama;
  std::string arch_name;
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;  // at most kMaxHeadDim
  int n_rot = 0;     // rotated dimensions per head (<= head_dim, even)
  int n_ff = 0;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  float rms_eps = 1e-5f;
  RopeStyle rope_style = RopeStyle::normal;
  bool tied_output = false;  // output projection is token_embd
};

struct Layer {
  const float* attn_norm = nullptr;
  ggml::WeightView wq, wk, wv, wo;
  const float* bq = nullptr;  // optional (qwen2: required)
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* ffn_norm = nullptr;
  ggml::WeightView gate, up, down;
};

class Model {
 public:
  // Reads and validates hyper-parameters and every tensor (presence, type, shape). `file` must
  // outlive the model. On failure returns nullptr and sets *error.
  static std::unique_ptr<Model> load(const gguf::File& file, std::string* error);

  const Hparams& hparams() const { return hp_; }
  const ggml::WeightView& token_embd() const { return token_embd_; }
  const ggml::WeightView& output() const { return output_; }
  const float* output_norm() const { return output_norm_; }
  const std::vector<Layer>& layers() const { return layers_; }
  // Inverse frequency of each rotated pair: scale * base^(-2i/n_rot) / factor_i (n_rot/2 values).
  const std::vector<float>& rope_inv_freq() const { return rope_inv_freq_; }
  std::int64_t n_params() const { return n_params_; }
  // Bytes of weights read to compute one token's logits (every matmul weight plus one embedding
  // row): the memory traffic that bounds decode speed.
  std::int64_t weight_bytes_per_token() const { return bytes_per_token_; }

 private:
  Model() = default;
  friend class ModelLoader;

  Hparams hp_;
  ggml::WeightView token_embd_{};
  ggml::WeightView output_{};
  const float* output_norm_ = nullptr;
  std::vector<Layer> layers_;
  std::vector<float> rope_inv_freq_;
  std::vector<std::vector<float>> owned_;  // F32 copies of 1-D tensors
  ggml::PackedWeights packed_;             // what the views' `packed` point into
  std::int64_t n_params_ = 0;
  std::int64_t bytes_per_token_ = 0;
};

}  // namespace infergate::engine::model
