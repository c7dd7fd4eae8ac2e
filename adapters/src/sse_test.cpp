#include "infergate/adapters/sse.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace infergate::adapters {
namespace {

struct Got {
  std::string type, data, id;
  bool operator==(const Got&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Got& g) {
  return os << "{type=" << g.type << " data=" << g.data << " id=" << g.id << "}";
}

// Feeds `pieces` one after the other, collecting every dispatched event.
std::vector<Got> parse(const std::vector<std::string>& pieces, SseParser& p) {
  std::vector<Got> out;
  SseEvent ev;
  for (const auto& piece : pieces) {
    p.feed(piece);
    while (p.next(ev))
      out.push_back({std::string(ev.type), std::string(ev.data), std::string(ev.id)});
  }
  return out;
}

std::vector<Got> parse(const std::string& whole,
                       std::size_t max = SseParser::kDefaultMaxEventBytes) {
  SseParser p(max);
  return parse(std::vector<std::string>{whole}, p);
}

TEST(Sse, SingleEvent) {
  EXPECT_EQ(parse("data: hello\n\n"), (std::vector<Got>{{"message", "hello", ""}}));
}

TEST(Sse, LineEndingsLfCrLfCr) {
  const std::vector<Got> want{{"message", "a", ""}, {"message", "b", ""}};
  EXPECT_EQ(parse("data: a\n\ndata: b\n\n"), want);
  EXPECT_EQ(parse("data: a\r\n\r\ndata: b\r\n\r\n"), want);
  EXPECT_EQ(parse("data: a\r\rdata: b\r\r"), want);
  EXPECT_EQ(parse("data: a\r\n\rdata: b\n\r\n"), want);
}

TEST(Sse, MultiLineDataJoinedWithNewline) {
  EXPECT_EQ(parse("data: one\ndata: two\ndata:three\n\n"),
            (std::vector<Got>{{"message", "one\ntwo\nthree", ""}}));
}

TEST(Sse, CommentsAndUnknownFieldsIgnored) {
  EXPECT_EQ(parse(": keep-alive\n\n:another\ndata: x\nfoo: bar\n\n"),
            (std::vector<Got>{{"message", "x", ""}}));
}

TEST(Sse, EventTypeAndIdPersistence) {
  // The event type resets after each dispatch; the last event id persists (WHATWG 9.2.6).
  EXPECT_EQ(parse("event: error\nid: 7\ndata: {}\n\ndata: next\n\n"),
            (std::vector<Got>{{"error", "{}", "7"}, {"message", "next", "7"}}));
}

TEST(Sse, IdWithNulIsIgnored) {
  using namespace std::string_literals;
  EXPECT_EQ(parse("id: 1\n\nid: a\0b\ndata: x\n\n"s), (std::vector<Got>{{"message", "x", "1"}}));
}

TEST(Sse, OnlyOneSpaceStripped) {
  EXPECT_EQ(parse("data:  two spaces\n\n"), (std::vector<Got>{{"message", " two spaces", ""}}));
  EXPECT_EQ(parse("data:nospace\n\n"), (std::vector<Got>{{"message", "nospace", ""}}));
}

TEST(Sse, FieldWithoutColonHasEmptyValue) {
  // "data" alone appends an empty line: the data buffer is "\n", so an (empty) event dispatches.
  EXPECT_EQ(parse("data\n\n"), (std::vector<Got>{{"message", "", ""}}));
  EXPECT_EQ(parse("data\ndata\n\n"), (std::vector<Got>{{"message", "\n", ""}}));
}

TEST(Sse, BlankLineWithoutDataDispatchesNothingAndResetsType) {
  EXPECT_EQ(parse("event: x\n\ndata: y\n\n"), (std::vector<Got>{{"message", "y", ""}}));
}

TEST(Sse, BomStrippedAtStartOnly) {
  EXPECT_EQ(parse("\xEF\xBB\xBF"
                  "data: a\n\n"),
            (std::vector<Got>{{"message", "a", ""}}));
  // A BOM later is part of the field name: an unknown field, ignored.
  EXPECT_EQ(parse("data: a\n\n\xEF\xBB\xBF"
                  "data: b\n\n"),
            (std::vector<Got>{{"message", "a", ""}}));
}

TEST(Sse, RetryField) {
  SseParser p;
  parse(std::vector<std::string>{"retry: 1500\n", "retry: x\n", "retry: 12a\n\n"}, p);
  EXPECT_EQ(p.retry_ms(), 1500);
}

TEST(Sse, IncompleteEventAtEndIsNotDispatched) {
  SseParser p;
  EXPECT_TRUE(parse(std::vector<std::string>{"data: a\n"}, p).empty());
  EXPECT_TRUE(p.pending());
}

// Every split position of a stream that exercises all line endings, BOM, comments and fields
// yields the same events as the whole stream: the parser keeps no state it should not.
TEST(Sse, EverySplitPositionAndByteByByte) {
  const std::string stream =
      "\xEF\xBB\xBF: hi\r\nevent: a\r\ndata: {\"x\":1}\r\n\r\ndata: two\rdata: lines\r\r"
      "id: 9\ndata: [DONE]\n\ndata:x\r\n\r\n";
  const auto want = parse(stream);
  ASSERT_EQ(want.size(), 4u);
  EXPECT_EQ(want[0], (Got{"a", "{\"x\":1}", ""}));
  EXPECT_EQ(want[1], (Got{"message", "two\nlines", ""}));
  EXPECT_EQ(want[2], (Got{"message", "[DONE]", "9"}));
  EXPECT_EQ(want[3], (Got{"message", "x", "9"}));
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    for (std::size_t j = i; j <= stream.size(); j += 7) {
      SseParser p;
      auto got = parse({stream.substr(0, i), stream.substr(i, j - i), stream.substr(j)}, p);
      ASSERT_EQ(got, want) << "split at " << i << "," << j;
    }
  }
  SseParser p;
  std::vector<std::string> bytes;
  for (char ch : stream) bytes.emplace_back(1, ch);
  EXPECT_EQ(parse(bytes, p), want);
}

TEST(Sse, EventLimit) {
  // Within the limit: fine.
  EXPECT_EQ(parse("data: 12345\n\n", 16).size(), 1u);
  // Data over the limit fails, and the parser stays failed.
  SseParser p(16);
  auto got = parse(
      std::vector<std::string>{"data: 0123456789\n", "data: 0123456789\n\n", "data: ok\n\n"}, p);
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(p.failed());
}

TEST(Sse, LineLimitWithoutNewline) {
  // A line that never ends must not grow the buffer without bound.
  SseParser p(64);
  std::string chunk(40, 'x');
  SseEvent ev;
  p.feed(chunk);
  EXPECT_FALSE(p.next(ev));
  EXPECT_FALSE(p.failed());
  p.feed(chunk);
  EXPECT_FALSE(p.next(ev));
  EXPECT_TRUE(p.failed());
}

TEST(Sse, ViewsStayValidUntilNextCall) {
  SseParser p;
  std::string input = "data: first\n\ndata: second\n\n";
  p.feed(input);
  SseEvent a;
  ASSERT_TRUE(p.next(a));
  EXPECT_EQ(a.data, "first");
  SseEvent b;
  ASSERT_TRUE(p.next(b));
  EXPECT_EQ(b.data, "second");
  EXPECT_FALSE(p.next(b));
}

}  // namespace
}  // namespace infergate::adapters
