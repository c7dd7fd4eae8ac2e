// Golden tests of the OpenAI codec. Fixtures follow the shapes in OpenAI's API reference:
// "Chat > Create chat completion" (request body and its examples), "The chat completion object",
// "The chat completion chunk object" (including the final usage chunk with empty choices when
// stream_options.include_usage is set) and the function-calling guide's streaming section.
#include "infergate/adapters/openai_codec.hpp"
#include "infergate/api/openai.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace infergate::adapters::openai {
namespace {

using json = nlohmann::json;
using Type = api::Event::Type;

api::ChatRequest make_request(const char* body_text) {
  api::ChatRequest r;
  r.body = json::parse(body_text);
  r.model = r.body.value("model", "");
  r.stream = r.body.value("stream", false);
  if (auto it = r.body.find("stream_options"); it != r.body.end() && it->is_object())
    r.include_usage = it->value("include_usage", false);
  return r;
}

// "Create chat completion", with tools, response_format and logprobs (fields the gateway does not
// interpret and must pass through untouched).
constexpr const char* kRequest = R"({
  "model": "gpt-4o",
  "messages": [
    {"role": "developer", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What's the weather like in Boston today? \u00e9\u4e2d"}
  ],
  "tools": [{
    "type": "function",
    "function": {
      "name": "get_current_weather",
      "description": "Get the current weather in a given location",
      "parameters": {"type": "object",
                     "properties": {"location": {"type": "string"},
                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                     "required": ["location"]}
    }
  }],
  "tool_choice": "auto",
  "response_format": {"type": "json_object"},
  "logprobs": true,
  "top_logprobs": 2,
  "temperature": 0.7,
  "max_completion_tokens": 300
})";

TEST(OpenAiEncode, ReplacesModelKeepsEverythingElse) {
  auto req = make_request(kRequest);
  std::string out;
  encode_request_body(req, "gpt-4o-2024-08-06", out);
  const json got = json::parse(out);
  json want = req.body;
  want["model"] = "gpt-4o-2024-08-06";
  EXPECT_EQ(got, want);
  EXPECT_EQ(got.find("stream_options"), got.end());
}

TEST(OpenAiEncode, StreamingForcesIncludeUsage) {
  auto req = make_request(R"({"model":"m","messages":[{"role":"user","content":"hi"}],
                              "stream":true})");
  ASSERT_TRUE(req.stream);
  ASSERT_FALSE(req.include_usage);
  std::string out;
  encode_request_body(req, "up/model", out);
  const json got = json::parse(out);
  EXPECT_EQ(got["model"], "up/model");
  EXPECT_EQ(got["stream"], true);
  EXPECT_EQ(got["stream_options"], json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(got["messages"], req.body["messages"]);
}

TEST(OpenAiEncode, StreamOptionsOtherFieldsKept) {
  auto req = make_request(R"({"model":"m","messages":[{"role":"user","content":"q"}],"stream":true,
                              "stream_options":{"include_usage":false,"continuous_usage_stats":false}})");
  std::string out;
  encode_request_body(req, "x", out);
  const json got = json::parse(out);
  EXPECT_EQ(got["stream_options"],
            json::parse(R"({"include_usage":true,"continuous_usage_stats":false})"));
}

TEST(OpenAiEncode, NonStreamingKeepsExplicitFalse) {
  auto req =
      make_request(R"({"model":"m","messages":[{"role":"user","content":"q"}],"stream":false})");
  std::string out;
  encode_request_body(req, "x\"y", out);  // quotes in a model id are escaped
  const json got = json::parse(out);
  EXPECT_EQ(got["stream"], false);
  EXPECT_EQ(got["model"], "x\"y");
}

TEST(OpenAiEncode, AppendsToExistingBuffer) {
  auto req = make_request(R"({"model":"m","messages":[{"role":"user","content":"q"}]})");
  std::string out = "prefix";
  encode_request_body(req, "x", out);
  EXPECT_EQ(out.rfind("prefix{", 0), 0u);
}

