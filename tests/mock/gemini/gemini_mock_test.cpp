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
  ASSERT_TRUE(parse_route("/v1beta/models/m:countTokens", r));
  EXPECT_EQ(r.method, "countTokens");
  EXPECT_FALSE(parse_route("/v1beta/models/m:embedContent", r));
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

TEST(GeminiMock, ParallelFunctionCallsArePartsOfOneContent) {
  Behaviour b;
  ASSERT_EQ(apply_behaviour("parallel_tools=1", b), "");
  Call c;
  const Answer a = plan(c, b);
  for (const json& content :
       {json::parse(response_body(a, "m", "i"))["candidates"][0]["content"],
        json::parse(stream_event(a, "m", "i", 0, true).substr(6))["candidates"][0]["content"]}) {
    const json& parts = content["parts"];
    ASSERT_EQ(parts.size(), 2u) << content;
    EXPECT_EQ(parts[0]["functionCall"]["name"], "get_weather");
    EXPECT_TRUE(parts[0].contains("thoughtSignature"));
    EXPECT_EQ(parts[1]["functionCall"]["name"], "get_time");
    EXPECT_EQ(parts[1]["functionCall"]["args"], json({{"timezone", "Europe/Paris"}}));
    EXPECT_FALSE(parts[1].contains("thoughtSignature"));
  }
}

TEST(GeminiMock, InspectSaysWhatFunctionResponsesAndInlineDataArrived) {
  const std::string png(tiny_png());
  Call c;
  ASSERT_FALSE(parse_request(
      R"({"contents":[{"role":"user","parts":[{"text":"look"},{"inlineData":{"mimeType":"image/png","data":")" +
          base64(png) +
          R"("}}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{}}}]},)"
          R"({"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp_c":18}}}]}]})",
      c));
  EXPECT_EQ(c.inspection, "saw: " + describe_image("image/png", png) +
                              "; tool_result get_weather {\"temp_c\":18}");
  Behaviour b;
  ASSERT_EQ(apply_behaviour("inspect=1", b), "");
  const json whole = json::parse(response_body(plan(c, b), "m", "i"));
  EXPECT_EQ(whole["candidates"][0]["content"]["parts"][0]["text"], c.inspection);
  Call bad;
  EXPECT_TRUE(parse_request(
      R"({"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}]})", bad));
}

// "Counting tokens > models.countTokens": contents or generateContentRequest, never both.
TEST(GeminiMock, CountTokens) {
  std::int64_t n = -1;
  // generateContentRequest: system 4 words, content 5 words + 1, one declaration 1 + 3 words.
  EXPECT_FALSE(count_tokens(R"({"generateContentRequest":{"model":"models/gem",
      "systemInstruction":{"parts":[{"text":"You are a cat."}]},
      "contents":[{"role":"user","parts":[{"text":"The quick brown fox jumps"}]}],
      "tools":[{"functionDeclarations":[{"name":"f","description":"find some theaters"}]}]}})",
                            "gem", n));
  EXPECT_EQ(n, 4 + 6 + 4);
  EXPECT_FALSE(count_tokens(
      R"({"contents":[{"parts":[{"text":"a b"}]},{"role":"model","parts":[{"text":"c"}]}]})", "gem",
      n));
  EXPECT_EQ(n, 2 + 1 + 1 + 1);

  EXPECT_TRUE(count_tokens("{}", "gem", n));
  EXPECT_TRUE(count_tokens(R"({"contents":[{"parts":[{"text":"a"}]}],
      "generateContentRequest":{"model":"models/gem","contents":[{"parts":[{"text":"a"}]}]}})",
                           "gem", n));
  EXPECT_TRUE(count_tokens(R"({"generateContentRequest":{"contents":[{"parts":[{"text":"a"}]}]}})",
                           "gem", n));
  EXPECT_TRUE(count_tokens(R"({"generateContentRequest":{"model":"models/other",
      "contents":[{"parts":[{"text":"a"}]}]}})",
                           "gem", n));
  EXPECT_TRUE(count_tokens(R"({"generateContentRequest":{"model":"models/gem",
      "contents":[{"parts":[{"text":"a"}]}],"max_tokens":3}})",
                           "gem", n));
}

}  // namespace
}  // namespace infergate::mock::gemini
