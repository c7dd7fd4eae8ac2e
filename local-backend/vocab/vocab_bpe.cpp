// Byte-level BPE (tokenizer.ggml.model = "gpt2"), as llama.cpp's llm_tokenizer_bpe: the
// pre-tokenizer cuts the text into words; each word's bytes become GPT-2 characters; then the
// adjacent pair with the best-ranked merge is merged, again and again.
//
// Symbols carry token ids and merges are looked up by (left id, right id), so a merge step costs
// one hash lookup and no string is built. This equals llama.cpp's string-keyed merging for every
// vocabulary whose merges produce tokens of the vocabulary (all real ones); merges that name
// strings outside the vocabulary are dropped at load with a warning.
#include <queue>
#include <vector>

#include "vocab/unicode.hpp"
#include "vocab/vocab_impl.hpp"

namespace infergate::engine::vocab {
namespace {

struct Symbol {
  std::int32_t prev;
  std::int32_t next;
  std::int32_t id;     // the token this symbol is, -1 if none
  std::uint32_t size;  // bytes of the word it covers; 0 once merged into its left neighbour
};

struct Bigram {
  std::int32_t rank;
  std::int32_t left;
  std::int32_t right;
  std::int32_t result;
  std::uint32_t size;
};

// Lowest rank first; among equals, leftmost first.
struct BigramGreater {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

bool Vocab::Impl::init_bpe(const std::vector<std::string>& merge_list, std::string* error) {
  if (!pre_tokenizer_ready(pre, error)) return false;
  int missing_bytes = 0;
  for (int b = 0; b < 256; ++b) {
    bpe_byte_token[b] = find(unicode::byte_to_chars(static_cast<std::uint8_t>(b)));
    if (bpe_byte_token[b] < 0) ++missing_bytes;
  }
  if (missing_bytes > 0) {
    warnings.push_back(std::to_string(missing_bytes) +
                       " bytes have no token of their own; text containing them loses them");
  }
  merges.reserve(merge_list.size());
  std::size_t skipped = 0;
  std::string joined;
  for (std::size_t rank = 0; rank < merge_list.size(); ++rank) {
    const std::string& m = merge_list[rank];
    // "left right": the separator is the first space after the first character (llama.cpp).
    const std::size_t sep = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (sep == std::string::npos) {
      ++skipped;
      continue;
    }
    const std::string_view left(m.data(), sep);
    const std::string_view right(m.data() + sep + 1, m.size() - sep - 1);
    joined.assign(left);
    joined.append(right);
    const std::int32_t l = find(left), r = find(right), res = find(joined);
    if (l < 0 || r < 0 || res < 0) {
      ++skipped;
      continue;
    }
    // The first (best-ranked) entry for a pair wins, as with llama.cpp's emplace.
    merges.emplace(merge_key(l, r), Merge{static_cast<std::int32_t>(rank), res});
  }
  if (skipped > 0) {
    warnings.push_back(std::to_string(skipped) +
                       " merges are malformed or name strings that are not tokens; ignored");
  }
  return true;
}

void Vocab::Impl::tokenize_bpe(std::string_view s, std::vector<std::int32_t>& out) const {
  std::vector<Symbol> symbols;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramGreater> queue;
  std::string encoded;

  auto try_add = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    if (l.id < 0 || r.id < 0) return;
    auto it = merges.find(merge_key(l.id, r.id));
    if (it == merges.end()) return;
    queue.push(Bigram{it->second.rank, left, right, it->second.result, l.size + r.size});
  };

  for (std::string_view word : pre_tokenize(pre, s)) {
    if (ignore_merges) {
      // Llama 3: a word that is itself a (normal) token is taken whole.
      encoded.clear();
      for (char c : word) encoded.append(unicode::byte_to_chars(static_cast<std::uint8_t>(c)));
      const std::int32_t id = find(encoded);
      if (id >= 0 && type[id] == TokenType::normal) {
        out.push_back(id);
        continue;
      }
    }

    symbols.clear();
    symbols.reserve(word.size());
    for (std::size_t i = 0; i < word.size(); ++i) {
      const auto index = static_cast<std::int32_t>(i);
      symbols.push_back(Symbol{index - 1, i + 1 == word.size() ? -1 : index + 1,
                               bpe_byte_token[static_cast<std::uint8_t>(word[i])], 1});
    }
    for (std::size_t i = 1; i < symbols.size(); ++i) {
      try_add(static_cast<std::int32_t>(i - 1), static_cast<std::int32_t>(i));
    }
    while (!queue.empty()) {
      const Bigram bigram = queue.top();
      queue.pop();
      Symbol& left = symbols[bigram.left];
      Symbol& right = symbols[bigram.right];
      // Stale: one side was merged away, or the right side grew since the pair was queued (a
      // symbol only ever grows by absorbing its right neighbour).
      if (left.size == 0 || right.size == 0 || left.size + right.size != bigram.size) continue;
      left.size += right.size;
      left.id = bigram.result;
      right.size = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = bigram.left;
      try_add(left.prev, bigram.left);
      try_add(bigram.left, left.next);
    }

    for (std::int32_t i = word.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
      if (symbols[i].id >= 0) {
        out.push_back(symbols[i].id);
      } else if (unk >= 0) {
        out.push_back(unk);  // a byte without a token (broken vocabularies only)
      }
    }
  }
}

}  // namespace infergate::engine::vocab