std::vector<std::pair<std::string, std::string>> headers_of(const config::ProviderConfig& p,
                                                            bool stream, std::string_view id) {
  std::vector<std::pair<std::string, std::string>> h;
  request_headers(p, stream, id, [&](std::string_view k, std::string_view v) {
    h.emplace_back(std::string(k), std::string(v));
  });
  return h;
}

TEST(OpenAiHeaders, BearerExtraAcceptAndRequestId) {
  config::ProviderConfig p;
  p.api_key = "sk-test-123456";
  p.headers = {{"OpenAI-Organization", "org-1"}, {"Host", "evil"}, {"Content-Length", "1"}};
  using H = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(headers_of(p, true, "req-1"), (H{{"Authorization", "Bearer sk-test-123456"},
                                             {"OpenAI-Organization", "org-1"},
                                             {"Content-Type", "application/json"},
                                             {"Accept", "text/event-stream"},
                                             {"x-request-id", "req-1"}}));
  p.api_key.clear();
  EXPECT_EQ(headers_of(p, false, ""), (H{{"OpenAI-Organization", "org-1"},
                                         {"Content-Type", "application/json"},
                                         {"Accept", "application/json"}}));
}

TEST(OpenAiHeaders, ProviderHeadersOverrideDefaults) {
  config::ProviderConfig p;
  p.api_key = "azure-key-123456";
  p.headers = {{"api-key", "azure-key-123456"}, {"authorization", "Custom x"}};
  using H = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(headers_of(p, false, "r"), (H{{"api-key", "azure-key-123456"},
                                          {"authorization", "Custom x"},
                                          {"Content-Type", "application/json"},
                                          {"Accept", "application/json"},
                                          {"x-request-id", "r"}}));
}

// "The chat completion object".
constexpr const char* kCompletion = R"({
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-2024-08-06",
  "choices": [{
    "index": 0,
    "message": {"role": "assistant", "content": "The image shows a wooden boardwalk.",
                "refusal": null, "annotations": []},
    "logprobs": null,
    "finish_reason": "stop"
  }],
  "usage": {
    "prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_fc9f1d7035"
})";

TEST(OpenAiDecode, Completion) {
  std::vector<api::Event> ev;
  api::Error err;
  ASSERT_TRUE(decode_completion(kCompletion, ev, err));
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].type, Type::start);
  EXPECT_EQ(ev[0].text, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
  EXPECT_EQ(ev[0].model, "gpt-4o-2024-08-06");
  EXPECT_EQ(ev[0].created, 1741570283);
  EXPECT_EQ(ev[1].type, Type::text);
  EXPECT_EQ(ev[1].text, "The image shows a wooden boardwalk.");
  EXPECT_EQ(ev[2].type, Type::finish);
  EXPECT_EQ(ev[2].finish, api::FinishReason::stop);
  EXPECT_EQ(ev[3].type, Type::usage);
  EXPECT_TRUE(ev[3].usage.reported);
  EXPECT_EQ(ev[3].usage.prompt_tokens, 1117);
  EXPECT_EQ(ev[3].usage.completion_tokens, 46);
  EXPECT_EQ(ev[3].usage.cached_tokens, 1024);
}

