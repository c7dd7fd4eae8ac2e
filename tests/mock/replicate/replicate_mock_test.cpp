#include "replicate_mock.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace infergate::mock::replicate {
namespace {

using json = nlohmann::json;

std::uint32_t be32(const std::string& s, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) << 24) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 2])) << 8) |
         static_cast<unsigned char>(s[at + 3]);
}

// An independent bitwise CRC-32 (no table), to check the PNG's chunk CRCs.
std::uint32_t crc_bitwise(std::string_view d) {
  std::uint32_t c = 0xFFFFFFFF;
  for (unsigned char b : d) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

TEST(ReplicateMock, PngIsWellFormed) {
  const std::string p = png(12, 8, 3);
  ASSERT_EQ(p.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::size_t at = 8;
  std::vector<std::string> types;
  std::string idat;
  while (at + 12 <= p.size()) {
    const std::uint32_t len = be32(p, at);
    const std::string type = p.substr(at + 4, 4);
    const std::string data = p.substr(at + 8, len);
    EXPECT_EQ(be32(p, at + 8 + len), crc_bitwise(type + data)) << type;
    if (type == "IHDR") {
      EXPECT_EQ(be32(data, 0), 12u);
      EXPECT_EQ(be32(data, 4), 8u);
    }
    if (type == "IDAT") idat = data;
    types.push_back(type);
    at += 12 + len;
  }
  EXPECT_EQ(at, p.size());
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  // One stored block holding 8 rows of (1 + 12*3) bytes.
  ASSERT_GE(idat.size(), 2u + 5u + 8u * 37u + 4u);
  EXPECT_EQ(static_cast<unsigned char>(idat[2]), 1);  // BFINAL, stored
  const std::size_t n =
      static_cast<unsigned char>(idat[3]) | (static_cast<unsigned char>(idat[4]) << 8);
  EXPECT_EQ(n, 8u * 37u);
  EXPECT_NE(png(12, 8, 3), png(12, 8, 4));
  EXPECT_EQ(base64("ab"), "YWI=");
}

TEST(ReplicateMock, Behaviours) {
  Behaviour b;
  Extra x;
  EXPECT_EQ(parse_behaviour("polls=2&fail=1&fail_status=429&data_uri=1&tokens=3", b, x), "");
  EXPECT_EQ(x.polls, 2);
  EXPECT_TRUE(x.data_uri);
  EXPECT_EQ(b.fail, 1);
  EXPECT_EQ(b.fail_status, 429);
  EXPECT_EQ(b.tokens, 3);
  EXPECT_NE(parse_behaviour("polls=x", b, x), "");
  EXPECT_NE(parse_behaviour("bogus=1", b, x), "");
}

TEST(ReplicateMock, ValidatesPerFamily) {
  EXPECT_EQ(family_of("flux-schnell"), Family::flux_schnell);
  EXPECT_EQ(family_of("flux-dev"), Family::flux);
  EXPECT_EQ(family_of("sdxl"), Family::sdxl);
  EXPECT_EQ(family_of("meta-llama-3-8b-instruct"), Family::language);
  EXPECT_TRUE(validate_input(Family::flux_schnell,
                             json{{"prompt", "x"}, {"aspect_ratio", "16:9"}, {"num_outputs", 2}})
                  .empty());
  auto bad = validate_input(Family::flux_schnell,
                            json{{"prompt", "x"}, {"guidance", 3}, {"num_outputs", 5}});
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].field, "input.num_outputs");
  EXPECT_EQ(bad[1].field, "input.guidance");
  EXPECT_FALSE(validate_input(Family::sdxl, json{{"width", 100}, {"prompt", "p"}}).empty());
  EXPECT_FALSE(validate_input(Family::language, json{{"messages", json::array()}}).empty());
  EXPECT_TRUE(validate_input(Family::language,
                             json{{"prompt", "p"}, {"stop_sequences", "a,b"}, {"max_tokens", 3}})
                  .empty());
  EXPECT_EQ(png_size(Family::flux, json{{"aspect_ratio", "16:9"}}), (std::pair<int, int>{32, 18}));
  EXPECT_EQ(png_size(Family::sdxl, json{{"width", 768}, {"height", 512}}),
            (std::pair<int, int>{12, 8}));
}

TEST(ReplicateMock, Tokens) {
  Behaviour b;
  b.tokens = 4;
  EXPECT_EQ(tokens_for(json{{"prompt", "x"}, {"max_tokens", 2}}, b),
            (std::vector<std::string>{"tok0", " tok1"}));
  b.echo = true;
  EXPECT_EQ(tokens_for(json{{"prompt", "hello  big world"}}, b),
            (std::vector<std::string>{"hello", " big", " world"}));
}

}  // namespace
}  // namespace infergate::mock::replicate
