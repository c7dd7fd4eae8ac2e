// Loading a vocabulary from tokenizer.ggml.*, special tokens, and the parts of tokenize() and
// detokenize() both tokenizer kinds share. Follows llama.cpp's llama_vocab::impl.
#include "vocab/vocab.hpp"

#include <algorithm>
#include <utility>

#include "gguf/gguf.hpp"
#include "vocab/unicode.hpp"
#include "vocab/vocab_impl.hpp"

namespace infergate::engine::vocab {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's escaped space

// Texts that end generation whatever the metadata says (llama.cpp's list, trimmed to models of
// this family and its neighbours).
constexpr std::string_view kEogTexts[] = {"<|eot_id|>",    "<|im_end|>",      "<|end|>",
                                          "<end_of_turn>", "<|endoftext|>",   "<|eom_id|>",
                                          "<EOT>",         "<|end_of_text|>", "<end_of_utterance>"};
// Candidates for the end-of-turn token when tokenizer.ggml.eot_token_id is absent, best first.
constexpr std::string_view kEotTexts[] = {"<|eot_id|>",     "<|im_end|>", "<|end|>",
                                          "<end_of_turn>",  "<EOT>",      "<|endoftext|>",
                                          "<|end_of_text|>"};

bool is_special_type(TokenType t) {
  return t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown;
}

// A name from the file, made safe to put in a message.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  }
  if (s.size() > 64) out += "...";
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xXX>" -> XX, else -1.
int byte_token_value(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  const int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  while (true) {
    const std::size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// What a normal BPE token stands for: each character mapped back to its byte. Characters outside
// GPT-2's map (and invalid UTF-8) are kept as they are.
std::string decode_bpe_text(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  std::size_t pos = 0;
  while (pos < t.size()) {
    const std::size_t start = pos;
    std::uint32_t cp = 0;
    if (unicode::decode_utf8(t, &pos, &cp)) {
      const int b = unicode::chars_to_byte(cp);
      if (b >= 0) {
        out.push_back(static_cast<char>(b));
        continue;
      }
    }
    out.append(t.substr(start, pos - start));
  }
  return out;
}

}  // namespace

// ---- SpecialTrie ----

std::int32_t SpecialTrie::child(std::int32_t node, unsigned char c) const {
  if (node == 0) return root_[c];
  for (const auto& [ch, next] : nodes_[node].children) {
    if (ch == c) return next;
  }
  return 0;
}

void SpecialTrie::insert(std::string_view text, std::int32_t index) {
  std::int32_t node = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    std::int32_t next = child(node, c);
    if (next == 0) {
      next = static_cast<std::int32_t>(nodes_.size());
      nodes_.emplace_back();
      if (node == 0) {
        root_[c] = next;
      } else {
        nodes_[node].children.emplace_back(c, next);
      }
    }
    node = next;
  }
  if (node != 0 && nodes_[node].index < 0) nodes_[node].index = index;
}

void SpecialTrie::find_all(std::string_view text, std::vector<std::uint8_t>& seen) const {
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::int32_t node = root_[static_cast<unsigned char>(text[i])];
    for (std::size_t j = i + 1; node != 0; ++j) {
      if (nodes_[node].index >= 0) seen[nodes_[node].index] = 1;
      if (j == n) break;
      node = child(node, static_cast<unsigned char>(text[j]));
    }
  }
}

// ---- building ----