// The function-calling example response ("Create chat completion", Functions example).
TEST(OpenAiDecode, CompletionWithToolCalls) {
  const char* body = R"({
    "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1699896916,
    "model": "gpt-4o-mini",
    "choices": [{
      "index": 0,
      "message": {"role": "assistant", "content": null,
                  "tool_calls": [{"id": "call_abc123", "type": "function",
                                  "function": {"name": "get_current_weather",
                                               "arguments": "{\n\"location\": \"Boston, MA\"\n}"}},
                                 {"id": "call_def456", "type": "function",
                                  "function": {"name": "get_time", "arguments": "{}"}}]},
      "logprobs": null, "finish_reason": "tool_calls"
    }],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}
  })";
  std::vector<api::Event> ev;
  api::Error err;
  ASSERT_TRUE(decode_completion(body, ev, err));
  api::ResponseBuilder b;
  for (const auto& e : ev) b.add(e);
  const auto& r = b.response();
  ASSERT_EQ(r.choices.size(), 1u);
  EXPECT_FALSE(r.choices[0].has_content);  // content null stays null
  ASSERT_EQ(r.choices[0].tool_calls.size(), 2u);
  EXPECT_EQ(r.choices[0].tool_calls[0].index, 0);
  EXPECT_EQ(r.choices[0].tool_calls[0].id, "call_abc123");
  EXPECT_EQ(r.choices[0].tool_calls[0].name, "get_current_weather");
  EXPECT_EQ(r.choices[0].tool_calls[0].arguments, "{\n\"location\": \"Boston, MA\"\n}");
  EXPECT_EQ(r.choices[0].tool_calls[1].index, 1);
  EXPECT_EQ(r.choices[0].tool_calls[1].name, "get_time");
  EXPECT_EQ(r.choices[0].finish, api::FinishReason::tool_calls);
  EXPECT_EQ(r.usage.prompt_tokens, 82);
  EXPECT_EQ(r.usage.cached_tokens, 0);
}

TEST(OpenAiDecode, ReasoningContentAndMultipleChoices) {
  const char* body =
      R"({"id":"x","object":"chat.completion","created":1,"model":"deepseek-reasoner",
    "choices":[{"index":0,"message":{"role":"assistant","content":"4","reasoning_content":"2+2"},
                "finish_reason":"stop"},
               {"index":1,"message":{"role":"assistant","content":"","reasoning":"r"},
                "finish_reason":"length"}]})";
  std::vector<api::Event> ev;
  api::Error err;
  ASSERT_TRUE(decode_completion(body, ev, err));
  api::ResponseBuilder b;
  for (const auto& e : ev) b.add(e);
  auto& r = b.response();
  ASSERT_EQ(r.choices.size(), 2u);
  EXPECT_EQ(r.choices[0].reasoning, "2+2");
  EXPECT_EQ(r.choices[0].content, "4");
  EXPECT_EQ(r.choices[1].reasoning, "r");
  EXPECT_TRUE(r.choices[1].has_content);  // "" is content, unlike null
  EXPECT_EQ(r.choices[1].finish, api::FinishReason::length);
  EXPECT_FALSE(r.usage.reported);
}

TEST(OpenAiDecode, MalformedAndErrorBodies) {
  std::vector<api::Event> ev;
  api::Error err;
  EXPECT_FALSE(decode_completion("{not json", ev, err));
  EXPECT_EQ(err.kind, api::ErrorKind::upstream);
  EXPECT_EQ(err.status, 502);
  EXPECT_FALSE(decode_completion("[1,2]", ev, err));
  EXPECT_FALSE(decode_completion(R"({"id":"x"})", ev, err));  // no choices
  EXPECT_EQ(err.status, 502);
  EXPECT_FALSE(decode_completion(R"({"choices":[{"index":100000,"message":{}}]})", ev, err));
  EXPECT_FALSE(decode_completion(R"({"choices":[{"index":-1}]})", ev, err));
  EXPECT_FALSE(decode_completion(R"({"choices":[5]})", ev, err));
  // An error object in a 200 body.
  EXPECT_FALSE(decode_completion(
      R"({"error":{"message":"The server had an error","type":"server_error","code":null}})", ev,
      err));
  EXPECT_EQ(err.status, 502);
  EXPECT_TRUE(err.retryable);
  EXPECT_NE(err.message.find("The server had an error"), std::string::npos);
}

