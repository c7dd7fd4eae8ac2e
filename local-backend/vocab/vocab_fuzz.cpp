// Tokenizes arbitrary bytes with small SentencePiece and byte-level BPE vocabularies (every
// pre-tokenizer) and checks that nothing crashes, every id is in range and detokenize() gives the
// text back. The first input byte picks the vocabulary.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "vocab/unicode.hpp"
#include "vocab/vocab.hpp"

namespace {

using infergate::engine::vocab::TokenType;
using infergate::engine::vocab::Vocab;
using infergate::engine::vocab::VocabData;

void add(VocabData& d, std::string text, float score, TokenType type) {
  d.tokens.push_back(std::move(text));
  d.scores.push_back(score);
  d.token_types.push_back(static_cast<std::int64_t>(type));
}

std::unique_ptr<Vocab> make_spm() {
  VocabData d;
  d.model = "llama";
  add(d, "<unk>", 0, TokenType::unknown);
  add(d, "<s>", 0, TokenType::control);
  add(d, "</s>", 0, TokenType::control);
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    add(d, hex, 0, TokenType::byte);
  }
  const std::string sp = "\xE2\x96\x81";
  const char* words[] = {"a", "b", "ab", "ba", "<", ">", "s", "<s", "\xC3\xA9", "\xE6\x88\x91"};
  float score = -1;
  add(d, sp, score, TokenType::normal);
  for (const char* w : words) {
    add(d, w, score -= 0.5f, TokenType::normal);
    add(d, sp + w, score -= 0.25f, TokenType::normal);
  }
  add(d, sp + sp, -20, TokenType::normal);
  add(d, "<user>", 0, TokenType::user_defined);
  std::string error;
  return Vocab::build(std::move(d), &error);
}

std::unique_ptr<Vocab> make_bpe(const char* pre) {
  VocabData d;
  d.model = "gpt2";
  d.pre = pre;
  for (int b = 0; b < 256; ++b) {
    d.tokens.emplace_back(
        infergate::engine::vocab::unicode::byte_to_chars(static_cast<std::uint8_t>(b)));
  }
  const char* merges[] = {"a b", "Ġ a", "Ġa b", "1 2", "12 3", "Ċ Ċ", "Ġ Ġ", "ĠĠ ĠĠ", "' s", "Ã ©"};
  for (const char* m : merges) {
    std::string s = m;
    const auto sep = s.find(' ', 1);
    d.tokens.push_back(s.substr(0, sep) + s.substr(sep + 1));
    d.merges.push_back(s);
  }
  d.token_types.assign(d.tokens.size(), 1);
  d.tokens.push_back("<|im_end|>");
  d.token_types.push_back(3);
  d.tokens.push_back("<tool>");
  d.token_types.push_back(4);
  std::string error;
  return Vocab::build(std::move(d), &error);
}

const std::vector<std::unique_ptr<Vocab>>& vocabs() {
  static const auto all = [] {
    std::vector<std::unique_ptr<Vocab>> v;
    v.push_back(make_spm());
    for (const char* pre : {"gpt-2", "llama-bpe", "qwen2", "smollm", "default"}) {
      v.push_back(make_bpe(pre));
    }
    return v;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& all = vocabs();
  const Vocab* v = all[data[0] % all.size()].get();
  if (v == nullptr) std::abort();  // the fixed vocabularies must build
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  for (bool parse_special : {false, true}) {
    const auto ids = v->tokenize(text, true, parse_special);
    for (auto id : ids) {
      if (id < 0 || id >= v->n_tokens()) std::abort();
    }
    const std::string back = v->detokenize(v->tokenize(text, false, parse_special), false);
    // SentencePiece reads a literal U+2581 as a space; everything else comes back byte for byte.
    if (back != text && text.find("\xE2\x96\x81") == std::string::npos) std::abort();
  }
  return 0;
}