std::unique_ptr<Vocab> Vocab::build(VocabData data, std::string* error) {
  auto fail = [&](std::string msg) -> std::unique_ptr<Vocab> {
    if (error != nullptr) *error = "vocabulary: " + std::move(msg);
    return nullptr;
  };
  auto impl = std::make_unique<Impl>();
  Impl& v = *impl;

  if (data.model == "llama") {
    v.kind = Kind::spm;
  } else if (data.model == "gpt2") {
    v.kind = Kind::bpe;
  } else {
    return fail("unsupported tokenizer.ggml.model '" + printable(data.model) +
                "' (supported: llama, gpt2)");
  }

  const std::size_t n = data.tokens.size();
  if (n == 0) return fail("tokenizer.ggml.tokens is empty");
  if (n > kMaxTokens) return fail("tokenizer.ggml.tokens has more than 4M entries");
  if (!data.scores.empty() && data.scores.size() < n) {
    return fail("tokenizer.ggml.scores has fewer entries than tokenizer.ggml.tokens");
  }
  if (!data.token_types.empty() && data.token_types.size() < n) {
    return fail("tokenizer.ggml.token_type has fewer entries than tokenizer.ggml.tokens");
  }
  if (data.merges.size() > kMaxMerges) return fail("tokenizer.ggml.merges has too many entries");

  v.text = std::move(data.tokens);
  v.score.assign(n, 0.0f);
  v.type.assign(n, TokenType::normal);
  v.token_to_id.reserve(n);
  std::size_t duplicates = 0, empty = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (v.text[i].size() > kMaxTokenBytes) {
      return fail("token " + std::to_string(i) + " is longer than 64 KiB");
    }
    if (!data.scores.empty()) v.score[i] = data.scores[i];
    if (!data.token_types.empty()) {
      const std::int64_t t = data.token_types[i];
      v.type[i] = t >= 1 && t <= 6 ? static_cast<TokenType>(t) : TokenType::undefined;
    }
    if (v.text[i].empty()) {
      ++empty;  // matches nothing, stands for nothing
      continue;
    }
    if (!v.token_to_id.emplace(v.text[i], static_cast<std::int32_t>(i)).second) ++duplicates;
  }
  if (empty > 0) v.warnings.push_back(std::to_string(empty) + " tokens are empty");
  if (duplicates > 0) {
    v.warnings.push_back(std::to_string(duplicates) +
                         " tokens repeat an earlier token's text; the first id is used");
  }

  // Defaults as llama.cpp's, then the file's values where they are in range.
  const auto count = static_cast<std::int64_t>(n);
  auto default_id = [&](std::int64_t id) {
    return id < count ? static_cast<std::int32_t>(id) : -1;
  };
  if (v.kind == Kind::spm) {
    v.bos = default_id(1);
    v.eos = default_id(2);
    v.unk = default_id(0);
    v.add_bos = true;
    v.add_space_prefix = true;
  } else {
    auto choice = pre_tokenizer_from_name(data.pre);
    if (!choice) {
      v.warnings.push_back("unknown pre-tokenizer '" + printable(data.pre) +
                           "'; using gpt-2's, tokens may differ from the model's own");
      choice = PreTokenizerChoice{};
    } else if (data.pre.empty()) {
      v.warnings.push_back("no tokenizer.ggml.pre; using llama.cpp's default pre-tokenizer");
    }
    v.pre = choice->pre;
    v.ignore_merges = choice->ignore_merges;
    v.add_bos = choice->add_bos;
  }
  auto set_id = [&](const std::optional<std::int64_t>& value, std::int32_t& id, const char* key) {
    if (!value) return;
    if (*value >= 0 && *value < count) {
      id = static_cast<std::int32_t>(*value);
    } else {
      v.warnings.push_back(std::string("tokenizer.ggml.") + key + " = " + std::to_string(*value) +
                           " is out of range; ignored");
    }
  };
  set_id(data.bos, v.bos, "bos_token_id");
  set_id(data.eos, v.eos, "eos_token_id");
  set_id(data.eot, v.eot, "eot_token_id");
  set_id(data.eom, v.eom, "eom_token_id");
  set_id(data.unk, v.unk, "unknown_token_id");
  set_id(data.pad, v.pad, "padding_token_id");
  if (data.add_bos) v.add_bos = *data.add_bos;
  if (data.add_eos) v.add_eos = *data.add_eos;
  // Only SentencePiece puts a space before the text; BPE ignores the key (as llama.cpp does when
  // tokenizing).
  if (data.add_space_prefix && v.kind == Kind::spm) v.add_space_prefix = *data.add_space_prefix;
  if (v.add_bos && v.bos < 0) {
    v.warnings.push_back("add_bos_token is set but there is no BOS token; not adding one");
    v.add_bos = false;
  }
  if (v.add_eos && v.eos < 0) {
    v.warnings.push_back("add_eos_token is set but there is no EOS token; not adding one");
    v.add_eos = false;
  }

  // End of generation. Tokens found by their text are made control tokens, as llama.cpp does, so
  // that they are never produced from ordinary text and are dropped by remove_special.
  auto mark_control = [&](std::int32_t id) {
    if (v.type[id] != TokenType::control) v.type[id] = TokenType::control;
  };
  if (v.eot < 0) {
    for (std::string_view t : kEotTexts) {
      const std::int32_t id = v.find(t);
      if (id >= 0) {
        v.eot = id;
        mark_control(id);
        break;
      }
    }
  }
  if (v.eom < 0) {
    const std::int32_t id = v.find("<|eom_id|>");
    if (id >= 0) {
      v.eom = id;
      mark_control(id);
    }
  }
  v.eog.assign(n, 0);
  for (std::string_view t : kEogTexts) {
    const std::int32_t id = v.find(t);
    if (id >= 0) {
      v.eog[id] = 1;
      mark_control(id);
    }
  }
  for (std::int32_t id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) v.eog[id] = 1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (v.eog[i]) v.eog_ids.push_back(static_cast<std::int32_t>(i));
  }

  if (v.kind == Kind::spm) {
    if (!v.init_spm(error)) return nullptr;
  } else {
    if (!v.init_bpe(data.merges, error)) return nullptr;
  }

  // Special tokens, longest first (ties by id, so the order is the same on every run).
  for (std::size_t i = 0; i < n; ++i) {
    if (is_special_type(v.type[i]) && !v.text[i].empty()) {
      v.specials.push_back(static_cast<std::int32_t>(i));
      if (v.type[i] == TokenType::user_defined) v.has_user_defined = true;
    }
  }
  std::stable_sort(v.specials.begin(), v.specials.end(), [&](std::int32_t a, std::int32_t b) {
    return v.text[a].size() > v.text[b].size();
  });
  for (std::size_t k = 0; k < v.specials.size(); ++k) {
    v.special_trie.insert(v.text[v.specials[k]], static_cast<std::int32_t>(k));
  }

  v.piece.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& t = v.text[i];
    switch (v.type[i]) {
      case TokenType::control:
      case TokenType::unknown:
      case TokenType::user_defined:
        v.piece[i] = t;
        break;
      case TokenType::byte: {
        const int b = byte_token_value(t);
        v.piece[i] = b >= 0 ? std::string(1, static_cast<char>(b)) : t;
        break;
      }
      case TokenType::normal:
        v.piece[i] = v.kind == Kind::spm ? replace_all(t, kSpace, " ") : decode_bpe_text(t);
        break;
      case TokenType::unused:
      case TokenType::undefined:
        break;  // stands for nothing, as in llama.cpp
    }
  }

  return std::unique_ptr<Vocab>(new Vocab(std::move(impl)));
}

