// parse_json must give exactly nlohmann's DOM (it replaces json::parse on the request path), and
// the raw member walker must hand out each member's exact bytes.
#include "infergate/api/json_text.hpp"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace infergate::api {
namespace {

using nlohmann::json;

void expect_same_as_nlohmann(const std::string& text) {
  const json ours = parse_json(text);
  const json theirs = json::parse(text, nullptr, /*allow_exceptions=*/false);
  ASSERT_EQ(ours.is_discarded(), theirs.is_discarded()) << text.substr(0, 200);
  if (theirs.is_discarded()) return;
  EXPECT_EQ(ours, theirs) << text.substr(0, 200);
  EXPECT_EQ(ours.dump(), theirs.dump()) << text.substr(0, 200);  // same number kinds too
}

TEST(ParseJson, MatchesNlohmannOnValidDocuments) {
  for (const char* text : {
           R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",
           R"({"a":1,"b":-2,"c":1.5,"d":1e3,"e":-0.0,"f":true,"g":false,"h":null})",
           R"({"u":18446744073709551615,"i":-9223372036854775808,"j":9223372036854775807})",
           R"({"esc":"quote \" backslash \\ slash \/ \b\f\n\r\t \u00e9 \ud83d\ude00"})",
           R"({"utf8":"héllo wörld 日本語 😀"})",
           R"({"nested":{"deeper":{"deepest":[1,[2,[3,{"x":[]}]]]}},"empty":{}})",
           R"({"dup":1,"dup":2})",  // the last one wins in both
           R"([1,2,3])",
           R"("just a string")",
           R"(42)",
           " \t\r\n {\"spaced\" : [ 1 , 2 ] } \n",
           R"({"big":123456789012345678901234567890})",  // beyond 64 bits: nlohmann's path
           R"({"float":1.7976931348623157e308,"tiny":5e-324})",
       }) {
    expect_same_as_nlohmann(text);
  }
}

TEST(ParseJson, RejectsWhatNlohmannRejects) {
  for (const char* text : {"", " ", "{", "}", R"({"a":})", R"({"a":1,})", R"([1,2,])", "nul",
                           R"({"a" 1})", R"({'a':1})", R"({"a":01})", R"({"a":1} trailing)",
                           R"({"a":"unterminated})", "{\"ctl\":\"a\x01b\"}", R"({"a":NaN})"}) {
    expect_same_as_nlohmann(text);
  }
  // Invalid UTF-8 inside a string.
  expect_same_as_nlohmann(std::string("{\"a\":\"\xff\xfe\"}"));
  expect_same_as_nlohmann(std::string("{\"a\":\"\xc3\"}"));
}

TEST(ParseJson, DeepNestingAndLargeBodies) {
  // Deeper than simdjson's DOM allows: still parsed, by nlohmann.
  const std::string deep = std::string(3000, '[') + std::string(3000, ']');
  expect_same_as_nlohmann(deep);
  // Larger than the reused per-thread buffer.
  std::string big = R"({"model":"m","messages":[{"role":"user","content":")";
  big += std::string(400 * 1024, 'x');
  big += R"("}]})";
  expect_same_as_nlohmann(big);
  // And a small one after it (the thread's buffer is still right).
  expect_same_as_nlohmann(R"({"after":"big"})");
}

std::vector<std::pair<std::string, std::string>> members(std::string_view text, bool* ok) {
  std::vector<std::pair<std::string, std::string>> out;
  *ok = for_each_raw_member(text, [&](std::string_view k, std::string_view v) {
    out.emplace_back(std::string(k), std::string(v));
  });
  return out;
}

TEST(RawMembers, HandsOutExactBytesInOrder) {
  bool ok = false;
  const auto m = members(
      R"( { "z" : "a \"quoted\" ]}[{ string" , "a":[1, {"b":"}"}] ,"n": -1.5e3,"t":true,"o":{ "x" : null } } )",
      &ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0], std::make_pair(std::string("z"), std::string(R"("a \"quoted\" ]}[{ string")")));
  EXPECT_EQ(m[1], std::make_pair(std::string("a"), std::string(R"([1, {"b":"}"}])")));
  EXPECT_EQ(m[2], std::make_pair(std::string("n"), std::string("-1.5e3")));
  EXPECT_EQ(m[3], std::make_pair(std::string("t"), std::string("true")));
  EXPECT_EQ(m[4], std::make_pair(std::string("o"), std::string(R"({ "x" : null })")));
}

TEST(RawMembers, EmptyObjectAndRefusals) {
  bool ok = false;
  EXPECT_TRUE(members("{}", &ok).empty());
  EXPECT_TRUE(ok);
  EXPECT_TRUE(members(" { \n } ", &ok).empty());
  EXPECT_TRUE(ok);
  members("[1,2]", &ok);
  EXPECT_FALSE(ok);  // not an object
  members(R"({"mod\u0065l":"x"})", &ok);
  EXPECT_FALSE(ok);  // a key with an escape: the caller takes the DOM path
  members(R"({"a":"unterminated)", &ok);
  EXPECT_FALSE(ok);  // truncated text: bounds hold
  members(R"({"a":[1,2)", &ok);
  EXPECT_FALSE(ok);
  members(R"({"a":1)", &ok);
  EXPECT_FALSE(ok);
}

TEST(RawMembers, SkipValueBounds) {
  EXPECT_EQ(skip_json_value(R"("a\\")", 0), 5u);
  EXPECT_EQ(skip_json_value(R"("a\")", 0), std::string_view::npos);
  EXPECT_EQ(skip_json_value("[[]]x", 0), 4u);
  EXPECT_EQ(skip_json_value("12,", 0), 2u);
  EXPECT_EQ(skip_json_value("", 0), std::string_view::npos);
  EXPECT_EQ(skip_json_value("1", 5), std::string_view::npos);
}

}  // namespace
}  // namespace infergate::api
