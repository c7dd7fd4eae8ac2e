// BPE pre-tokenizers: the regular expressions that cut text into the words BPE merges run on,
// exactly as llama.cpp (llama-vocab.cpp) and Hugging Face tokenizers define them, run by PCRE2
// (UTF + UCP, JIT) so that \p{L}, \p{N}, \s and lookahead follow Unicode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::engine::vocab {

enum class PreTokenizer : std::uint8_t {
  gpt2,       // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  llama3,     // case-insensitive contractions, \p{N}{1,3}, newlines kept with punctuation
  qwen2,      // llama3's with single digits: \p{N}
  starcoder,  // \p{N} first, then gpt2 (starcoder, smollm, refact, command-r, ...)
  fallback,   // llama.cpp's "default": punctuation runs, gpt2, \p{N}+, [0-9]{3}
};

struct PreTokenizerChoice {
  PreTokenizer pre = PreTokenizer::gpt2;
  bool ignore_merges = false;  // a word that is a token as a whole is taken as is (llama3)
  bool add_bos = false;        // the default for tokenizer.ggml.add_bos_token
};

// Maps tokenizer.ggml.pre to a pre-tokenizer; nullopt for names not known here. An empty name
// (files converted without one) is llama.cpp's "default".
std::optional<PreTokenizerChoice> pre_tokenizer_from_name(std::string_view name);
std::string_view pre_tokenizer_name(PreTokenizer p);

// Cuts `text` into consecutive pieces (their concatenation is `text`). Bytes that are not valid
// UTF-8 match no pattern and end up in pieces of their own.
std::vector<std::string_view> pre_tokenize(PreTokenizer p, std::string_view text);

// False (with the reason) when PCRE2 could not compile p's patterns: a broken PCRE2 build.
bool pre_tokenizer_ready(PreTokenizer p, std::string* error);

}  // namespace infergate::engine::vocab
