#include "eventstream.hpp"

#include <gtest/gtest.h>
#include <boost/crc.hpp>

#include <fstream>
#include <sstream>

namespace infergate::adapters::eventstream {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(BEDROCK_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Message> decode_all(std::string_view bytes, std::size_t piece, Decoder& d) {
  std::vector<Message> out;
  Message m;
  for (std::size_t pos = 0; pos < bytes.size(); pos += piece) {
    d.feed(bytes.substr(pos, piece));
    while (d.next(m)) out.push_back(m);
  }
  return out;
}

TEST(EventStream, DecodesGoldenStreamAtEveryPieceSize) {
  const std::string bytes = fixture("converse_stream_text.bin");
  ASSERT_FALSE(bytes.empty());
  for (std::size_t piece = 1; piece <= bytes.size(); ++piece) {
    Decoder d;
    const auto msgs = decode_all(bytes, piece, d);
    ASSERT_FALSE(d.failed()) << piece;
    ASSERT_FALSE(d.pending()) << piece;
    ASSERT_EQ(msgs.size(), 6u) << piece;
    EXPECT_EQ(msgs[0].string_header(":event-type"), "messageStart");
    EXPECT_EQ(msgs[1].string_header(":event-type"), "contentBlockDelta");
    EXPECT_EQ(msgs[1].string_header(":message-type"), "event");
    EXPECT_EQ(msgs[1].string_header(":content-type"), "application/json");
    EXPECT_EQ(msgs[1].payload, R"({"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcd"})");
    EXPECT_EQ(msgs[5].string_header(":event-type"), "metadata");
  }
}

TEST(EventStream, SplitAtEveryByteBoundaryInTwoPieces) {
  const std::string bytes = fixture("converse_stream_tools.bin");
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    Decoder d;
    std::vector<Message> msgs;
    Message m;
    d.feed(std::string_view(bytes).substr(0, cut));
    while (d.next(m)) msgs.push_back(m);
    d.feed(std::string_view(bytes).substr(cut));
    while (d.next(m)) msgs.push_back(m);
    ASSERT_EQ(msgs.size(), 14u) << cut;
    ASSERT_FALSE(d.pending());
  }
}

TEST(EventStream, AllHeaderValueTypes) {
  Decoder d;
  d.feed(fixture("all_header_types.bin"));
  Message m;
  ASSERT_TRUE(d.next(m)) << describe(d.error());
  ASSERT_EQ(m.headers.size(), 10u);
  auto num = [&](std::string_view n) { return m.find(n)->number; };
  EXPECT_EQ(m.find("true")->type, ValueType::bool_true);
  EXPECT_EQ(num("true"), 1);
  EXPECT_EQ(num("false"), 0);
  EXPECT_EQ(num("byte"), -7);
  EXPECT_EQ(num("short"), -300);
  EXPECT_EQ(num("int"), 70000);
  EXPECT_EQ(num("long"), -5000000000);
  EXPECT_EQ(num("timestamp"), 1440938160000);
  EXPECT_EQ(m.find("bytes")->bytes, std::string("\x00\x01\xff", 3));
  EXPECT_EQ(m.string_header("string"), "caf\xc3\xa9");
  EXPECT_EQ(m.find("uuid")->bytes.size(), 16u);
  EXPECT_EQ(m.string_header("bytes"), "");  // not a string header
  EXPECT_EQ(m.payload, std::string("\x00payload\xff", 9));
  // The encoder writes the same bytes back.
  EXPECT_EQ(encode(m), fixture("all_header_types.bin"));
}

TEST(EventStream, EncodeDecodeRoundTrip) {
  Message m;
  m.headers.push_back(string_header(":event-type", "x"));
  m.payload = std::string(70000, 'z');
  Decoder d;
  d.feed(encode(m));
  Message back;
  ASSERT_TRUE(d.next(back));
  EXPECT_EQ(back.payload, m.payload);
  EXPECT_EQ(back.string_header(":event-type"), "x");
}

TEST(EventStream, BadPreludeCrcFails) {
  std::string bytes = fixture("converse_stream_text.bin");
  bytes[9] ^= 0x01;  // inside the prelude CRC
  Decoder d;
  d.feed(bytes);
  Message m;
  EXPECT_FALSE(d.next(m));
  EXPECT_EQ(d.error(), DecodeError::prelude_crc);
  d.feed(fixture("converse_stream_text.bin"));  // no resynchronisation
  EXPECT_FALSE(d.next(m));
}

TEST(EventStream, CorruptedLengthIsCaughtByPreludeCrc) {
  std::string bytes = fixture("converse_stream_text.bin");
  bytes[3] ^= 0x10;  // total length
  Decoder d;
  d.feed(bytes);
  Message m;
  EXPECT_FALSE(d.next(m));
  EXPECT_EQ(d.error(), DecodeError::prelude_crc);
}

TEST(EventStream, BadMessageCrcFails) {
  std::string bytes = fixture("converse_stream_text.bin");
  Decoder probe;
  probe.feed(bytes);
  Message first;
  ASSERT_TRUE(probe.next(first));
  const std::size_t first_len = encode(first).size();
  bytes[first_len + 20] ^= 0x40;  // a byte in the second message's headers
  Decoder d;
  d.feed(bytes);
  Message m;
  EXPECT_TRUE(d.next(m));
  EXPECT_FALSE(d.next(m));
  EXPECT_EQ(d.error(), DecodeError::message_crc);
}

TEST(EventStream, OversizeMessageFailsBeforeBuffering) {
  Message big;
  big.payload = std::string(5000, 'x');
  const std::string bytes = encode(big);
  Decoder d(1024);
  d.feed(bytes.substr(0, 12));  // the prelude alone is enough to refuse
  Message m;
  EXPECT_FALSE(d.next(m));
  EXPECT_EQ(d.error(), DecodeError::too_large);
}

// Frames with valid checksums but invalid content, built by hand.
std::string crc_be(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  const std::uint32_t v = crc.checksum();
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string handmade(std::uint32_t total, std::uint32_t headers_len, std::string_view rest) {
  std::string out;
  for (std::uint32_t v : {total, headers_len})
    for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
  out += crc_be(out);
  out += rest;
  out += crc_be(out);
  return out;
}

DecodeError error_of(const std::string& bytes) {
  Decoder d;
  d.feed(bytes);
  Message m;
  EXPECT_FALSE(d.next(m));
  return d.error();
}

TEST(EventStream, InvalidLengthsAndHeaders) {
  // Total length below the 16-byte minimum.
  EXPECT_EQ(error_of(handmade(8, 0, "")), DecodeError::bad_length);
  // Headers longer than the message leaves room for.
  EXPECT_EQ(error_of(handmade(20, 8, "abcd")), DecodeError::bad_length);
  // A header of unknown value type 10.
  const std::string unknown_type = std::string(
      "\x01"
      "a"
      "\x0a",
      3);
  EXPECT_EQ(error_of(handmade(16 + 3, 3, unknown_type)), DecodeError::bad_header);
  // A string header whose length runs past the header block.
  const std::string overrun = std::string(
      "\x01"
      "a"
      "\x07"
      "\x00\x09"
      "xy",
      7);
  EXPECT_EQ(error_of(handmade(16 + 7, 7, overrun)), DecodeError::bad_header);
  // An empty header name.
  const std::string empty_name = std::string("\x00\x00", 2);
  EXPECT_EQ(error_of(handmade(16 + 2, 2, empty_name)), DecodeError::bad_header);
  // Headers above the 128 KiB bound.
  EXPECT_EQ(error_of(handmade(16 + 200000, 200000, "")), DecodeError::too_large);
  // The smallest valid message: no headers, no payload.
  Decoder d;
  d.feed(handmade(16, 0, ""));
  Message m;
  EXPECT_TRUE(d.next(m));
  EXPECT_TRUE(m.headers.empty());
  EXPECT_TRUE(m.payload.empty());
}

TEST(EventStream, TruncatedStreamIsPending) {
  const std::string bytes = fixture("converse_stream_text.bin");
  Decoder d;
  d.feed(std::string_view(bytes).substr(0, bytes.size() - 3));
  Message m;
  int n = 0;
  while (d.next(m)) ++n;
  EXPECT_EQ(n, 5);
  EXPECT_TRUE(d.pending());
  EXPECT_FALSE(d.failed());
}

}  // namespace
}  // namespace infergate::adapters::eventstream