// "The chat completion chunk object": a text stream with include_usage.
TEST(OpenAiChunks, TextStreamWithUsage) {
  const char* chunks[] = {
      R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null})",
      R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null})",
      R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null})",
      R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null})",
      R"({"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":4}}})",
  };
  ChunkDecoder d;
  std::vector<api::Event> ev;
  for (const char* c : chunks) ASSERT_EQ(d.decode(c, ev), ChunkDecoder::Status::ok);
  EXPECT_TRUE(d.saw_finish());
  EXPECT_FALSE(d.saw_done());
  // Usage is held back until the end of the stream.
  for (const auto& e : ev) EXPECT_NE(e.type, Type::usage);
  ASSERT_EQ(d.decode("[DONE]", ev), ChunkDecoder::Status::done);
  std::vector<Type> types;
  for (const auto& e : ev) types.push_back(e.type);
  EXPECT_EQ(types,
            (std::vector<Type>{Type::start, Type::text, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(ev[0].text, "chatcmpl-123");
  EXPECT_EQ(ev[0].model, "gpt-4o-mini");
  EXPECT_EQ(ev[0].created, 1694268190);
  EXPECT_EQ(ev[1].text, "Hello");
  EXPECT_EQ(ev[2].text, " world");
  EXPECT_EQ(ev[3].finish, api::FinishReason::stop);
  EXPECT_EQ(ev[4].usage.prompt_tokens, 9);
  EXPECT_EQ(ev[4].usage.completion_tokens, 12);
  EXPECT_EQ(ev[4].usage.cached_tokens, 4);
  EXPECT_EQ(d.usage().completion_tokens, 12);
}

// Function-calling guide, "Streaming": id and name only on the first fragment; later fragments
// carry null id/name and argument pieces.
TEST(OpenAiChunks, ToolCallFragments) {
  const char* chunks[] = {
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":null,"type":null,"function":{"name":null,"arguments":"{\""}}]},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"location\":\"Paris\"}"}}]},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
  };
  ChunkDecoder d;
  std::vector<api::Event> ev;
  for (const char* c : chunks) ASSERT_EQ(d.decode(c, ev), ChunkDecoder::Status::ok);
  ASSERT_EQ(ev[1].type, Type::tool_call);
  EXPECT_EQ(ev[1].tool_call.id, "call_DdmO9pD3xa9XTPNJ32zg2hcA");
  EXPECT_EQ(ev[1].tool_call.name, "get_weather");
  EXPECT_EQ(ev[2].tool_call.id, "");
  EXPECT_EQ(ev[2].tool_call.name, "");
  EXPECT_EQ(ev[2].tool_call.arguments, "{\"");
  api::ResponseBuilder b;
  for (const auto& e : ev) b.add(e);
  const auto& calls = b.response().choices.at(0).tool_calls;
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].arguments, "{\"location\":\"Paris\"}");
  EXPECT_EQ(calls[1].id, "call_2");
  EXPECT_EQ(b.response().choices[0].finish, api::FinishReason::tool_calls);
}

TEST(OpenAiChunks, ReasoningDelta) {
  ChunkDecoder d;
  std::vector<api::Event> ev;
  ASSERT_EQ(d.decode(R"({"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]})", ev),
            ChunkDecoder::Status::ok);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].type, Type::reasoning);
  EXPECT_EQ(ev[1].text, "hmm");
}

TEST(OpenAiChunks, ErrorObjectInStream) {
  ChunkDecoder d("sk-secret-abcdef");
  std::vector<api::Event> ev;
  EXPECT_EQ(
      d.decode(R"({"error":{"message":"overloaded sk-secret-abcdef","type":"server_error"}})", ev),
      ChunkDecoder::Status::error);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, Type::error);
  EXPECT_EQ(ev[0].error.status, 502);
  EXPECT_EQ(ev[0].error.message.find("sk-secret-abcdef"), std::string::npos);
  EXPECT_NE(ev[0].error.message.find("overloaded"), std::string::npos);

  ev.clear();
  ChunkDecoder d2;
  EXPECT_EQ(d2.decode(R"({"message":"bad"})", ev, "error"), ChunkDecoder::Status::error);
  ev.clear();
  EXPECT_EQ(
      d2.decode(
          R"({"error":{"message":"Incorrect API key provided: sk-abc","type":"invalid_request_error","code":"invalid_api_key"}})",
          ev),
      ChunkDecoder::Status::error);
  EXPECT_EQ(ev[0].error.message, "upstream authentication failed");
}

