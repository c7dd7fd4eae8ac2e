// SentencePiece-style tokenization (tokenizer.ggml.model = "llama"), as llama.cpp's
// llm_tokenizer_spm: the text (spaces already escaped as U+2581) is cut into UTF-8 characters,
// then the adjacent pair whose concatenation is the highest-scoring token is merged, again and
// again; characters that never became a token fall back to byte tokens <0xXX>.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "vocab/unicode.hpp"
#include "vocab/vocab_impl.hpp"

namespace infergate::engine::vocab {

struct SpmSymbol {
  std::int32_t prev;
  std::int32_t next;
  std::uint32_t offset;
  std::uint32_t size;  // 0 once merged into its left neighbour
};

struct SpmBigram {
  float score;
  std::int32_t left;
  std::int32_t right;
  std::uint32_t size;
};

struct SpmScratch {
  std::vector<SpmSymbol> symbols;
  std::vector<SpmBigram> heap;
};

namespace {

using Symbol = SpmSymbol;
using Bigram = SpmBigram;
constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";

// Tokens a merge may produce. SentencePiece never produces control, unknown, byte or unused
// pieces from text (llama.cpp would, when such a token's text is spelled out in the input).
bool mergeable(TokenType t) {
  return t != TokenType::control && t != TokenType::unknown && t != TokenType::byte &&
         t != TokenType::unused;
}

// Highest score first; among equals, leftmost first.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

bool Vocab::Impl::init_spm(std::string* /*error*/) {
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    std::int32_t id = find(hex);
    const char raw = static_cast<char>(b);
    if (id < 0) id = find(std::string_view(&raw, 1));
    spm_byte_token[b] = id;
  }
  // Words may be tokenized one by one when no token reaches across the start of a word, i.e. no
  // mergeable token has an escaped space right after something else. Then no merge crosses such
  // a point and the merges within each word happen in the same order as over the whole text.
  spm_split_words = true;
  for (std::size_t i = 0; i < text.size() && spm_split_words; ++i) {
    if (!mergeable(type[i])) continue;
    const std::string& t = text[i];
    for (std::size_t pos = t.find(kEscapedSpace, 1); pos != std::string::npos;
         pos = t.find(kEscapedSpace, pos + 1)) {
      if (pos < kEscapedSpace.size() ||
          t.compare(pos - kEscapedSpace.size(), kEscapedSpace.size(), kEscapedSpace) != 0) {
        spm_split_words = false;
        break;
      }
    }
  }
  return true;
}

void Vocab::Impl::tokenize_spm(std::string_view s, std::vector<std::int32_t>& out) const {
  SpmScratch scratch;
  if (!spm_split_words) {
    spm_segment(s, scratch, out);
    return;
  }
  // Cut before every escaped space that follows something other than an escaped space.
  std::size_t start = 0;
  for (std::size_t pos = s.find(kEscapedSpace, 1); pos != std::string_view::npos;
       pos = s.find(kEscapedSpace, pos + 1)) {
    if (pos >= kEscapedSpace.size() &&
        s.compare(pos - kEscapedSpace.size(), kEscapedSpace.size(), kEscapedSpace) == 0) {
      continue;
    }
    spm_segment(s.substr(start, pos - start), scratch, out);
    start = pos;
  }
  spm_segment(s.substr(start), scratch, out);
}

void Vocab::Impl::spm_segment(std::string_view s, SpmScratch& scratch,
                              std::vector<std::int32_t>& out) const {
  if (s.empty()) return;
  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  for (std::size_t off = 0; off < s.size();) {
    std::size_t len = std::min(unicode::utf8_len(s[off]), s.size() - off);
    // A lead byte without its continuation bytes stands alone (llama.cpp would swallow the
    // following bytes, an escaped space among them, into an invalid symbol).
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<std::uint8_t>(s[off + k]) & 0xC0) != 0x80) {
        len = 1;
        break;
      }
    }
    const auto index = static_cast<std::int32_t>(symbols.size());
    off += len;
    symbols.push_back(Symbol{index - 1, off == s.size() ? -1 : index + 1,
                             static_cast<std::uint32_t>(off - len),
                             static_cast<std::uint32_t>(len)});
  }

  std::vector<Bigram>& heap = scratch.heap;
  heap.clear();
  auto try_add = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    // Adjacent symbols are adjacent in `s`, so their concatenation is a substring.
    const std::string_view joined = s.substr(l.offset, l.size + r.size);
    const std::int32_t id = find(joined);
    if (id < 0 || !mergeable(type[id])) return;
    heap.push_back(Bigram{score[id], left, right, static_cast<std::uint32_t>(joined.size())});
    std::push_heap(heap.begin(), heap.end(), BigramLess{});
  };

  for (std::size_t i = 1; i < symbols.size(); ++i) {
    try_add(static_cast<std::int32_t>(i - 1), static_cast<std::int32_t>(i));
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramLess{});
    const Bigram bigram = heap.back();
    heap.pop_back();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    // Stale: one side was merged away, or the right side grew since the pair was queued.
    if (left.size == 0 || right.size == 0 || left.size + right.size != bigram.size) continue;
    left.size += right.size;
    right.size = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  for (std::int32_t i = 0; i != -1; i = symbols[i].next) {
    const Symbol& sym = symbols[i];
    const std::string_view text_of = s.substr(sym.offset, sym.size);
    const std::int32_t id = find(text_of);
    if (id >= 0 && mergeable(type[id])) {
      out.push_back(id);
      continue;
    }
    // Not a token: its bytes, each as <0xXX> (or <unk> where the vocabulary has no byte tokens).
    for (char c : text_of) {
      const std::int32_t byte_id = spm_byte_token[static_cast<std::uint8_t>(c)];
      if (byte_id >= 0) {
        out.push_back(byte_id);
      } else if (unk >= 0) {
        out.push_back(unk);
      }
    }
  }
}

}  // namespace infergate::engine::vocab
