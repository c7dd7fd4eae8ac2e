#include "model/text_stream.hpp"

#include <gtest/gtest.h>

namespace infergate::engine::model {
namespace {

TEST(Utf8, SanitizeKeepsValidAndReplacesInvalid) {
  EXPECT_EQ(sanitize_utf8("héllo €𝄞"), "héllo €𝄞");
  EXPECT_EQ(sanitize_utf8("a\xFFz"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(sanitize_utf8("\xF4\x90\x80\x80").substr(0, 3), "\xEF\xBF\xBD");         // > U+10FFFF
  EXPECT_EQ(sanitize_utf8("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // cut short
}

TEST(Utf8, CompletePrefixStopsBeforeACutCharacter) {
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(complete_utf8_prefix("ab\xE2\x82"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\xF0\x9D\x84"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\xE2\x82\xAC"), 5u);
  EXPECT_EQ(complete_utf8_prefix("ab\xFF"), 3u);  // invalid is not held: it becomes U+FFFD
}

TEST(TextStream, HoldsIncompleteCharactersUntilComplete) {
  TextStream ts({});
  bool stopped = false;
  EXPECT_EQ(ts.push("a\xE2", &stopped), "a");
  EXPECT_EQ(ts.push("\x82", &stopped), "");
  EXPECT_EQ(ts.push("\xAC!", &stopped), "\xE2\x82\xAC!");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(ts.push("\xF0\x9D", &stopped), "");
  EXPECT_EQ(ts.flush(), "\xEF\xBF\xBD\xEF\xBF\xBD");  // never completed
}

TEST(TextStream, StopStringAcrossPiecesEndsTheText) {
  TextStream ts({"<|end|>", "STOP"});
  bool stopped = false;
  EXPECT_EQ(ts.push("Hello <|", &stopped), "Hello ");  // "<|" may start "<|end|>"
  EXPECT_FALSE(stopped);
  EXPECT_EQ(ts.push("en", &stopped), "");
  EXPECT_EQ(ts.push("d|> and more", &stopped), "");
  EXPECT_TRUE(stopped);
}

TEST(TextStream, FalseStartIsReleased) {
  TextStream ts({"<|end|>"});
  bool stopped = false;
  EXPECT_EQ(ts.push("x <|e", &stopped), "x ");
  EXPECT_EQ(ts.push("nx", &stopped), "<|enx");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(ts.push("<", &stopped), "");
  EXPECT_EQ(ts.flush(), "<");
}

TEST(TextStream, EarliestStopWins) {
  TextStream ts({"cd", "b"});
  bool stopped = false;
  EXPECT_EQ(ts.push("abcd", &stopped), "a");
  EXPECT_TRUE(stopped);
}

TEST(TextStream, StopInsideOnePiece) {
  TextStream ts({"\n\n"});
  bool stopped = false;
  EXPECT_EQ(ts.push("one\n", &stopped), "one");
  EXPECT_EQ(ts.push("\ntwo", &stopped), "");
  EXPECT_TRUE(stopped);
}

TEST(TextStream, EmptyStopStringsAreIgnored) {
  TextStream ts({""});
  bool stopped = false;
  EXPECT_EQ(ts.push("abc", &stopped), "abc");
  EXPECT_FALSE(stopped);
}

}  // namespace
}  // namespace infergate::engine::model