std::unique_ptr<Vocab> Vocab::load(const gguf::File& file, std::string* error) {
  auto fail = [&](std::string msg) -> std::unique_ptr<Vocab> {
    if (error != nullptr) *error = "vocabulary: " + std::move(msg);
    return nullptr;
  };
  VocabData d;
  std::vector<std::string> warnings;

  const auto model = file.get_string("tokenizer.ggml.model");
  if (!model) return fail("tokenizer.ggml.model is missing or not a string");
  d.model = std::string(*model);
  if (auto pre = file.get_string("tokenizer.ggml.pre")) d.pre = std::string(*pre);

  const auto* tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (tokens == nullptr) return fail("tokenizer.ggml.tokens is missing or not a string array");
  if (tokens->size() > kMaxTokens) return fail("tokenizer.ggml.tokens has more than 4M entries");
  d.tokens.reserve(tokens->size());
  for (std::string_view t : *tokens) {
    if (t.size() > kMaxTokenBytes) return fail("a token is longer than 64 KiB");
    d.tokens.emplace_back(t);
  }

  if (file.find("tokenizer.ggml.scores") != nullptr) {
    auto scores = file.get_float_array("tokenizer.ggml.scores");
    if (!scores) return fail("tokenizer.ggml.scores is not a numeric array");
    d.scores = std::move(*scores);
  }
  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    auto types = file.get_int_array("tokenizer.ggml.token_type");
    if (!types) return fail("tokenizer.ggml.token_type is not an integer array");
    d.token_types = std::move(*types);
  }
  if (d.model == "gpt2" && file.find("tokenizer.ggml.merges") == nullptr) {
    return fail("tokenizer.ggml.merges is missing (a gpt2 vocabulary needs it)");
  }
  if (file.find("tokenizer.ggml.merges") != nullptr) {
    const auto* merges = file.get_string_array("tokenizer.ggml.merges");
    if (merges == nullptr) return fail("tokenizer.ggml.merges is not a string array");
    if (merges->size() > kMaxMerges) return fail("tokenizer.ggml.merges has too many entries");
    d.merges.reserve(merges->size());
    for (std::string_view m : *merges) {
      if (m.size() > 2 * kMaxTokenBytes) return fail("a merge is longer than 128 KiB");
      d.merges.emplace_back(m);
    }
  }

  auto get_id = [&](const char* key, std::optional<std::int64_t>& out) {
    const std::string full = std::string("tokenizer.ggml.") + key;
    if (file.find(full) == nullptr) return;
    out = file.get_int(full);
    if (!out) warnings.push_back(full + " is not an integer; ignored");
  };
  get_id("bos_token_id", d.bos);
  get_id("eos_token_id", d.eos);
  get_id("eot_token_id", d.eot);
  get_id("eom_token_id", d.eom);
  get_id("unknown_token_id", d.unk);
  get_id("padding_token_id", d.pad);
  auto get_flag = [&](const char* key, std::optional<bool>& out) {
    const std::string full = std::string("tokenizer.ggml.") + key;
    if (file.find(full) == nullptr) return;
    out = file.get_bool(full);
    if (!out) warnings.push_back(full + " is not a boolean; ignored");
  };
  get_flag("add_bos_token", d.add_bos);
  get_flag("add_eos_token", d.add_eos);
  get_flag("add_space_prefix", d.add_space_prefix);

  auto vocab = build(std::move(d), error);
  if (vocab) {
    auto& w = vocab->impl_->warnings;
    w.insert(w.begin(), warnings.begin(), warnings.end());
  }
  return vocab;
}

