// Golden tests of the gemini codec. Fixtures (testdata/, sources in testdata/README.md) follow the
// Gemini API reference at ai.google.dev, v1beta.
#include "gemini_codec.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "infergate/adapters/sse.hpp"

namespace infergate::adapters::gemini {
namespace {

using json = nlohmann::json;
using Type = api::Event::Type;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(GEMINI_TESTDATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

api::ChatRequest request_of(const json& body) {
  api::ChatRequest r;
  r.model = body.value("model", "m");
  r.stream = body.value("stream", false);
  r.body = body;
  return r;
}

json encode(const json& body, bool drop = true, std::vector<std::string>* dropped = nullptr,
            api::Error* error = nullptr) {
  std::string out;
  std::vector<std::string> d;
  api::Error err;
  const bool ok = encode_request(request_of(body), drop, out, d, err);
  if (dropped) *dropped = d;
  if (error) *error = err;
  if (!ok) return nullptr;
  return json::parse(out);
}

json user_message(const std::string& text = "hi") {
  return json::array({json{{"role", "user"}, {"content", text}}});
}

std::vector<Type> types(const std::vector<api::Event>& evs) {
  std::vector<Type> t;
  for (const auto& e : evs) t.push_back(e.type);
  return t;
}

// The events of an alt=sse stream, fed in pieces of `step` bytes.
std::vector<api::Event> decode_stream(const std::string& bytes, std::size_t step,
                                      bool* complete = nullptr) {
  SseParser parser;
  ResponseDecoder dec("SECRET-KEY-123456");
  std::vector<api::Event> out;
  SseEvent ev;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    parser.feed(std::string_view(bytes).substr(at, step));
    while (parser.next(ev)) {
      if (dec.decode(ev.data, out) == ResponseDecoder::Status::error) {
        if (complete) *complete = false;
        return out;
      }
    }
  }
  if (complete) *complete = dec.complete();
  dec.flush(out);
  return out;
}

// --- request ------------------------------------------------------------------------------------

// "Generating content › Request body", "Function calling", "Tool › Schema", "GenerationConfig".
TEST(GeminiRequest, GoldenFullRequest) {
  std::vector<std::string> dropped;
  const json got = encode(json::parse(fixture("request_full.openai.json")), true, &dropped);
  const json want = json::parse(fixture("request_full.gemini.json"));
  EXPECT_EQ(got, want) << got.dump(2);
  EXPECT_TRUE(dropped.empty());
}

TEST(GeminiRequest, PlainTextAndSystem) {
  const json got =
      encode({{"model", "m"},
              {"messages", json::array({json{{"role", "system"}, {"content", "Be brief."}},
                                        json{{"role", "user"}, {"content", "Hello"}}})}});
  EXPECT_EQ(got, json::parse(R"({"systemInstruction":{"parts":[{"text":"Be brief."}]},
                                "contents":[{"role":"user","parts":[{"text":"Hello"}]}]})"));
}

TEST(GeminiRequest, UnsupportedFieldsDroppedAndNamed) {
  json body = {{"model", "m"},
               {"messages", user_message()},
               {"logprobs", true},
               {"top_logprobs", 3},
               {"logit_bias", {{"50256", -100}}},
               {"parallel_tool_calls", false},
               {"metadata", {{"a", "b"}}}};
  std::vector<std::string> dropped;
  const json got = encode(body, true, &dropped);
  ASSERT_FALSE(got.is_null());
  EXPECT_EQ(dropped, (std::vector<std::string>{"logit_bias", "logprobs", "parallel_tool_calls",
                                               "top_logprobs"}));
  EXPECT_FALSE(got.contains("generationConfig"));
}

TEST(GeminiRequest, UnsupportedFieldsRejectedWhenNotDropping) {
  api::Error err;
  std::vector<std::string> dropped;
  const json got = encode({{"model", "m"}, {"messages", user_message()}, {"logprobs", true}}, false,
                          &dropped, &err);
  EXPECT_TRUE(got.is_null());
  EXPECT_EQ(err.status, 400);
  EXPECT_FALSE(err.retryable);
  EXPECT_EQ(err.param, "logprobs");
  EXPECT_NE(err.message.find("logprobs"), std::string::npos);
  EXPECT_TRUE(dropped.empty());
  // Defaults that change nothing are not "unsupported".
  EXPECT_FALSE(encode({{"model", "m"},
                       {"messages", user_message()},
                       {"logprobs", false},
                       {"parallel_tool_calls", true},
                       {"user", "u"},
                       {"stream_options", {{"include_usage", true}}}},
                      false)
                   .is_null());
}

TEST(GeminiRequest, ToolResultForUnknownCallIsRejected) {
  api::Error err;
  json msgs = user_message();
  msgs.push_back({{"role", "tool"}, {"tool_call_id", "nope"}, {"content", "x"}});
  EXPECT_TRUE(encode({{"messages", msgs}}, true, nullptr, &err).is_null());
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.param, "messages[1].tool_call_id");
}

TEST(GeminiRequest, ToolCallArgumentsMustBeAnObject) {
  api::Error err;
  json msgs = user_message();
  msgs.push_back(
      {{"role", "assistant"},
       {"tool_calls", json::array({json{{"id", "c"},
                                        {"type", "function"},
                                        {"function", {{"name", "f"}, {"arguments", "[1]"}}}}})}});
  EXPECT_TRUE(encode({{"messages", msgs}}, true, nullptr, &err).is_null());
  EXPECT_EQ(err.param, "messages[1].tool_calls[0].function.arguments");
}

TEST(GeminiRequest, ClientThoughtSignatureIsReplayed) {
  json msgs = user_message();
  msgs.push_back(
      {{"role", "assistant"},
       {"content", "Checking."},
       {"tool_calls",
        json::array({json{{"id", "c1"},
                          {"type", "function"},
                          {"function", {{"name", "f"}, {"arguments", ""}}},
                          {"extra_content", {{"google", {{"thought_signature", "SIG=="}}}}}}})}});
  const json got = encode({{"messages", msgs}});
  const json& parts = got["contents"][1]["parts"];
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], json({{"text", "Checking."}}));
  EXPECT_EQ(parts[1]["thoughtSignature"], "SIG==");
  EXPECT_EQ(parts[1]["functionCall"]["args"], json::object());
}