TEST(OpenAiChunks, MalformedChunk) {
  ChunkDecoder d;
  std::vector<api::Event> ev;
  EXPECT_EQ(d.decode("{\"choices\":[", ev), ChunkDecoder::Status::error);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, Type::error);
  EXPECT_EQ(ev[0].error.status, 502);
  ev.clear();
  EXPECT_EQ(d.decode(R"({"choices":{"index":0}})", ev), ChunkDecoder::Status::error);
  ev.clear();
  EXPECT_EQ(d.decode(R"({"choices":[{"index":999999,"delta":{"content":"x"}}]})", ev),
            ChunkDecoder::Status::error);
  ev.clear();
  EXPECT_EQ(d.decode(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":-3}]}}]})", ev),
            ChunkDecoder::Status::error);
}

TEST(OpenAiChunks, UsageOnlyOnceWhenRepeated) {
  ChunkDecoder d;
  std::vector<api::Event> ev;
  d.decode(
      R"({"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}})",
      ev);
  d.decode(
      R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2}})",
      ev);
  d.flush(ev);
  d.flush(ev);
  int usage_events = 0;
  for (const auto& e : ev)
    if (e.type == Type::usage) {
      ++usage_events;
      EXPECT_EQ(e.usage.completion_tokens, 2);
    }
  EXPECT_EQ(usage_events, 1);
}

// Error mapping (OpenAI API reference, "Error codes"), one row per upstream status.
TEST(OpenAiErrors, HttpStatusTable) {
  const std::string key = "sk-proj-SECRETSECRET";
  struct Row {
    int status;
    const char* body;
    const char* retry_after;
    api::ErrorKind kind;
    int want_status;
    bool retryable;
    int retry_after_s;
    const char* message_contains;  // "" = message must not contain the upstream's text
  };
  const Row rows[] = {
      {429,
       R"({"error":{"message":"Rate limit reached for gpt-4 in organization org-x","type":"requests","code":"rate_limit_exceeded"}})",
       "7", api::ErrorKind::rate_limited, 429, true, 7, ""},
      {500, R"({"error":{"message":"The server had an error","type":"server_error"}})", "",
       api::ErrorKind::upstream, 502, true, -1, ""},
      {503, "<html>Service Unavailable</html>", "30", api::ErrorKind::upstream, 502, true, 30, ""},
      {502, "", "", api::ErrorKind::upstream, 502, true, -1, ""},
      {408, "", "", api::ErrorKind::upstream, 502, true, -1, ""},
      {400,
       R"({"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","param":"temperature"}})",
       "", api::ErrorKind::invalid_request, 400, false, -1, "Invalid value for 'temperature'"},
      {422, R"({"detail":"unprocessable: messages"})", "", api::ErrorKind::invalid_request, 400,
       false, -1, "unprocessable: messages"},
      {404,
       R"({"error":{"message":"The model `gpt-5x` does not exist","type":"invalid_request_error","code":"model_not_found"}})",
       "", api::ErrorKind::not_found, 404, false, -1, "does not exist"},
      {401,
       R"({"error":{"message":"Incorrect API key provided: sk-proj-SECRETSECRET","type":"invalid_request_error","code":"invalid_api_key"}})",
       "", api::ErrorKind::upstream, 502, true, -1, ""},
      {403,
       R"({"error":{"message":"Project sk-proj-SECR does not have access","type":"permission_error"}})",
       "", api::ErrorKind::upstream, 502, true, -1, ""},
      {302, "", "", api::ErrorKind::upstream, 502, false, -1, ""},
      {409, "", "", api::ErrorKind::upstream, 502, false, -1, ""},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.status);
    const api::Error e = map_http_error(r.status, r.body, r.retry_after, key);
    EXPECT_EQ(e.kind, r.kind);
    EXPECT_EQ(e.status, r.want_status);
    EXPECT_EQ(e.retryable, r.retryable);
    EXPECT_EQ(e.retry_after_s, r.retry_after_s);
    EXPECT_EQ(e.message.find("SECR"), std::string::npos);
    if (*r.message_contains) {
      EXPECT_NE(e.message.find(r.message_contains), std::string::npos) << e.message;
    } else {
      EXPECT_EQ(e.message.find("org-x"), std::string::npos);
      EXPECT_EQ(e.message.find("html"), std::string::npos);
      EXPECT_EQ(e.message.find("server had"), std::string::npos);
    }
  }
  EXPECT_EQ(map_http_error(401, "", "", key).message, "upstream authentication failed");
}

