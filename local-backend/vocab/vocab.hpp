// Tokenizers for GGUF models: SentencePiece-style (tokenizer.ggml.model = "llama") and byte-level
// BPE ("gpt2"), reproducing llama.cpp's llama-vocab.cpp token for token.
//
// A Vocab is immutable after load and safe to use from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vocab/pretokenizer.hpp"

namespace infergate::engine::gguf {
class File;
}

namespace infergate::engine::vocab {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : std::uint8_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

enum class Kind : std::uint8_t { spm, bpe };

// Limits on what a file may declare.
inline constexpr std::size_t kMaxTokens = 1u << 22;
inline constexpr std::size_t kMaxMerges = 1u << 23;
inline constexpr std::size_t kMaxTokenBytes = 1u << 16;

// Everything a Vocab is built from: the tokenizer.ggml.* metadata, already typed. load() fills
// it from a GGUF file; tests and tools may fill it directly.
struct VocabData {
  std::string model;  // "llama" (SPM) | "gpt2" (BPE)
  std::string pre;    // tokenizer.ggml.pre (BPE only)
  std::vector<std::string> tokens;
  std::vector<float> scores;              // empty: all 0
  std::vector<std::int64_t> token_types;  // empty: all normal
  std::vector<std::string> merges;        // BPE: "left right", highest priority first
  std::optional<std::int64_t> bos, eos, eot, eom, unk, pad;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
};

class Vocab {
 public:
  // Reads tokenizer.ggml.*; nullptr and *error when the vocabulary is missing, malformed or of an
  // unsupported kind. Recoverable oddities (an out-of-range special id, an unknown pre-tokenizer
  // name, a merge naming unknown tokens) are accepted and listed in warnings().
  static std::unique_ptr<Vocab> load(const gguf::File& file, std::string* error);
  static std::unique_ptr<Vocab> build(VocabData data, std::string* error);
  ~Vocab();
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  // add_special: BOS (and EOS) as the metadata says. parse_special: control and unknown tokens
  // written literally in `text` become their ids; user-defined tokens always do (as in llama.cpp
  // and Hugging Face tokenizers). Bytes that are not valid UTF-8 are kept (byte tokens).
  std::vector<std::int32_t> tokenize(std::string_view text, bool add_special,
                                     bool parse_special) const;
  // The bytes this token stands for (control and unknown tokens: their text; unused: nothing).
  // Pieces concatenate to the text as generated: use this for streaming output.
  std::string token_to_piece(std::int32_t id) const;
  // The inverse of tokenize(): for SPM vocabularies the space tokenize() puts before the text
  // (at the start and after each special token) is removed again. remove_special drops control
  // and unknown tokens. Ids out of range are skipped. Byte-exact: no clean-up of spaces.
  std::string detokenize(const std::vector<std::int32_t>& ids, bool remove_special) const;

  // -1 when the vocabulary has no such token.
  std::int32_t bos() const;
  std::int32_t eos() const;
  std::int32_t eot() const;
  std::int32_t eom() const;
  std::int32_t unk() const;
  std::int32_t pad() const;
  // End of generation: eos, eot, eom and tokens such as <|im_end|>, <|eot_id|>, <|endoftext|>.
  bool is_eog(std::int32_t id) const;
  const std::vector<std::int32_t>& eog_ids() const;

  bool add_bos() const;
  bool add_eos() const;
  bool add_space_prefix() const;
  Kind kind() const;
  PreTokenizer pre_tokenizer() const;  // BPE only

  std::int32_t n_tokens() const;
  std::string_view token_text(std::int32_t id) const;  // empty when out of range
  TokenType token_type(std::int32_t id) const;         // undefined when out of range
  float token_score(std::int32_t id) const;            // 0 when out of range
  std::optional<std::int32_t> find_token(std::string_view text) const;

  const std::vector<std::string>& warnings() const;

  struct Impl;

 private:
  explicit Vocab(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// How many leading bytes of `text` can be shown without cutting a UTF-8 character in two: all of
// it, less an incomplete multi-byte sequence at the very end (at most 3 bytes). For streaming:
// emit that prefix, keep the rest until the next piece arrives. Invalid bytes are not held back.
std::size_t complete_utf8_prefix(std::string_view text);

}  // namespace infergate::engine::vocab
