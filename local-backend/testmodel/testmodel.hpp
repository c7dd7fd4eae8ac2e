// Writes Llama/Qwen2-architecture GGUF models with deterministic pseudo-random weights, for tests,
// benchmarks and the README quickstart. Tensor names, shapes, metadata keys and per-tensor types
// follow llama.cpp's conventions, so the engine reads these files exactly as it reads real ones.
//
// Weights are generated row by row from a splitmix64 stream seeded by (seed, tensor name, row),
// scaled like a real initialisation (uniform, std 1/sqrt(fan_in); norm weights near 1; small
// biases) so activations stay finite through every layer, then converted with
// ggml::quantize_row. Rows are produced in parallel threads and only one tensor's encoded bytes
// are in memory at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ggml/ggml_types.hpp"

namespace infergate::engine::testmodel {

struct Spec {
  std::string arch = "llama";  // or "qwen2" (adds q/k/v biases)
  int hidden = 64, layers = 2, heads = 4, kv_heads = 2, ffn = 128, context = 512;
  float rope_theta = 10000.0f, rms_eps = 1e-5f;
  bool tied_embeddings = false;       // no output.weight: the output projection reuses token_embd
  ggml::Type type = ggml::Type::F32;  // F32 F16 BF16 Q8_0 Q4_0 Q5_0 Q4_K Q6_K
  std::uint64_t seed = 1;
  // GGUF to copy tokenizer.* metadata from (its token count is the vocab size); empty = a
  // synthetic byte-level BPE vocabulary with ChatML specials.
  std::string vocab_path;

  // Additions to the agreed interface.
  int vocab_size = 0;  // synthetic vocab only: pad with [PADn] tokens up to this size; 0 = none
  // Type of the output projection (output.weight, or token_embd when tied); nullopt picks as
  // llama.cpp's quantizer does: Q6_K for 4/5-bit types (Q8_0 when the row is not a multiple of
  // 256), otherwise the model's type.
  std::optional<ggml::Type> output_type;
  std::string name = "infergate-testmodel";
  std::string rope_scaling;  // "" (none), "linear" or "yarn": writes the rope.scaling.* keys
  float rope_scaling_factor = 1.0f;
  int rope_original_context = 0;  // yarn: the pre-scaling context length
  int threads = 0;                // generation threads; 0 = one per core
};

bool write_model(const Spec& spec, const std::string& path, std::string* error);

// What write_model wrote.
struct Summary {
  std::int64_t parameters = 0;
  std::uint64_t file_bytes = 0;
  int vocab_size = 0;
  int tensors = 0;
};
bool write_model(const Spec& spec, const std::string& path, std::string* error, Summary* summary);

// Presets: "tiny" (the Spec defaults), "qwen2.5-0.5b" (Qwen2.5-0.5B's shapes: hidden 896, 24
// layers, 14/2 heads, FFN 4864, vocab 151936, tied), "demo" (small and quick, for the README).
// They set the shape only; false for an unknown name.
bool apply_preset(std::string_view name, Spec* spec);
std::vector<std::string_view> preset_names();

// "F32", "Q4_K", ... of the types write_model accepts; nullopt otherwise.
std::optional<ggml::Type> type_from_name(std::string_view name);

// The type a weight with rows of `cols` elements gets in a model of type `t`: `t` when its block
// size divides cols, else llama.cpp's fallback (Q4_K -> Q5_0, Q6_K -> Q8_0), else F16.
ggml::Type weight_type_for(ggml::Type t, std::int64_t cols);

// One tensor of the model: name, ggml shape, type.
struct TensorPlan {
  std::string name;
  std::vector<std::int64_t> shape;
  ggml::Type type = ggml::Type::F32;
};
// The tensors write_model writes for `spec` with a vocabulary of `vocab_size` tokens; false and
// *error when the spec is invalid.
bool plan_tensors(const Spec& spec, int vocab_size, std::vector<TensorPlan>* out,
                  std::string* error);

// The synthetic vocabulary: 256 byte tokens in GPT-2's byte-to-unicode order, the results of BPE
// merges learned from a built-in English text, <|endoftext|> <|im_start|> <|im_end|> as control
// tokens, then [PADn] (unused) tokens up to `pad_to`.
struct SyntheticVocab {
  std::vector<std::string> tokens;
  std::vector<std::int32_t> token_types;  // 1 normal, 3 control, 5 unused
  std::vector<std::string> merges;        // "left right", in priority order
  std::int32_t endoftext = -1, im_start = -1, im_end = -1;
};
SyntheticVocab synthetic_vocab(int pad_to);

// The ChatML template of Qwen2.5 (tokenizer.chat_template of the synthetic vocabulary).
std::string_view chatml_template();

}  // namespace infergate::engine::testmodel