Vocab::Vocab(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vocab::~Vocab() = default;

// ---- tokenize / detokenize ----

namespace {

struct Fragment {
  std::size_t offset;
  std::size_t length;
  std::int32_t token;  // >= 0: a special token; -1: text
};

// llama.cpp's tokenizer_st_partition: for each special token, longest first, cut every text
// fragment at its occurrences. Only tokens that occur somewhere are tried (one trie pass finds
// them), which gives the same result with hundreds of special tokens at a fraction of the cost.
std::vector<Fragment> partition(const Vocab::Impl& v, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back(Fragment{0, text.size(), -1});
  if (v.specials.empty() || (!parse_special && !v.has_user_defined)) return frags;
  std::vector<std::uint8_t> seen(v.specials.size(), 0);
  v.special_trie.find_all(text, seen);
  std::vector<Fragment> next;
  for (std::size_t k = 0; k < v.specials.size(); ++k) {
    if (!seen[k]) continue;
    const std::int32_t id = v.specials[k];
    if (!parse_special && v.type[id] != TokenType::user_defined) continue;
    const std::string_view special = v.text[id];
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      const std::size_t end = f.offset + f.length;
      const std::string_view window = text.substr(0, end);
      std::size_t pos = f.offset;
      while (true) {
        const std::size_t hit = window.find(special, pos);
        if (hit == std::string_view::npos) break;
        if (hit > pos) next.push_back(Fragment{pos, hit - pos, -1});
        next.push_back(Fragment{hit, special.size(), id});
        pos = hit + special.size();
      }
      if (pos < end) next.push_back(Fragment{pos, end - pos, -1});
    }
    frags.swap(next);
  }
  return frags;
}

}  // namespace