TEST(OpenAiErrors, EchoedMessagesAreScrubbedAndBounded) {
  const std::string key = "sk-live-0123456789";
  auto e =
      map_http_error(400, R"({"error":{"message":"bad key sk-live-0123456789 in body"}})", "", key);
  EXPECT_EQ(e.message, "bad key [redacted] in body");
  std::string huge = R"({"error":{"message":")" + std::string(5000, 'a') + "\"}}";
  EXPECT_LE(map_http_error(400, huge, "", key).message.size(), 1024u);
}

// The raw path (client bytes forwarded member by member) and the DOM path must send the same
// request: parse the client's body as the gateway does, encode it both ways, compare as JSON.
TEST(EncodeRequest, RawPathMatchesDomPath) {
  for (
      const char* body : {
          R"({"model":"m","messages":[{"role":"user","content":"hi \"there\" \u00e9"}]})",
          R"({"messages":[{"role":"user","content":"q"}],"model":"m","stream":false,"temperature":0.5})",
          R"({"model":"m","messages":[{"role":"user","content":"q"}],"stream":true})",
          R"({"model":"m","messages":[{"role":"user","content":"q"}],"stream":true,"stream_options":{"include_usage":false}})",
          R"({"model":"m","messages":[{"role":"user","content":"q"}],"stream":true,"stream_options":{"x":[1,{"y":"}"}]}})",
          R"({"model":"m","messages":[{"role":"user","content":"q"}],"stream":true,"stream_options":null})",
          R"({"model":"m","messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f",
               "parameters":{"type":"object","properties":{}}}}],"response_format":{"type":"json_object"}})",
          R"( {  "model" : "m" , "messages" : [ {"role":"user","content":"q"} ] , "n" : 2 } )",
      }) {
    api::ChatRequest req;
    api::Error err;
    ASSERT_TRUE(api::openai::parse_chat_request(body, req, err)) << err.message;
    ASSERT_FALSE(req.raw_body.empty());
    std::string raw_out;
    encode_request_body(req, "up/model", raw_out);
    api::ChatRequest dom_req = req;
    dom_req.raw_body = {};
    std::string dom_out;
    encode_request_body(dom_req, "up/model", dom_out);
    EXPECT_EQ(json::parse(raw_out), json::parse(dom_out)) << body;
  }
}

TEST(EncodeRequest, RawPathKeepsClientBytesAndFallsBackOnEscapedKeys) {
  api::ChatRequest req;
  api::Error err;
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"q"}],"temperature":1.0,"z":1e2})";
  ASSERT_TRUE(api::openai::parse_chat_request(body, req, err));
  std::string out;
  encode_request_body(req, "up", out);
  // Numbers travel as the client wrote them (the DOM would print 100.0).
  EXPECT_EQ(
      out,
      R"({"messages":[{"role":"user","content":"q"}],"temperature":1.0,"z":1e2,"model":"up"})");

  const std::string escaped =
      R"({"mod\u0065l":"m","messages":[{"role":"user","content":"q"}],"stream":true})";
  ASSERT_TRUE(api::openai::parse_chat_request(escaped, req, err));
  out.clear();
  encode_request_body(req, "up", out);
  const json j = json::parse(out);
  EXPECT_EQ(j["model"], "up");
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
  EXPECT_FALSE(j.contains("mod\\u0065l"));
}

}  // namespace
}  // namespace infergate::adapters::openai
