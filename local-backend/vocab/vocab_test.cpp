#include "vocab/vocab.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "vocab/unicode.hpp"

namespace infergate::engine::vocab {
namespace {

std::string tokenizer_dir() { return std::string(INFERGATE_SHARED_DATA) + "/tokenizers"; }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Case {
  std::string text;
  std::vector<std::int32_t> ids;
};

// The inputs are separated by "\n__ggml_vocab_test__\n" (the newline before and after the
// separator line belong to it), exactly as llama.cpp's test-tokenizer-0 reads them; the expected
// ids are one line per input.
std::vector<Case> read_cases(const std::string& vocab_path) {
  const std::string raw = read_all(vocab_path + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const std::size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream out(vocab_path + ".out");
  std::vector<Case> cases;
  std::string line;
  for (std::size_t i = 0; std::getline(out, line); ++i) {
    Case c;
    if (i < inputs.size()) c.text = inputs[i];
    std::istringstream ids(line);
    for (std::int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), inputs.size()) << "input and output files disagree on the case count";
  return cases;
}

class SharedVocab : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    path_ = tokenizer_dir() + "/" + GetParam();
    if (!std::filesystem::exists(path_)) {
      GTEST_SKIP() << "test data not found: " << path_
                   << " (shared/data is not beside the checkout)";
    }
    std::string error;
    file_ = gguf::File::open(path_, &error);
    ASSERT_TRUE(file_) << error;
    vocab_ = Vocab::load(*file_, &error);
    ASSERT_TRUE(vocab_) << error;
  }
  std::string path_;
  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Vocab> vocab_;
};

std::string ids_to_string(const std::vector<std::int32_t>& ids) {
  std::string s;
  for (auto id : ids) s += std::to_string(id) + " ";
  return s;
}

TEST_P(SharedVocab, ReproducesEveryTestVector) {
  const auto cases = read_cases(path_);
  ASSERT_GT(cases.size(), 40u);
  int failures = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto got =
        vocab_->tokenize(cases[i].text, /*add_special=*/false, /*parse_special=*/false);
    if (got != cases[i].ids) ++failures;
    EXPECT_EQ(got, cases[i].ids) << "case " << i << " '" << cases[i].text
                                 << "'\n  got:      " << ids_to_string(got)
                                 << "\n  expected: " << ids_to_string(cases[i].ids);
  }
  EXPECT_EQ(failures, 0);
}

TEST_P(SharedVocab, DetokenizeInvertsTokenize) {
  for (const Case& c : read_cases(path_)) {
    // SPM: detokenize() removes the space tokenize() put in front, so this is exact for both.
    EXPECT_EQ(vocab_->detokenize(vocab_->tokenize(c.text, false, false), false), c.text);
    EXPECT_EQ(vocab_->detokenize(vocab_->tokenize(c.text, true, false), true), c.text);
  }
}

TEST_P(SharedVocab, PiecesConcatenateToTheText) {
  for (const Case& c : read_cases(path_)) {
    std::string joined;
    for (auto id : vocab_->tokenize(c.text, false, false)) joined += vocab_->token_to_piece(id);
    if (vocab_->kind() == Kind::spm && !c.text.empty()) {
      // Streaming pieces keep the space SentencePiece puts before the text.
      EXPECT_EQ(joined, " " + c.text);
    } else {
      EXPECT_EQ(joined, c.text);
    }
  }
}

TEST_P(SharedVocab, HostileIdsAreHarmless) {
  const std::int32_t n = vocab_->n_tokens();
  for (std::int32_t id : {-1, INT32_MIN, n, n + 1, INT32_MAX}) {
    EXPECT_EQ(vocab_->token_to_piece(id), "");
    EXPECT_EQ(vocab_->token_text(id), "");
    EXPECT_EQ(vocab_->token_type(id), TokenType::undefined);
    EXPECT_FALSE(vocab_->is_eog(id));
  }
  const auto hello = vocab_->tokenize("Hello", false, false);
  std::vector<std::int32_t> ids = {-7, n};
  ids.insert(ids.end(), hello.begin(), hello.end());
  ids.push_back(INT32_MAX);
  EXPECT_EQ(vocab_->detokenize(ids, true), "Hello");
}