TEST(GeminiRequest, ToolChoiceModesAndJsonObject) {
  auto cfg = [](const json& choice) {
    return encode(
        {{"messages", user_message()},
         {"tools", json::array({json{{"type", "function"}, {"function", {{"name", "f"}}}}})},
         {"tool_choice", choice}})["toolConfig"]["functionCallingConfig"];
  };
  EXPECT_EQ(cfg("auto"), json({{"mode", "AUTO"}}));
  EXPECT_EQ(cfg("none"), json({{"mode", "NONE"}}));
  EXPECT_EQ(cfg("required"), json({{"mode", "ANY"}}));
  const json j = encode({{"messages", user_message()},
                         {"response_format", {{"type", "json_object"}}},
                         {"reasoning_effort", "low"},
                         {"tool_choice", "required"}});
  EXPECT_EQ(j["generationConfig"]["responseMimeType"], "application/json");
  EXPECT_EQ(j["generationConfig"]["thinkingConfig"]["thinkingBudget"], 1024);
  EXPECT_FALSE(j.contains("toolConfig"));  // no tools: nothing to configure
}

TEST(GeminiRequest, BadTypesAndEmptyConversation) {
  api::Error err;
  EXPECT_TRUE(encode({{"messages", user_message()}, {"temperature", "hot"}}, true, nullptr, &err)
                  .is_null());
  EXPECT_EQ(err.param, "temperature");
  EXPECT_TRUE(encode({{"messages", json::array({json{{"role", "system"}, {"content", "x"}}})}},
                     true, nullptr, &err)
                  .is_null());
  EXPECT_EQ(err.param, "messages");
  EXPECT_TRUE(
      encode({{"messages",
               json::array(
                   {json{{"role", "user"},
                         {"content", json::array({json{{"type", "image_url"},
                                                       {"image_url", {{"url", "ftp://x"}}}}})}}})}},
             true, nullptr, &err)
          .is_null());
  EXPECT_EQ(err.param, "messages[0].content[0]");
}

