#include "gemini_mock.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace infergate::mock::gemini {
namespace {

using json = nlohmann::json;

TEST(GeminiMock, Routes) {
  Route r;
  ASSERT_TRUE(
      parse_route("/v1beta/models/gemini-mock%3Ftokens%3D3:streamGenerateContent?alt=sse", r));
  EXPECT_EQ(r.model, "gemini-mock?tokens=3");
  EXPECT_EQ(r.method, "streamGenerateContent");
  EXPECT_TRUE(r.alt_sse);
  EXPECT_FALSE(r.key_in_query);
  ASSERT_TRUE(parse_route("/v1beta/models/m:generateContent?key=abc", r));
  EXPECT_TRUE(r.key_in_query);
  EXPECT_FALSE(parse_route("/v1beta/models/m:countTokens", r));
  EXPECT_FALSE(parse_route("/v1/chat/completions", r));
  EXPECT_FALSE(parse_route("/v1beta/models/m%4:generateContent", r));
}

TEST(GeminiMock, ValidatesLikeTheApi) {
  Call c;
  EXPECT_FALSE(parse_request(
      R"({"contents":[{"role":"user","parts":[{"text":"hello big world"}]}],
          "generationConfig":{"maxOutputTokens":2}})",
      c));
  EXPECT_EQ(c.prompt_tokens, 3);
  EXPECT_EQ(c.max_tokens, 2);
  EXPECT_EQ(c.last_user_text, "hello big world");
  auto bad = [](const char* body) {
    Call x;
    auto e = parse_request(body, x);
    return e ? *e : std::string();
  };
  EXPECT_NE(bad(R"({"messages":[]})").find("Unknown name \"messages\""), std::string::npos);
  EXPECT_NE(bad(R"({"contents":[]})"), "");
  EXPECT_NE(bad(R"({"contents":[{"role":"assistant","parts":[{"text":"x"}]}]})"), "");
  EXPECT_NE(bad(R"({"contents":[{"role":"user","parts":[]}]})"), "");
  EXPECT_NE(bad(R"({"contents":[{"parts":[{"text":""}]}]})"), "");
  EXPECT_NE(bad(R"({"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"max_tokens":3}})"),
            "");
  EXPECT_NE(bad(R"({"contents":[{"parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[
               {"name":"f","parameters":{"type":"object","additionalProperties":false}}]}]})"),
            "");
  EXPECT_NE(bad(R"({"contents":[{"parts":[{"functionResponse":{"name":"f","response":"x"}}]}]})"),
            "");
  EXPECT_EQ(bad(R"({"contents":[{"parts":[{"text":"a"}]},{"role":"model","parts":[
               {"functionCall":{"name":"f","args":{}},"thoughtSignature":"s"}]},
               {"role":"user","parts":[{"functionResponse":{"name":"f","response":{"x":1}}}]}]})"),
            "");
}

TEST(GeminiMock, Bodies) {
  Behaviour b;
  b.tokens = 3;
  Call c;
  c.prompt_tokens = 4;
  Answer a = plan(c, b);
  const json whole = json::parse(response_body(a, "gemini-mock", "id-1"));
  EXPECT_EQ(whole["candidates"][0]["content"]["parts"][0]["text"], "tok0 tok1 tok2");
  EXPECT_EQ(whole["candidates"][0]["finishReason"], "STOP");
  EXPECT_EQ(whole["usageMetadata"]["candidatesTokenCount"], 3);
  EXPECT_EQ(whole["responseId"], "id-1");
  const std::string last = stream_event(a, "gemini-mock", "id-1", 2, true);
  ASSERT_EQ(last.substr(0, 6), "data: ");
  ASSERT_EQ(last.substr(last.size() - 4), "\r\n\r\n");
  const json j = json::parse(last.substr(6));
  EXPECT_EQ(j["candidates"][0]["content"]["parts"][0]["text"], " tok2");
  EXPECT_EQ(j["candidates"][0]["finishReason"], "STOP");
  c.max_tokens = 1;
  a = plan(c, b);
  EXPECT_EQ(finish_reason(a), "MAX_TOKENS");
  b.tool_call = true;
  a = plan(c, b);
  const json call = json::parse(response_body(a, "m", "i"))["candidates"][0]["content"]["parts"][0];
  EXPECT_EQ(call["functionCall"]["name"], "get_weather");
  EXPECT_EQ(call["functionCall"]["args"]["city"], "Paris");
  const json err = json::parse(error_body(429, "slow down"));
  EXPECT_EQ(err["error"]["status"], "RESOURCE_EXHAUSTED");
  EXPECT_EQ(err["error"]["code"], 429);
}

}  // namespace
}  // namespace infergate::mock::gemini