TEST_P(SharedVocab, LongAndBinaryInputs) {
  std::mt19937 rng(7);
  std::string random_bytes(200000, '\0');
  for (char& c : random_bytes) c = static_cast<char>(rng());
  const std::vector<std::string> inputs = {
      std::string(300000, ' '),
      std::string(300000, 'a'),
      std::string(300000, '7'),
      std::string(100000, '\n') + "x",
      random_bytes,
      std::string("\xF0\x9F\x98", 3) + "tail",
      std::string("\0\0\x01", 3),
      std::string(50000, '\'') + "s",
  };
  for (const std::string& s : inputs) {
    const auto ids = vocab_->tokenize(s, true, true);
    ASSERT_FALSE(ids.empty());
    for (auto id : ids) ASSERT_TRUE(id >= 0 && id < vocab_->n_tokens());
    // Byte-exact round trip, invalid UTF-8 included.
    EXPECT_EQ(vocab_->detokenize(vocab_->tokenize(s, false, false), false), s);
  }
}

std::string vocab_param_name(const ::testing::TestParamInfo<const char*>& p) {
  return std::string(p.param).find("spm") != std::string::npos ? "LlamaSpm" : "Gpt2";
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, SharedVocab,
                         ::testing::Values("ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"),
                         vocab_param_name);

std::unique_ptr<Vocab> load_shared(const char* name, std::unique_ptr<gguf::File>& file) {
  const std::string path = tokenizer_dir() + "/" + name;
  if (!std::filesystem::exists(path)) return nullptr;
  std::string error;
  file = gguf::File::open(path, &error);
  EXPECT_TRUE(file) << error;
  if (!file) return nullptr;
  auto v = Vocab::load(*file, &error);
  EXPECT_TRUE(v) << error;
  return v;
}

TEST(LlamaSpm, MetadataAndSpecialTokens) {
  std::unique_ptr<gguf::File> file;
  auto v = load_shared("ggml-vocab-llama-spm.gguf", file);
  if (!v) GTEST_SKIP() << "test data not found in " << tokenizer_dir();
  EXPECT_EQ(v->kind(), Kind::spm);
  EXPECT_EQ(v->n_tokens(), 32000);
  EXPECT_EQ(v->bos(), 1);
  EXPECT_EQ(v->eos(), 2);
  EXPECT_EQ(v->unk(), 0);
  EXPECT_TRUE(v->add_bos());
  EXPECT_FALSE(v->add_eos());
  EXPECT_TRUE(v->is_eog(2));
  EXPECT_FALSE(v->is_eog(1));
  EXPECT_EQ(v->eog_ids(), std::vector<std::int32_t>{2});
  EXPECT_EQ(v->find_token("<s>"), 1);
  EXPECT_EQ(v->find_token("no such token"), std::nullopt);
  EXPECT_EQ(v->token_type(13), TokenType::byte);
  EXPECT_EQ(v->token_to_piece(13), "\n");  // <0x0A>
  EXPECT_EQ(v->token_to_piece(1), "<s>");

  // BOS first, no EOS (add_eos_token is false).
  const auto hello = v->tokenize("Hello", false, false);
  ASSERT_FALSE(hello.empty());
  auto with_bos = v->tokenize("Hello", true, false);
  ASSERT_EQ(with_bos.size(), hello.size() + 1);
  EXPECT_EQ(with_bos.front(), 1);
  EXPECT_EQ(v->tokenize("", true, false), std::vector<std::int32_t>{1});
  EXPECT_TRUE(v->tokenize("", false, false).empty());

  // Special tokens written in the text: ids with parse_special, plain text without.
  const auto parsed = v->tokenize("<s>Hello</s>", false, true);
  ASSERT_EQ(parsed.size(), hello.size() + 2);
  EXPECT_EQ(parsed.front(), 1);
  EXPECT_EQ(parsed.back(), 2);
  EXPECT_EQ(std::vector<std::int32_t>(parsed.begin() + 1, parsed.end() - 1), hello);
  const auto literal = v->tokenize("<s>Hello</s>", false, false);
  for (auto id : literal) {
    EXPECT_NE(id, 1);
    EXPECT_NE(id, 2);
  }
  EXPECT_EQ(v->detokenize(literal, false), "<s>Hello</s>");

  // remove_special drops BOS/EOS; otherwise they read back as their text, which re-tokenizes
  // to the same ids.
  EXPECT_EQ(v->detokenize(parsed, true), "Hello");
  EXPECT_EQ(v->detokenize(parsed, false), "<s>Hello</s>");
  EXPECT_EQ(v->tokenize(v->detokenize(parsed, false), false, true), parsed);
  // A space goes before text after each special token, and comes off again.
  const auto two = v->tokenize("Hello</s>World", false, true);
  EXPECT_EQ(v->detokenize(two, false), "Hello</s>World");
  EXPECT_EQ(v->detokenize(two, true), "HelloWorld");
}