TEST(GeminiRequest, MethodPathEncodesTheModel) {
  EXPECT_EQ(method_path("gemini-2.5-flash", false), "/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(method_path("models/gemini-2.5-pro", true),
            "/models/gemini-2.5-pro:streamGenerateContent");
  EXPECT_EQ(method_path("m?tokens=3&x", false), "/models/m%3Ftokens%3D3%26x:generateContent");
  EXPECT_EQ(method_path("a b:c", false), "/models/a%20b%3Ac:generateContent");
}

// "Counting tokens > models.countTokens": the generateContentRequest form (system instruction
// and function declarations are counted), with GenerateContentRequest's required model name.
TEST(GeminiCountTokens, GoldenRequestAndPath) {
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(encode_count_tokens_request(
      request_of(json::parse(fixture("count_tokens_request.openai.json"))), "gemini-2.5-flash",
      /*drop_unsupported=*/false, out, dropped, err))
      << err.message;
  EXPECT_EQ(json::parse(out), json::parse(fixture("count_tokens_request.gemini.json"))) << out;
  EXPECT_TRUE(dropped.empty());
  out.clear();
  ASSERT_TRUE(encode_count_tokens_request(request_of({{"messages", user_message()}}),
                                          "models/gemini-2.5-pro", false, out, dropped, err));
  EXPECT_EQ(json::parse(out), json::parse(R"({"generateContentRequest":{
      "model":"models/gemini-2.5-pro","contents":[{"role":"user","parts":[{"text":"hi"}]}]}})"));
  out.clear();
  EXPECT_FALSE(encode_count_tokens_request(request_of({{"messages", json::array()}}), "m", false,
                                           out, dropped, err));

  EXPECT_EQ(count_tokens_path("gemini-2.5-flash"), "/models/gemini-2.5-flash:countTokens");
  EXPECT_EQ(count_tokens_path("models/gemini-2.5-pro"), "/models/gemini-2.5-pro:countTokens");
  EXPECT_EQ(count_tokens_path("a b"), "/models/a%20b:countTokens");
}

// "Counting tokens > CountTokensResponse".
TEST(GeminiCountTokens, GoldenResponse) {
  std::int64_t n = -1;
  api::Error err;
  ASSERT_TRUE(decode_count_tokens(fixture("count_tokens_response.json"), n, err)) << err.message;
  EXPECT_EQ(n, 31);
  EXPECT_TRUE(decode_count_tokens("{}", n, err));  // proto3 JSON leaves a zero out
  EXPECT_EQ(n, 0);
  EXPECT_TRUE(decode_count_tokens(R"({"totalTokens":"12"})", n, err));
  EXPECT_EQ(n, 12);
  for (const char* bad : {"[]", "nope", R"({"totalTokens":"x"})", R"({"totalTokens":-1.5})"}) {
    EXPECT_FALSE(decode_count_tokens(bad, n, err)) << bad;
    EXPECT_EQ(err.kind, api::ErrorKind::upstream) << bad;
  }
  EXPECT_FALSE(decode_count_tokens(fixture("error_429.json"), n, err));
  EXPECT_EQ(err.kind, api::ErrorKind::rate_limited);
}

TEST(GeminiRequest, HeadersCarryTheKeyInXGoogApiKey) {
  config::ProviderConfig p;
  p.api_key = "AIzaSy-test";
  p.headers = {{"X-Extra", "1"}, {"Host", "evil"}};
  std::vector<std::pair<std::string, std::string>> h;
  request_headers(p, true, "rid", [&](std::string_view k, std::string_view v) {
    h.emplace_back(std::string(k), std::string(v));
  });
  EXPECT_EQ(h,
            (std::vector<std::pair<std::string, std::string>>{{"x-goog-api-key", "AIzaSy-test"},
                                                              {"X-Extra", "1"},
                                                              {"Content-Type", "application/json"},
                                                              {"Accept", "text/event-stream"},
                                                              {"x-request-id", "rid"}}));
}

