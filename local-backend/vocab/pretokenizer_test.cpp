#include "vocab/pretokenizer.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace infergate::engine::vocab {
namespace {

using Pieces = std::vector<std::string>;

Pieces split(PreTokenizer p, std::string_view text) {
  Pieces out;
  for (std::string_view s : pre_tokenize(p, text)) out.emplace_back(s);
  return out;
}

// The expected splits below are worked out by hand from the patterns (see pretokenizer.cpp).

TEST(PreTokenizer, Gpt2) {
  const auto p = PreTokenizer::gpt2;
  EXPECT_EQ(split(p, "Hello, world!"), (Pieces{"Hello", ",", " world", "!"}));
  EXPECT_EQ(split(p, "I'm here"), (Pieces{"I", "'m", " here"}));
  EXPECT_EQ(split(p, "I'M"), (Pieces{"I", "'", "M"}));  // contractions are lower case only
  EXPECT_EQ(split(p, "1234567 apples"), (Pieces{"1234567", " apples"}));
  EXPECT_EQ(split(p, "a  b"), (Pieces{"a", " ", " b"}));
  EXPECT_EQ(split(p, "x\n\ny"), (Pieces{"x", "\n", "\n", "y"}));
  EXPECT_EQ(split(p, "end  "), (Pieces{"end", "  "}));
  EXPECT_TRUE(split(p, "").empty());
}

TEST(PreTokenizer, Llama3Numbers) {
  const auto p = PreTokenizer::llama3;
  EXPECT_EQ(split(p, "1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(split(p, "x=1000000;"), (Pieces{"x", "=", "100", "000", "0", ";"}));
  EXPECT_EQ(split(p, "3.14159"), (Pieces{"3", ".", "141", "59"}));
  EXPECT_EQ(split(p, " 2024"), (Pieces{" ", "202", "4"}));
  EXPECT_EQ(split(p, "$100"), (Pieces{"$", "100"}));
  // Other scripts' digits are numbers too.
  EXPECT_EQ(split(p, "\xD9\xA3\xD9\xA4\xD9\xA5\xD9\xA6"),
            (Pieces{"\xD9\xA3\xD9\xA4\xD9\xA5", "\xD9\xA6"}));
}

TEST(PreTokenizer, Llama3Contractions) {
  const auto p = PreTokenizer::llama3;
  EXPECT_EQ(split(p, "don't"), (Pieces{"don", "'t"}));
  EXPECT_EQ(split(p, "I'M YOU'RE we'll"), (Pieces{"I", "'M", " YOU", "'RE", " we", "'ll"}));
  EXPECT_EQ(split(p, "they'Ve"), (Pieces{"they", "'Ve"}));
}

TEST(PreTokenizer, Llama3WhitespaceAndNewlines) {
  const auto p = PreTokenizer::llama3;
  EXPECT_EQ(split(p, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split(p, "hello!!!\n\nworld"), (Pieces{"hello", "!!!\n\n", "world"}));
  EXPECT_EQ(split(p, "a  \n b"), (Pieces{"a", "  \n", " b"}));
  EXPECT_EQ(split(p, "a\r\nb"), (Pieces{"a", "\r\n", "b"}));
  EXPECT_EQ(split(p, "ok.\n"), (Pieces{"ok", ".\n"}));
  EXPECT_EQ(split(p, "\tfoo"), (Pieces{"\tfoo"}));
  EXPECT_EQ(split(p, "  x"), (Pieces{" ", " x"}));
  // Letters of every script; U+3000 (ideographic space) leads a word like any non-letter.
  EXPECT_EQ(split(p, "\xD0\xBD\xD0\xB0 \xD0\x91\xD1\x8A\xD0\xBB"),
            (Pieces{"\xD0\xBD\xD0\xB0", " \xD0\x91\xD1\x8A\xD0\xBB"}));
  EXPECT_EQ(split(p, "我apple工"), (Pieces{"我apple工"}));
  EXPECT_EQ(split(p,
                  "a\xE3\x80\x80"
                  "b"),
            (Pieces{"a",
                    "\xE3\x80\x80"
                    "b"}));
}

TEST(PreTokenizer, Qwen2SplitsDigitsOneByOne) {
  const auto p = PreTokenizer::qwen2;
  EXPECT_EQ(split(p, "1234"), (Pieces{"1", "2", "3", "4"}));
  EXPECT_EQ(split(p, "abc123"), (Pieces{"abc", "1", "2", "3"}));
  EXPECT_EQ(split(p, "x=1000000;"), (Pieces{"x", "=", "1", "0", "0", "0", "0", "0", "0", ";"}));
  EXPECT_EQ(split(p, "I'M here"), (Pieces{"I", "'M", " here"}));
  EXPECT_EQ(split(p, "hello!!!\n\nworld"), (Pieces{"hello", "!!!\n\n", "world"}));
  EXPECT_EQ(split(p, "a  \n b"), (Pieces{"a", "  \n", " b"}));
}

TEST(PreTokenizer, StarcoderAndDefault) {
  EXPECT_EQ(split(PreTokenizer::starcoder, "abc 123"), (Pieces{"abc", " ", "1", "2", "3"}));
  EXPECT_EQ(split(PreTokenizer::fallback, "Hello, world!!"),
            (Pieces{"Hello", ",", " world", "!!"}));
  EXPECT_EQ(split(PreTokenizer::fallback, "ab 12345"), (Pieces{"ab", " ", "123", "45"}));
}

TEST(PreTokenizer, InvalidUtf8StaysInPiecesOfItsOwn) {
  EXPECT_EQ(split(PreTokenizer::gpt2,
                  "ab\xff"
                  "cd"),
            (Pieces{"ab", "\xff", "cd"}));
  EXPECT_EQ(split(PreTokenizer::llama3, "ab\xff\xfe cd"), (Pieces{"ab", "\xff\xfe", " cd"}));
  EXPECT_EQ(split(PreTokenizer::qwen2, "\xe6\x88"), (Pieces{"\xe6\x88"}));
}

TEST(PreTokenizer, PiecesAlwaysConcatenateToTheInput) {
  std::mt19937 rng(1);
  const std::string alphabet[] = {"a",
                                  "Z",
                                  " ",
                                  "  ",
                                  "\n",
                                  "\r",
                                  "\t",
                                  "'",
                                  "s",
                                  "1",
                                  "23",
                                  ",",
                                  "\xC3\xA9",
                                  "\xE6\x88\x91",
                                  "\xF0\x9F\x98\x81",
                                  "\xff",
                                  "\x80",
                                  "\xE3\x80\x80",
                                  "\xC2\x85",
                                  "e\xCC\x81"};
  for (auto p : {PreTokenizer::gpt2, PreTokenizer::llama3, PreTokenizer::qwen2,
                 PreTokenizer::starcoder, PreTokenizer::fallback}) {
    for (int iter = 0; iter < 300; ++iter) {
      std::string text;
      const int n = static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) text += alphabet[rng() % std::size(alphabet)];
      std::string joined;
      for (std::string_view piece : pre_tokenize(p, text)) {
        ASSERT_FALSE(piece.empty());
        joined += piece;
      }
      ASSERT_EQ(joined, text) << pre_tokenizer_name(p);
    }
  }
}

TEST(PreTokenizer, LongRunsDoNotFail) {
  // Long runs must come back whole and quickly (no backtracking blow-up, no JIT stack limit).
  for (auto p : {PreTokenizer::gpt2, PreTokenizer::llama3, PreTokenizer::qwen2}) {
    const std::string spaces(1 << 20, ' ');
    const auto s = pre_tokenize(p, spaces + "x");
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].size(), spaces.size() - 1);
    const std::string letters(1 << 20, 'q');
    EXPECT_EQ(pre_tokenize(p, letters).size(), 1u);
    const std::string newlines = std::string(1 << 18, ' ') + std::string(1 << 18, '\n');
    EXPECT_GE(pre_tokenize(p, newlines).size(), 1u);
  }
}

TEST(PreTokenizer, Names) {
  EXPECT_EQ(pre_tokenizer_from_name("llama-bpe")->pre, PreTokenizer::llama3);
  EXPECT_TRUE(pre_tokenizer_from_name("llama-bpe")->ignore_merges);
  EXPECT_TRUE(pre_tokenizer_from_name("llama3")->add_bos);
  EXPECT_EQ(pre_tokenizer_from_name("qwen2")->pre, PreTokenizer::qwen2);
  EXPECT_FALSE(pre_tokenizer_from_name("qwen2")->add_bos);
  EXPECT_EQ(pre_tokenizer_from_name("gpt-2")->pre, PreTokenizer::gpt2);
  EXPECT_EQ(pre_tokenizer_from_name("smollm")->pre, PreTokenizer::starcoder);
  EXPECT_EQ(pre_tokenizer_from_name("default")->pre, PreTokenizer::fallback);
  EXPECT_EQ(pre_tokenizer_from_name("")->pre, PreTokenizer::fallback);
  EXPECT_FALSE(pre_tokenizer_from_name("no-such-model").has_value());
  std::string error;
  for (auto p : {PreTokenizer::gpt2, PreTokenizer::llama3, PreTokenizer::qwen2,
                 PreTokenizer::starcoder, PreTokenizer::fallback}) {
    EXPECT_TRUE(pre_tokenizer_ready(p, &error)) << error;
  }
}

}  // namespace
}  // namespace infergate::engine::vocab