TEST(Gpt2, MetadataAndSpecialTokens) {
  std::unique_ptr<gguf::File> file;
  auto v = load_shared("ggml-vocab-gpt-2.gguf", file);
  if (!v) GTEST_SKIP() << "test data not found in " << tokenizer_dir();
  EXPECT_EQ(v->kind(), Kind::bpe);
  EXPECT_EQ(v->pre_tokenizer(), PreTokenizer::gpt2);
  EXPECT_TRUE(v->warnings().empty()) << v->warnings().front();
  EXPECT_EQ(v->n_tokens(), 50257);
  EXPECT_EQ(v->bos(), 50256);
  EXPECT_EQ(v->eos(), 50256);
  EXPECT_EQ(v->eot(), 50256);  // <|endoftext|>, found by its text
  EXPECT_TRUE(v->is_eog(50256));
  EXPECT_FALSE(v->add_bos());  // gpt-2 adds nothing
  EXPECT_EQ(v->tokenize("Hello world", true, false), (std::vector<std::int32_t>{15496, 995}));

  const auto parsed = v->tokenize("Hi<|endoftext|>there", false, true);
  EXPECT_EQ(std::count(parsed.begin(), parsed.end(), 50256), 1);
  const auto literal = v->tokenize("Hi<|endoftext|>there", false, false);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 50256), 0);
  EXPECT_EQ(v->detokenize(parsed, false), "Hi<|endoftext|>there");
  EXPECT_EQ(v->detokenize(parsed, true), "Hithere");
  EXPECT_EQ(v->detokenize(literal, true), "Hi<|endoftext|>there");
  // Byte-level: no clean-up of spaces before punctuation.
  EXPECT_EQ(v->detokenize(v->tokenize("a , b ' c", false, false), false), "a , b ' c");
}

// ---- synthetic vocabularies ----

// A byte-level BPE vocabulary: the 256 byte characters, then the results of `merges` (written
// with GPT-2 characters, e.g. "Ġ" for a space), then `extra` tokens of the given types.
VocabData byte_bpe(const std::string& pre, const std::vector<std::string>& merges,
                   const std::vector<std::pair<std::string, TokenType>>& extra = {}) {
  VocabData d;
  d.model = "gpt2";
  d.pre = pre;
  for (int b = 0; b < 256; ++b) {
    d.tokens.emplace_back(unicode::byte_to_chars(static_cast<std::uint8_t>(b)));
  }
  for (const std::string& m : merges) {
    const std::size_t sep = m.find(' ', 1);
    if (sep != std::string::npos) d.tokens.push_back(m.substr(0, sep) + m.substr(sep + 1));
    d.merges.push_back(m);
  }
  d.token_types.assign(d.tokens.size(), 1);
  for (const auto& [text, type] : extra) {
    d.tokens.push_back(text);
    d.token_types.push_back(static_cast<std::int64_t>(type));
  }
  return d;
}

std::int32_t id_of(const Vocab& v, std::string_view text) {
  auto id = v.find_token(text);
  EXPECT_TRUE(id.has_value()) << text;
  return id.value_or(-1);
}