TEST(GeminiSchema, StripsAndRewritesKeywords) {
  const json in = json::parse(R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": false,
    "properties": {
      "a": {"oneOf": [{"type": "string"}, {"type": "integer"}], "examples": ["x"]},
      "b": {"allOf": [{"$ref": "#/definitions/B"}], "description": "bee"},
      "c": {"const": "fixed", "type": "string"},
      "d": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0, "format": "double"},
            "uniqueItems": true},
      "e": {"type": ["integer", "string", "null"]},
      "r": {"$ref": "#/$defs/Node"}
    },
    "definitions": {"B": {"type": "boolean"}},
    "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
  })");
  const json out = sanitize_schema(in);
  EXPECT_FALSE(out.contains("$schema"));
  EXPECT_FALSE(out.contains("additionalProperties"));
  EXPECT_FALSE(out.contains("definitions"));
  EXPECT_EQ(out["properties"]["a"],
            json::parse(R"({"anyOf":[{"type":"string"},{"type":"integer"}]})"));
  EXPECT_EQ(out["properties"]["b"], json::parse(R"({"description":"bee","type":"boolean"})"));
  EXPECT_EQ(out["properties"]["c"], json::parse(R"({"enum":["fixed"],"type":"string"})"));
  EXPECT_EQ(out["properties"]["d"],
            json::parse(R"({"type":"array","items":{"type":"number","format":"double"}})"));
  EXPECT_EQ(out["properties"]["e"],
            json::parse(R"({"anyOf":[{"type":"integer"},{"type":"string"}],"nullable":true})"));
  // A recursive $ref is cut off at the depth bound instead of looping.
  int depth = 0;
  for (const json* n = &out["properties"]["r"]; n->contains("properties"); ++depth)
    n = &(*n)["properties"]["next"];
  EXPECT_GT(depth, 3);
  EXPECT_LE(depth, kMaxSchemaDepth);
}

// --- responses -----------------------------------------------------------------------------------

// "Generating content › Response body": thought parts are reasoning; thoughts count as output.
TEST(GeminiResponse, GoldenText) {
  std::vector<api::Event> evs;
  api::Error err;
  ASSERT_TRUE(decode_response(fixture("response_text.json"), evs, err)) << err.message;
  EXPECT_EQ(types(evs), (std::vector<Type>{Type::start, Type::reasoning, Type::text, Type::finish,
                                           Type::usage}));
  EXPECT_EQ(evs[0].text, "mYrcaOjbBL2pkdUPk8ut0Qs");
  EXPECT_EQ(evs[0].model, "gemini-2.5-flash");
  EXPECT_EQ(evs[1].text, "The user wants a haiku about the sea.");
  EXPECT_EQ(evs[2].text.substr(0, 16), "Waves fold into ");
  EXPECT_EQ(evs[3].finish, api::FinishReason::stop);
  EXPECT_EQ(evs[4].usage.prompt_tokens, 12);
  EXPECT_EQ(evs[4].usage.completion_tokens, 21 + 28);
  EXPECT_EQ(evs[4].usage.cached_tokens, 4);
  EXPECT_TRUE(evs[4].usage.reported);
}

// "Function calling › Parallel function calling".
TEST(GeminiResponse, GoldenParallelFunctionCalls) {
  std::vector<api::Event> evs;
  api::Error err;
  ASSERT_TRUE(decode_response(fixture("response_parallel_calls.json"), evs, err));
  api::ResponseBuilder b;
  for (const auto& e : evs) b.add(e);
  const auto& r = b.response();
  ASSERT_EQ(r.choices.size(), 1u);
  const auto& calls = r.choices[0].tool_calls;
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].name, "power_disco_ball");
  EXPECT_EQ(calls[0].arguments, R"({"power":true})");
  EXPECT_EQ(calls[1].arguments, R"({"energetic":true,"loud":true})");
  EXPECT_EQ(calls[2].index, 2);
  EXPECT_EQ(calls[0].id, "call_Zk1AaLmTMoSvz7IPk4TA2Ak_0");
  EXPECT_EQ(calls[2].id, "call_Zk1AaLmTMoSvz7IPk4TA2Ak_2");
  EXPECT_EQ(r.choices[0].finish, api::FinishReason::tool_calls);
  EXPECT_EQ(r.usage.completion_tokens, 30);
}

