// The socket-free parts of the mock Bedrock runtime: plans by model id, inspect, and the
// event-stream frames (checked by decoding them here, apart from the writer).
#include "bedrock_mock.hpp"

#include <map>
#include <string>

#include <gtest/gtest.h>
#include <boost/crc.hpp>
#include <nlohmann/json.hpp>

#include "mock_openai.hpp"

namespace infergate::mock::bedrock {
namespace {

using json = nlohmann::json;

std::uint32_t be32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

struct Decoded {
  std::map<std::string, std::string> headers;
  std::string payload;
};

// One frame, its lengths and both CRCs checked ("Amazon EventStream": 4-byte total length,
// 4-byte headers length, prelude CRC, headers, payload, message CRC).
Decoded decode(const std::string& f) {
  Decoded d;
  EXPECT_GE(f.size(), 16u);
  EXPECT_EQ(be32(f, 0), f.size());
  boost::crc_32_type prelude;
  prelude.process_bytes(f.data(), 8);
  EXPECT_EQ(be32(f, 8), prelude.checksum());
  boost::crc_32_type whole;
  whole.process_bytes(f.data(), f.size() - 4);
  EXPECT_EQ(be32(f, f.size() - 4), whole.checksum());
  const std::size_t hlen = be32(f, 4);
  std::size_t p = 12;
  while (p < 12 + hlen) {
    const std::size_t klen = static_cast<unsigned char>(f[p]);
    const std::string k = f.substr(p + 1, klen);
    p += 1 + klen;
    EXPECT_EQ(f[p], 7);  // string
    const std::size_t vlen =
        (static_cast<unsigned char>(f[p + 1]) << 8) | static_cast<unsigned char>(f[p + 2]);
    d.headers[k] = f.substr(p + 3, vlen);
    p += 3 + vlen;
  }
  d.payload = f.substr(12 + hlen, f.size() - 16 - hlen);
  return d;
}

TEST(MockBedrock, PlansByModelId) {
  EXPECT_EQ(plan_for("mock.text-v1:0").tools, 0u);
  EXPECT_EQ(plan_for("mock.tools-v1:0").tools, 1u);
  EXPECT_EQ(plan_for("mock.parallel-tools-v1:0").tools, 2u);
  EXPECT_TRUE(plan_for("mock.inspect-v1:0").inspect);
  EXPECT_TRUE(plan_for("mock.streamerror-v1:0").stream_error);
  EXPECT_TRUE(plan_for("mock.throttle-v1:0").throttle);
  const auto tools = tool_uses(2);
  ASSERT_EQ(tools.size(), 2u);
  for (const auto& t : tools) {
    std::string joined;
    for (const auto& f : t.fragments) joined += f;
    EXPECT_GE(t.fragments.size(), 2u);
    EXPECT_EQ(json::parse(joined), t.input) << t.name;
  }
  EXPECT_NE(tools[0].id, tools[1].id);
}

TEST(MockBedrock, InspectReadsToolResultAndImageBlocks) {
  const std::string png(tiny_png());
  // Converse request messages ("Message", "ContentBlock", "ImageBlock", "ToolResultBlock").
  const json body = json::parse(
      R"({"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":")" +
      base64(png) +
      R"("}}},{"text":"look"}]},)"
      R"({"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"f","input":{}}}]},)"
      R"({"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"{\"temp_c\":18}"}]}}]}]})");
  EXPECT_EQ(inspect(body),
            "saw: " + describe_image("image/png", png) + "; tool_result t1 {\"temp_c\":18}");
  EXPECT_EQ(inspect(json{{"messages", json::array()}}), "saw: nothing");
}

TEST(MockBedrock, FramesDecode) {
  const Decoded e = decode(event("contentBlockStop", {{"contentBlockIndex", 1}}));
  EXPECT_EQ(e.headers.at(":message-type"), "event");
  EXPECT_EQ(e.headers.at(":event-type"), "contentBlockStop");
  EXPECT_EQ(json::parse(e.payload)["contentBlockIndex"], 1);
  const Decoded x = decode(exception_event("modelStreamErrorException", "boom"));
  EXPECT_EQ(x.headers.at(":message-type"), "exception");
  EXPECT_EQ(x.headers.at(":exception-type"), "modelStreamErrorException");
  EXPECT_EQ(json::parse(x.payload)["message"], "boom");
}

}  // namespace
}  // namespace infergate::mock::bedrock