TEST(SyntheticBpe, MergesApplyByRank) {
  std::string error;
  auto v = Vocab::build(byte_bpe("gpt-2", {"l l", "h e", "he ll", "hell o", "Ġ w"}), &error);
  ASSERT_TRUE(v) << error;
  EXPECT_EQ(v->tokenize("hello", false, false), std::vector<std::int32_t>{id_of(*v, "hello")});
  EXPECT_EQ(v->tokenize("hell", false, false), std::vector<std::int32_t>{id_of(*v, "hell")});
  // " wo": "Ġw" then "o".
  EXPECT_EQ(v->tokenize(" wo", false, false),
            (std::vector<std::int32_t>{id_of(*v, "Ġw"), id_of(*v, "o")}));
  EXPECT_EQ(v->detokenize(v->tokenize("hello wo", false, false), false), "hello wo");
}

TEST(SyntheticBpe, Llama3TakesWholeWordTokensAndAddsBos) {
  std::string error;
  const std::vector<std::pair<std::string, TokenType>> extra = {
      {"Ġworld", TokenType::normal},
      {"<|begin_of_text|>", TokenType::control},
      {"<|eot_id|>", TokenType::control},
      {"<think>", TokenType::user_defined}};
  auto llama = Vocab::build(byte_bpe("llama-bpe", {"h i"}, extra), &error);
  ASSERT_TRUE(llama) << error;
  auto data = byte_bpe("llama-bpe", {"h i"}, extra);
  data.bos = id_of(*llama, "<|begin_of_text|>");
  llama = Vocab::build(std::move(data), &error);
  ASSERT_TRUE(llama) << error;
  EXPECT_EQ(llama->pre_tokenizer(), PreTokenizer::llama3);
  EXPECT_TRUE(llama->add_bos());
  const std::int32_t bos = id_of(*llama, "<|begin_of_text|>");
  const std::int32_t world = id_of(*llama, "Ġworld");
  EXPECT_EQ(llama->tokenize("hi world", true, false),
            (std::vector<std::int32_t>{bos, id_of(*llama, "hi"), world}));
  EXPECT_EQ(llama->eot(), id_of(*llama, "<|eot_id|>"));
  EXPECT_TRUE(llama->is_eog(id_of(*llama, "<|eot_id|>")));
  // User-defined tokens are split out even without parse_special; control tokens only with it.
  const std::int32_t think = id_of(*llama, "<think>");
  const auto plain = llama->tokenize("hi<think><|eot_id|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), think), 1);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), llama->eot()), 0);
  const auto parsed = llama->tokenize("hi<think><|eot_id|>", false, true);
  EXPECT_EQ(parsed, (std::vector<std::int32_t>{id_of(*llama, "hi"), think, llama->eot()}));
  EXPECT_EQ(llama->detokenize(parsed, true), "hi<think>");

  // gpt-2's pre-tokenizer does not take whole words: " world" falls apart into bytes.
  auto data2 = byte_bpe("gpt-2", {"h i"}, extra);
  auto gpt2 = Vocab::build(std::move(data2), &error);
  ASSERT_TRUE(gpt2) << error;
  EXPECT_FALSE(gpt2->add_bos());
  EXPECT_EQ(gpt2->tokenize(" world", false, false).size(), 6u);
}

TEST(SyntheticBpe, BosEosFollowMetadata) {
  std::string error;
  auto data = byte_bpe("qwen2", {},
                       {{"<|endoftext|>", TokenType::control},
                        {"<|im_start|>", TokenType::control},
                        {"<|im_end|>", TokenType::control}});
  data.bos = 256;
  data.eos = 258;
  data.add_bos = true;
  data.add_eos = true;
  auto v = Vocab::build(std::move(data), &error);
  ASSERT_TRUE(v) << error;
  const auto ids = v->tokenize("a", true, false);
  EXPECT_EQ(ids, (std::vector<std::int32_t>{256, 'a', 258}));  // byte tokens are in byte order
  EXPECT_EQ(v->eot(), 258);                                    // <|im_end|> before <|endoftext|>
  EXPECT_TRUE(v->is_eog(256));
  EXPECT_TRUE(v->is_eog(258));
  EXPECT_FALSE(v->is_eog(257));
  EXPECT_EQ(v->detokenize(ids, true), "a");
  EXPECT_EQ(v->detokenize(ids, false), "<|endoftext|>a<|im_end|>");

  // Asked to add a BOS that does not exist: nothing is added, and it is said.
  auto no_bos = byte_bpe("qwen2", {});
  no_bos.add_bos = true;
  v = Vocab::build(std::move(no_bos), &error);
  ASSERT_TRUE(v) << error;
  EXPECT_FALSE(v->add_bos());
  EXPECT_EQ(v->tokenize("a", true, false).size(), 1u);
  EXPECT_FALSE(v->warnings().empty());
}

TEST(SyntheticBpe, HostileMetadataIsRefusedOrContained) {
  std::string error;
  VocabData bad_model = byte_bpe("gpt-2", {});
  bad_model.model = "t5\x01\xff";
  EXPECT_FALSE(Vocab::build(bad_model, &error));
  EXPECT_NE(error.find("t5??"), std::string::npos) << error;

  VocabData empty;
  empty.model = "gpt2";
  EXPECT_FALSE(Vocab::build(empty, &error));

  VocabData short_scores = byte_bpe("gpt-2", {"a b"});
  short_scores.scores = {1.0f};
  EXPECT_FALSE(Vocab::build(short_scores, &error));

  VocabData short_types = byte_bpe("gpt-2", {"a b"});
  short_types.token_types.resize(3);
  EXPECT_FALSE(Vocab::build(short_types, &error));

  // Ids out of range, odd token types, merges naming nothing, an unknown pre-tokenizer: loaded,
  // with warnings.
  VocabData odd = byte_bpe("some-new-model", {"a b", "x", "q r", "zz yy"});
  odd.bos = -5;
  odd.eos = 1'000'000;
  odd.eot = INT64_MAX;
  odd.token_types[3] = 99;
  auto v = Vocab::build(odd, &error);
  ASSERT_TRUE(v) << error;
  EXPECT_EQ(v->pre_tokenizer(), PreTokenizer::gpt2);
  EXPECT_EQ(v->bos(), -1);
  EXPECT_EQ(v->eos(), -1);
  EXPECT_EQ(v->eot(), -1);
  EXPECT_EQ(v->token_type(3), TokenType::undefined);
  EXPECT_GE(v->warnings().size(), 4u);
  EXPECT_EQ(v->tokenize("ab", false, false), std::vector<std::int32_t>{id_of(*v, "ab")});
}

// A small SentencePiece vocabulary with byte fallback.
VocabData small_spm() {
  VocabData d;
  d.model = "llama";
  auto add = [&](std::string text, float score, TokenType type) {
    d.tokens.push_back(std::move(text));
    d.scores.push_back(score);
    d.token_types.push_back(static_cast<std::int64_t>(type));
  };
  add("<unk>", 0, TokenType::unknown);
  add("<s>", 0, TokenType::control);
  add("</s>", 0, TokenType::control);
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    add(hex, 0, TokenType::byte);
  }
  const char* kSp = "\xE2\x96\x81";
  add(kSp, -1, TokenType::normal);
  add("a", -2, TokenType::normal);
  add("b", -2, TokenType::normal);
  add(std::string(kSp) + "a", -3, TokenType::normal);
  add("ab", -4, TokenType::normal);
  add(std::string(kSp) + "ab", -5, TokenType::normal);
  add("<", -6, TokenType::normal);
  add("s", -6, TokenType::normal);
  add(">", -6, TokenType::normal);
  add("<s", -7, TokenType::normal);
  add("<user>", 0, TokenType::user_defined);
  return d;
}