// "Generating content › PromptFeedback": a blocked prompt has no candidates.
TEST(GeminiResponse, GoldenPromptBlocked) {
  std::vector<api::Event> evs;
  api::Error err;
  ASSERT_TRUE(decode_response(fixture("response_prompt_blocked.json"), evs, err));
  EXPECT_EQ(types(evs), (std::vector<Type>{Type::start, Type::finish, Type::usage}));
  EXPECT_EQ(evs[1].finish, api::FinishReason::content_filter);
  EXPECT_EQ(evs[2].usage.prompt_tokens, 9);
  EXPECT_EQ(evs[2].usage.completion_tokens, 0);
}

TEST(GeminiResponse, GoldenSafetyFinish) {
  std::vector<api::Event> evs;
  api::Error err;
  ASSERT_TRUE(decode_response(fixture("response_safety.json"), evs, err));
  EXPECT_EQ(types(evs), (std::vector<Type>{Type::start, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(evs[2].finish, api::FinishReason::content_filter);
}

TEST(GeminiResponse, FinishReasons) {
  EXPECT_EQ(finish_reason("STOP", false), api::FinishReason::stop);
  EXPECT_EQ(finish_reason("STOP", true), api::FinishReason::tool_calls);
  EXPECT_EQ(finish_reason("MAX_TOKENS", false), api::FinishReason::length);
  for (auto r : {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"})
    EXPECT_EQ(finish_reason(r, false), api::FinishReason::content_filter) << r;
  EXPECT_EQ(finish_reason("OTHER", false), api::FinishReason::stop);
  EXPECT_EQ(finish_reason("MALFORMED_FUNCTION_CALL", false), api::FinishReason::stop);
}

TEST(GeminiResponse, MalformedAndOutOfRange) {
  std::vector<api::Event> evs;
  api::Error err;
  EXPECT_FALSE(decode_response("{\"candidates\": oops", evs, err));
  EXPECT_EQ(err.status, 502);
  EXPECT_TRUE(err.retryable);
  EXPECT_FALSE(
      decode_response(R"({"candidates":[{"index":100000,"finishReason":"STOP"}]})", evs, err));
  EXPECT_FALSE(decode_response(R"({"candidates":{}})", evs, err));
}

TEST(GeminiResponse, TwoCandidates) {
  std::vector<api::Event> evs;
  api::Error err;
  ASSERT_TRUE(decode_response(
      R"({"candidates":[{"content":{"parts":[{"text":"a"}],"role":"model"},"finishReason":"STOP"},
                        {"content":{"parts":[{"text":"b"}],"role":"model"},"finishReason":"MAX_TOKENS","index":1}]})",
      evs, err));
  api::ResponseBuilder b;
  for (const auto& e : evs) b.add(e);
  ASSERT_EQ(b.response().choices.size(), 2u);
  EXPECT_EQ(b.response().choices[1].content, "b");
  EXPECT_EQ(b.response().choices[1].finish, api::FinishReason::length);
  EXPECT_FALSE(b.response().usage.reported);
}

// "models.streamGenerateContent" with alt=sse: CRLF-separated events, usage on the last chunk.
TEST(GeminiStream, GoldenTextInAnyPieces) {
  const std::string bytes = fixture("stream_text.sse");
  for (std::size_t step : {bytes.size(), std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
    bool complete = false;
    const auto evs = decode_stream(bytes, step, &complete);
    EXPECT_TRUE(complete);
    EXPECT_EQ(types(evs), (std::vector<Type>{Type::start, Type::text, Type::text, Type::text,
                                             Type::finish, Type::usage}))
        << step;
    std::string text;
    for (const auto& e : evs)
      if (e.type == Type::text) text += e.text;
    EXPECT_EQ(text, "The sky is blue because of Rayleigh scattering.");
    EXPECT_EQ(evs.back().usage.prompt_tokens, 9);
    EXPECT_EQ(evs.back().usage.completion_tokens, 23);
  }
}

// "Function calling": a streamed functionCall arrives whole, with its thoughtSignature.
TEST(GeminiStream, GoldenFunctionCall) {
  bool complete = false;
  const auto evs = decode_stream(fixture("stream_function_call.sse"), 5, &complete);
  EXPECT_TRUE(complete);
  ASSERT_EQ(types(evs),
            (std::vector<Type>{Type::start, Type::tool_call, Type::finish, Type::usage}));
  EXPECT_EQ(evs[1].tool_call.name, "get_weather");
  EXPECT_EQ(evs[1].tool_call.arguments, R"({"city":"Paris","unit":"celsius"})");
  EXPECT_EQ(evs[1].tool_call.id, "call_fc0001_0");
  EXPECT_EQ(evs[2].finish, api::FinishReason::tool_calls);
}

TEST(GeminiStream, GoldenErrorMidStream) {
  bool complete = true;
  const auto evs = decode_stream(fixture("stream_error.sse"), 11, &complete);
  EXPECT_FALSE(complete);
  ASSERT_EQ(types(evs), (std::vector<Type>{Type::start, Type::text, Type::error}));
  EXPECT_EQ(evs[2].error.status, 502);
  EXPECT_TRUE(evs[2].error.retryable);
}

TEST(GeminiStream, IncompleteWithoutFinishReason) {
  ResponseDecoder dec;
  std::vector<api::Event> evs;
  dec.decode(R"({"candidates":[{"content":{"parts":[{"text":"a"}]}}]})", evs);
  EXPECT_FALSE(dec.complete());
  dec.decode(R"({"candidates":[{"finishReason":"STOP"}]})", evs);
  EXPECT_TRUE(dec.complete());
}

// --- errors ----------------------------------------------------------------------------------

// "Troubleshooting": 429 RESOURCE_EXHAUSTED, retryable, delay from RetryInfo or Retry-After.
TEST(GeminiErrors, GoldenRateLimited) {
  auto e = map_http_error(429, fixture("error_429.json"), "", "k");
  EXPECT_EQ(e.kind, api::ErrorKind::rate_limited);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.retry_after_s, 37);
  e = map_http_error(429, fixture("error_429.json"), "5", "k");
  EXPECT_EQ(e.retry_after_s, 5);
}

// An invalid key comes as 400 INVALID_ARGUMENT: it is the gateway's problem, never echoed.
TEST(GeminiErrors, GoldenInvalidKeyIsUpstreamAuth) {
  const auto e = map_http_error(400, fixture("error_api_key_invalid.json"), "", "AIzaSyKEY123");
  EXPECT_EQ(e.status, 502);
  EXPECT_EQ(e.code, "upstream_auth_failed");
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.message.find("API key"), std::string::npos);
}

TEST(GeminiErrors, StatusMapping) {
  auto body = [](int code, const char* status, const std::string& msg) {
    return json{{"error", {{"code", code}, {"message", msg}, {"status", status}}}}.dump();
  };
  const std::string key = "AIzaSy-SECRET-42";
  auto e = map_http_error(400, body(400, "INVALID_ARGUMENT", "bad field; key " + key), "", key);
  EXPECT_EQ(e.status, 400);
  EXPECT_FALSE(e.retryable);
  EXPECT_NE(e.message.find("bad field"), std::string::npos);
  EXPECT_EQ(e.message.find(key), std::string::npos);
  e = map_http_error(400, body(400, "FAILED_PRECONDITION", "free tier not available"), "", key);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.status, 502);
  e = map_http_error(403, body(403, "PERMISSION_DENIED", "no"), "", key);
  EXPECT_EQ(e.code, "upstream_auth_failed");
  e = map_http_error(404, body(404, "NOT_FOUND", "models/x is not found"), "", key);
  EXPECT_EQ(e.status, 404);
  EXPECT_FALSE(e.retryable);
  for (int s : {500, 503, 504}) {
    e = map_http_error(s, body(s, "UNAVAILABLE", "overloaded"), "2", key);
    EXPECT_TRUE(e.retryable) << s;
    EXPECT_EQ(e.retry_after_s, 2);
  }
  e = map_http_error(502, "<html>bad gateway</html>", "", key);
  EXPECT_TRUE(e.retryable);
}

}  // namespace
}  // namespace infergate::adapters::gemini
