// Internals of Vocab shared by vocab.cpp (loading, special tokens, detokenize), vocab_spm.cpp and
// vocab_bpe.cpp. Not part of the public interface.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vocab/vocab.hpp"

namespace infergate::engine::vocab {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

// The literal strings of special tokens, for finding which of them occur in a text in one pass.
class SpecialTrie {
 public:
  void insert(std::string_view text, std::int32_t index);
  // Sets seen[index] for every inserted string that occurs somewhere in `text`.
  void find_all(std::string_view text, std::vector<std::uint8_t>& seen) const;
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, std::int32_t>> children;
    std::int32_t index = -1;
  };
  std::int32_t child(std::int32_t node, unsigned char c) const;
  std::vector<Node> nodes_ = std::vector<Node>(1);
  std::array<std::int32_t, 256> root_{};  // root's children, 0 = none (node 0 is the root)
};

struct SpmScratch;

struct Vocab::Impl {
  Kind kind = Kind::spm;
  PreTokenizer pre = PreTokenizer::gpt2;
  bool ignore_merges = false;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;

  std::vector<std::string> text;
  std::vector<float> score;
  std::vector<TokenType> type;
  TokenMap token_to_id;
  std::vector<std::string> piece;  // token_to_piece, computed once

  std::int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  std::vector<std::uint8_t> eog;  // per token
  std::vector<std::int32_t> eog_ids;

  // Special tokens (control, user-defined, unknown), longest text first, for splitting input.
  std::vector<std::int32_t> specials;
  SpecialTrie special_trie;  // indices into `specials`
  bool has_user_defined = false;

  // SPM: the <0xXX> token (or the single-byte token) for each byte; -1 if none.
  std::array<std::int32_t, 256> spm_byte_token{};
  bool spm_split_words = false;  // see init_spm
  // BPE: the token of each byte's GPT-2 character; merges by (left id, right id).
  std::array<std::int32_t, 256> bpe_byte_token{};
  struct Merge {
    std::int32_t rank;
    std::int32_t result;
  };
  std::unordered_map<std::uint64_t, Merge> merges;

  std::vector<std::string> warnings;

  std::int32_t find(std::string_view s) const {
    auto it = token_to_id.find(s);
    return it == token_to_id.end() ? -1 : it->second;
  }
  bool valid(std::int32_t id) const {
    return id >= 0 && static_cast<std::size_t>(id) < text.size();
  }

  // Tokenizes one stretch of plain text (no special tokens in it) onto `out`.
  void tokenize_spm(std::string_view text, std::vector<std::int32_t>& out) const;
  void tokenize_bpe(std::string_view text, std::vector<std::int32_t>& out) const;
  void spm_segment(std::string_view text, SpmScratch& scratch,
                   std::vector<std::int32_t>& out) const;

  // Builds the tables of vocab_spm.cpp / vocab_bpe.cpp; false with *error on a fatal problem.
  bool init_spm(std::string* error);
  bool init_bpe(const std::vector<std::string>& merge_list, std::string* error);
};

inline std::uint64_t merge_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
         static_cast<std::uint32_t>(right);
}

}  // namespace infergate::engine::vocab