TEST(SyntheticSpm, MergesByScoreWithByteFallback) {
  std::string error;
  auto v = Vocab::build(small_spm(), &error);
  ASSERT_TRUE(v) << error;
  const std::string sp = "\xE2\x96\x81";
  // "▁a" (-3) beats "ab" (-4), and then "▁ab" (-5) joins them.
  EXPECT_EQ(v->tokenize("ab", false, false), std::vector<std::int32_t>{id_of(*v, sp + "ab")});
  // 'c' is not a token: byte fallback <0x63>.
  EXPECT_EQ(v->tokenize("ac", false, false),
            (std::vector<std::int32_t>{id_of(*v, sp + "a"), id_of(*v, "<0x63>")}));
  EXPECT_EQ(v->detokenize(v->tokenize("ac b", false, false), false), "ac b");
  // The text of a control token never merges into it.
  const auto lit = v->tokenize("<s>", false, false);
  EXPECT_EQ(std::count(lit.begin(), lit.end(), 1), 0);
  EXPECT_EQ(v->detokenize(lit, false), "<s>");
  // User-defined tokens split out always, followed by a space prefix as after any special token.
  const auto user = v->tokenize("a<user>a", false, false);
  EXPECT_EQ(user, (std::vector<std::int32_t>{id_of(*v, sp + "a"), id_of(*v, "<user>"),
                                             id_of(*v, sp + "a")}));
  EXPECT_EQ(v->detokenize(user, true), "a<user>a");
  // add_space_prefix = false: no space, nothing stripped.
  auto data = small_spm();
  data.add_space_prefix = false;
  v = Vocab::build(std::move(data), &error);
  ASSERT_TRUE(v) << error;
  EXPECT_EQ(v->tokenize("ab", false, false), std::vector<std::int32_t>{id_of(*v, "ab")});
  EXPECT_EQ(v->detokenize(v->tokenize(" ab", false, false), false), " ab");
}

