// The mock Bedrock runtime's CountTokens counting and validation.
#include "bedrock_count.hpp"

#include <gtest/gtest.h>

namespace infergate::mock::bedrock {
namespace {

// "CountTokens" Request Syntax: {"input": {"converse": ConverseTokensRequest}}.
TEST(MockBedrockCount, CountsSystemMessagesAndTools) {
  std::int64_t n = -1;
  // system 3 words; message 1: 4 words + 1; message 2: tool result 2 words + 1; tool: 1 + 4.
  EXPECT_FALSE(count_tokens(R"({"input":{"converse":{
      "system":[{"text":"You are terse."}],
      "messages":[{"role":"user","content":[{"text":"What is the weather?"}]},
                  {"role":"user","content":[{"toolResult":{"toolUseId":"t1",
                      "content":[{"text":"18C sunny"}]}}]}],
      "toolConfig":{"tools":[{"toolSpec":{"name":"w","description":"Get the current weather",
                                          "inputSchema":{"json":{}}}}]}}}})",
                            n));
  EXPECT_EQ(n, 3 + 5 + 3 + 5);
}

TEST(MockBedrockCount, RejectsWhatTheApiRejects) {
  std::int64_t n = 0;
  EXPECT_TRUE(count_tokens("nope", n));
  EXPECT_TRUE(count_tokens(R"({"input":{}})", n));
  EXPECT_TRUE(count_tokens(R"({"input":{"converse":{"messages":[]}}})", n));
  EXPECT_TRUE(count_tokens(
      R"({"input":{"converse":{"messages":[{"role":"user","content":[{"text":"x"}]}],
          "inferenceConfig":{"maxTokens":5}}}})",
      n));
  EXPECT_TRUE(count_tokens(R"({"input":{"converse":{"messages":[{"role":"user",
      "content":[{"text":"x"}]}]},"invokeModel":{"body":"{}"}}})",
                           n));
  EXPECT_TRUE(count_tokens(R"({"messages":[{"role":"user","content":[{"text":"x"}]}]})", n));
}

}  // namespace
}  // namespace infergate::mock::bedrock
