#include "vocab/pretokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <memory>
#include <string>

#include "vocab/unicode.hpp"

namespace infergate::engine::vocab {
namespace {

// The patterns, verbatim from llama.cpp's llm_tokenizer_bpe (which takes them from each model's
// tokenizer.json, with "(?i:...)" spelled out as character classes). gpt2's ends in "|\s+" as in
// tokenizer.json; llama.cpp omits it but keeps the unmatched whitespace as a piece, the same thing.
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kDigit = R"(\p{N})";
constexpr const char* kPunctRun = R"([\p{P}\$\+<=>\^~\|]+)";
constexpr const char* kDigitRun = R"(\p{N}+)";
constexpr const char* kThreeDigits = R"([0-9][0-9][0-9])";

struct CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
using Code = std::unique_ptr<pcre2_code, CodeDeleter>;

struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

// One compiled pipeline: each pattern cuts the pieces the previous one produced.
struct Pipeline {
  std::vector<Code> codes;
  std::string error;  // set when a pattern failed to compile (a broken PCRE2 build)
};

Pipeline compile(std::initializer_list<const char*> patterns) {
  Pipeline p;
  for (const char* pattern : patterns) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    // MATCH_INVALID_UTF: invalid UTF-8 in the subject is never matched instead of being an error.
    pcre2_code* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_offset, nullptr);
    if (code == nullptr) {
      std::array<PCRE2_UCHAR, 256> msg{};
      pcre2_get_error_message(err, msg.data(), msg.size());
      p.error = std::string("PCRE2 cannot compile a pre-tokenizer pattern: ") +
                reinterpret_cast<const char*>(msg.data());
      p.codes.clear();
      return p;
    }
    // JIT is an optimisation only: where it is unavailable the interpreter gives the same result.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    p.codes.emplace_back(code);
  }
  return p;
}

const Pipeline& pipeline(PreTokenizer pre) {
  // Compiled once, on first use, thread-safely (function-local statics).
  static const std::array<Pipeline, 5> pipelines = {
      compile({kGpt2}),
      compile({kLlama3}),
      compile({kQwen2}),
      compile({kDigit, kGpt2}),
      compile({kPunctRun, kGpt2, kDigitRun, kThreeDigits}),
  };
  return pipelines[static_cast<std::size_t>(pre)];
}

// Appends to `out` the matches of `code` in `text` and the stretches between them.
void split(const pcre2_code* code, std::string_view text, pcre2_match_data* md,
           std::vector<std::string_view>& out) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const std::size_t n = text.size();
  std::size_t pos = 0;
  std::size_t last = 0;  // end of what has been emitted
  while (pos < n) {
    const int rc = pcre2_match(code, subject, n, pos, 0, md, nullptr);
    if (rc < 0) break;  // no further match (or a matcher error): the rest is one piece
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const std::size_t start = ov[0];
    const std::size_t end = ov[1];
    if (start < last || end > n || end < start) break;  // cannot happen; never loop on it
    if (end == start) {
      // None of the patterns matches the empty string; step over one character if one ever does.
      pos = start + unicode::utf8_len(text[start]);
      continue;
    }
    if (start > last) out.push_back(text.substr(last, start - last));
    out.push_back(text.substr(start, end - start));
    last = end;
    pos = end;
  }
  if (last < n) out.push_back(text.substr(last));
}

}  // namespace

std::optional<PreTokenizerChoice> pre_tokenizer_from_name(std::string_view name) {
  // The names llama.cpp maps to these expressions (llama_vocab::impl::load).
  static constexpr std::string_view kLlama3Names[] = {
      "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"};
  static constexpr std::string_view kLlama3RegexOnly[] = {"dbrx", "smaug-bpe"};
  static constexpr std::string_view kQwen2Names[] = {"qwen2", "deepseek-r1-qwen", "stablelm2",
                                                     "megrez"};
  static constexpr std::string_view kGpt2Names[] = {
      "gpt-2",      "phi-2",        "jina-es",     "jina-de",        "gigachat",
      "jina-v2-es", "jina-v2-de",   "a.x-4.0",     "mellum",         "modern-bert",
      "mpt",        "olmo",         "jais",        "trillion",       "exaone4",
      "jina-v1-en", "jina-v2-code", "roberta-bpe", "granite-docling"};
  static constexpr std::string_view kStarcoderNames[] = {
      "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"};
  auto in = [&](const auto& list) {
    for (std::string_view s : list) {
      if (s == name) return true;
    }
    return false;
  };
  if (in(kLlama3Names)) return PreTokenizerChoice{PreTokenizer::llama3, true, true};
  if (in(kLlama3RegexOnly)) return PreTokenizerChoice{PreTokenizer::llama3, false, false};
  if (in(kQwen2Names)) return PreTokenizerChoice{PreTokenizer::qwen2, false, false};
  if (in(kGpt2Names)) return PreTokenizerChoice{PreTokenizer::gpt2, false, false};
  if (in(kStarcoderNames)) return PreTokenizerChoice{PreTokenizer::starcoder, false, false};
  if (name.empty() || name == "default") {
    return PreTokenizerChoice{PreTokenizer::fallback, false, false};
  }
  return std::nullopt;
}

std::string_view pre_tokenizer_name(PreTokenizer p) {
  switch (p) {
    case PreTokenizer::gpt2:
      return "gpt-2";
    case PreTokenizer::llama3:
      return "llama3";
    case PreTokenizer::qwen2:
      return "qwen2";
    case PreTokenizer::starcoder:
      return "starcoder";
    case PreTokenizer::fallback:
      return "default";
  }
  return "unknown";
}

// Used by Vocab::build to refuse a vocabulary whose pre-tokenizer cannot run.
bool pre_tokenizer_ready(PreTokenizer p, std::string* error) {
  const Pipeline& pl = pipeline(p);
  if (!pl.error.empty()) {
    if (error != nullptr) *error = pl.error;
    return false;
  }
  return true;
}

std::vector<std::string_view> pre_tokenize(PreTokenizer p, std::string_view text) {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  const Pipeline& pl = pipeline(p);
  if (pl.codes.empty()) {
    pieces.push_back(text);
    return pieces;
  }
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(pcre2_match_data_create(1, nullptr));
  if (!md) {
    pieces.push_back(text);
    return pieces;
  }
  pieces.reserve(text.size() / 4 + 1);
  split(pl.codes[0].get(), text, md.get(), pieces);
  std::vector<std::string_view> next;
  for (std::size_t i = 1; i < pl.codes.size(); ++i) {
    next.clear();
    next.reserve(pieces.size());
    for (std::string_view piece : pieces) split(pl.codes[i].get(), piece, md.get(), next);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace infergate::engine::vocab