std::vector<std::int32_t> Vocab::tokenize(std::string_view text, bool add_special,
                                          bool parse_special) const {
  const Impl& v = *impl_;
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && v.add_bos) out.push_back(v.bos);
  bool prev_special = true;  // SentencePiece puts a space before text at the start...
  std::string buf;
  for (const Fragment& f : partition(v, text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;  // ...and after each special token
      continue;
    }
    const std::string_view part = text.substr(f.offset, f.length);
    if (v.kind == Kind::spm) {
      buf.clear();
      if (v.add_space_prefix && prev_special) buf.append(kSpace);
      for (char c : part) {
        if (c == ' ') {
          buf.append(kSpace);
        } else {
          buf.push_back(c);
        }
      }
      v.tokenize_spm(buf, out);
    } else {
      v.tokenize_bpe(part, out);
    }
    prev_special = false;
  }
  if (add_special && v.add_eos) out.push_back(v.eos);
  return out;
}

std::string Vocab::token_to_piece(std::int32_t id) const {
  return impl_->valid(id) ? impl_->piece[id] : std::string();
}

std::string Vocab::detokenize(const std::vector<std::int32_t>& ids, bool remove_special) const {
  const Impl& v = *impl_;
  const bool spm_space = v.kind == Kind::spm && v.add_space_prefix;
  std::string out;
  bool strip = spm_space;  // the space tokenize() put before the text that follows
  for (std::int32_t id : ids) {
    if (!v.valid(id)) continue;
    const TokenType t = v.type[id];
    if (is_special_type(t)) {
      if (t == TokenType::user_defined || !remove_special) out.append(v.piece[id]);
      strip = spm_space;
      continue;
    }
    const std::string& p = v.piece[id];
    if (p.empty()) continue;
    if (strip && p.front() == ' ') {
      out.append(p, 1, std::string::npos);
    } else {
      out.append(p);
    }
    strip = false;
  }
  return out;
}

std::int32_t Vocab::bos() const { return impl_->bos; }
std::int32_t Vocab::eos() const { return impl_->eos; }
std::int32_t Vocab::eot() const { return impl_->eot; }
std::int32_t Vocab::eom() const { return impl_->eom; }
std::int32_t Vocab::unk() const { return impl_->unk; }
std::int32_t Vocab::pad() const { return impl_->pad; }
bool Vocab::is_eog(std::int32_t id) const { return impl_->valid(id) && impl_->eog[id] != 0; }
const std::vector<std::int32_t>& Vocab::eog_ids() const { return impl_->eog_ids; }
bool Vocab::add_bos() const { return impl_->add_bos; }
bool Vocab::add_eos() const { return impl_->add_eos; }
bool Vocab::add_space_prefix() const { return impl_->add_space_prefix; }
Kind Vocab::kind() const { return impl_->kind; }
PreTokenizer Vocab::pre_tokenizer() const { return impl_->pre; }
std::int32_t Vocab::n_tokens() const { return static_cast<std::int32_t>(impl_->text.size()); }

std::string_view Vocab::token_text(std::int32_t id) const {
  return impl_->valid(id) ? std::string_view(impl_->text[id]) : std::string_view();
}

TokenType Vocab::token_type(std::int32_t id) const {
  return impl_->valid(id) ? impl_->type[id] : TokenType::undefined;
}

float Vocab::token_score(std::int32_t id) const {
  return impl_->valid(id) ? impl_->score[id] : 0.0f;
}

std::optional<std::int32_t> Vocab::find_token(std::string_view text) const {
  const std::int32_t id = impl_->find(text);
  if (id < 0) return std::nullopt;
  return id;
}

const std::vector<std::string>& Vocab::warnings() const { return impl_->warnings; }

std::size_t complete_utf8_prefix(std::string_view text) {
  // Look back at most 3 bytes for the lead byte of the last character.
  const std::size_t n = text.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<std::uint8_t>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const std::size_t need = c >= 0xF0 && c <= 0xF7 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back && c >= 0xC0 && c <= 0xF7 ? n - back : n;
  }
  return n;
}

}  // namespace infergate::engine::vocab