TEST(SyntheticSpm, LoadsThroughGguf) {
  // The same data written to a GGUF file and read back through load().
  const VocabData d = small_spm();
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", d.model);
  w.set_string_array("tokenizer.ggml.tokens", d.tokens);
  w.set_f32_array("tokenizer.ggml.scores", d.scores);
  std::vector<std::int32_t> types(d.token_types.begin(), d.token_types.end());
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 99999);  // out of range: the default stays
  w.set_bool("tokenizer.ggml.add_eos_token", true);
  w.set_string("tokenizer.ggml.unknown_token_id", "zero");  // wrong type: ignored
  const auto path = std::filesystem::temp_directory_path() /
                    ("vocab_test_" + std::to_string(::getpid()) + ".gguf");
  std::string error;
  ASSERT_TRUE(w.write(path.string(), &error)) << error;
  auto file = gguf::File::open(path.string(), &error);
  std::filesystem::remove(path);
  ASSERT_TRUE(file) << error;
  auto v = Vocab::load(*file, &error);
  ASSERT_TRUE(v) << error;
  EXPECT_EQ(v->eos(), 2);
  EXPECT_EQ(v->unk(), 0);
  EXPECT_TRUE(v->add_eos());
  EXPECT_EQ(v->warnings().size(), 2u);
  const auto ids = v->tokenize("ab", true, false);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), 2);

  // A gpt2 vocabulary without merges is refused.
  gguf::Writer bpe;
  bpe.set_string("tokenizer.ggml.model", "gpt2");
  bpe.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
  ASSERT_TRUE(bpe.write(path.string(), &error)) << error;
  file = gguf::File::open(path.string(), &error);
  std::filesystem::remove(path);
  ASSERT_TRUE(file) << error;
  EXPECT_FALSE(Vocab::load(*file, &error));
  EXPECT_NE(error.find("merges"), std::string::npos) << error;

  // A vocabulary-less file is refused with a reason.
  gguf::Writer empty;
  empty.set_string("general.architecture", "llama");
  ASSERT_TRUE(empty.write(path.string(), &error)) << error;
  file = gguf::File::open(path.string(), &error);
  std::filesystem::remove(path);
  ASSERT_TRUE(file) << error;
  EXPECT_FALSE(Vocab::load(*file, &error));
  EXPECT_NE(error.find("tokenizer.ggml.model"), std::string::npos);
}

TEST(Utf8, CompletePrefixHoldsBackOnlyAnUnfinishedCharacter) {
  EXPECT_EQ(complete_utf8_prefix(""), 0u);
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(complete_utf8_prefix("a\xC3"), 1u);         // é, first byte only
  EXPECT_EQ(complete_utf8_prefix("a\xC3\xA9"), 3u);     // é whole
  EXPECT_EQ(complete_utf8_prefix("a\xE6\x88"), 1u);     // 我, two of three bytes
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98"), 0u);  // 😁, three of four bytes
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98\x81"), 4u);
  EXPECT_EQ(complete_utf8_prefix("a\x80\x80\x80\x80"), 5u);  // stray continuation bytes
  EXPECT_EQ(complete_utf8_prefix("a\xFF"), 2u);              // invalid: not held back
}

}  // namespace
}  // namespace infergate::engine::vocab
