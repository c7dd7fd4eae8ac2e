#include "bedrock_codec.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace infergate::adapters::bedrock {
namespace {

using json = nlohmann::json;
using Type = api::Event::Type;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(BEDROCK_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

api::ChatRequest request_of(json body) {
  api::ChatRequest r;
  r.stream = body.value("stream", false);
  r.body = std::move(body);
  return r;
}

json encode_ok(const json& body, std::vector<std::string>* dropped = nullptr) {
  std::string out;
  const auto r = encode_request(request_of(body), out);
  EXPECT_TRUE(r.ok) << r.error.message;
  if (dropped) *dropped = r.dropped;
  return json::parse(out);
}

// Runs a golden ConverseStream fixture through the framing and stream decoders.
struct StreamRun {
  std::vector<api::Event> events;
  StreamDecoder::Status last = StreamDecoder::Status::ok;
  api::ChatResponse response;
};

StreamRun run_stream(const std::string& name) {
  StreamRun run;
  eventstream::Decoder d;
  d.feed(fixture(name));
  StreamDecoder s("bedrock-req", "anthropic.claude-3-haiku-20240307-v1:0", 1700000000);
  eventstream::Message m;
  while (run.last == StreamDecoder::Status::ok && d.next(m))
    run.last = s.decode(m, run.events, "SECRETKEY-abcdef");
  EXPECT_FALSE(d.failed());
  api::ResponseBuilder b;
  for (const auto& e : run.events)
    if (e.type != Type::error) b.add(e);
  run.response = b.response();
  return run;
}

TEST(BedrockCodec, ConversePath) {
  EXPECT_EQ(converse_path("anthropic.claude-3-haiku-20240307-v1:0", false),
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
  EXPECT_EQ(converse_path("arn:aws:bedrock:us-east-1:123:inference-profile/us.x-v1:0", true),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x-v1%3A0/"
            "converse-stream");
}

// CountTokens (API Reference, Runtime): "Request Syntax" POST /model/modelId/count-tokens with
// {"input": CountTokensInput}; the converse member is a ConverseTokensRequest (messages, system,
// toolConfig); "Response Syntax" {"inputTokens": number}.
TEST(BedrockCodec, GoldenCountTokens) {
  EXPECT_EQ(count_tokens_path("anthropic.claude-3-5-haiku-20241022-v1:0"),
            "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/count-tokens");
  std::string out;
  const auto r = encode_count_tokens_request(
      request_of(json::parse(fixture("count_tokens_request.canonical.json"))), out);
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_TRUE(r.dropped.empty());
  EXPECT_EQ(json::parse(out), json::parse(fixture("count_tokens_request.bedrock.json"))) << out;
  out.clear();
  EXPECT_FALSE(encode_count_tokens_request(request_of(json::object()), out).ok);

  std::int64_t n = -1;
  api::Error err;
  ASSERT_TRUE(decode_count_tokens(fixture("count_tokens_response.json"), n, err)) << err.message;
  EXPECT_EQ(n, 37);
  for (const char* bad : {"{}", R"({"inputTokens":-1})", R"({"inputTokens":"5"})", "[]", "x",
                          R"({"inputTokens":1.5})"}) {
    EXPECT_FALSE(decode_count_tokens(bad, n, err)) << bad;
    EXPECT_EQ(err.kind, api::ErrorKind::upstream) << bad;
  }
}

// The Converse request body (API Reference, Converse, "Request Syntax"): system, messages with
// ContentBlock text / image / toolUse / toolResult, inferenceConfig, toolConfig.
TEST(BedrockCodec, EncodesAFullConversation) {
  const json body = json::parse(R"({
    "model": "public", "stream": true, "stream_options": {"include_usage": true},
    "max_tokens": 512, "temperature": 0.2, "top_p": 0.9, "stop": ["END"], "n": 1,
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": [
        {"type": "text", "text": "Weather in Paris and Rome? Also this:"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_2", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "18C sunny"},
      {"role": "tool", "tool_call_id": "call_2", "content": "22C"},
      {"role": "user", "content": "Thanks"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather",
      "description": "Current weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]}}}],
    "tool_choice": "required"
  })");
  std::vector<std::string> dropped;
  const json got = encode_ok(body, &dropped);
  const json want = json::parse(R"({
    "system": [{"text": "You are terse."}],
    "messages": [
      {"role": "user", "content": [
        {"text": "Weather in Paris and Rome? Also this:"},
        {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}]},
      {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Rome"}}}]},
      {"role": "user", "content": [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C sunny"}]}},
        {"toolResult": {"toolUseId": "call_2", "content": [{"text": "22C"}]}},
        {"text": "Thanks"}]}
    ],
    "inferenceConfig": {"maxTokens": 512, "temperature": 0.2, "topP": 0.9,
                        "stopSequences": ["END"]},
    "toolConfig": {
      "tools": [{"toolSpec": {"name": "get_weather", "description": "Current weather",
        "inputSchema": {"json": {"type": "object",
          "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}],
      "toolChoice": {"any": {}}}
  })");
  EXPECT_EQ(got, want) << got.dump(2);
  EXPECT_TRUE(dropped.empty());
}

TEST(BedrockCodec, ToolChoiceForms) {
  json body = {{"messages", json::array({{{"role", "user"}, {"content", "x"}}})},
               {"tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}})}};
  body["tool_choice"] = "auto";
  EXPECT_EQ(encode_ok(body)["toolConfig"]["toolChoice"], json({{"auto", json::object()}}));
  body["tool_choice"] = {{"type", "function"}, {"function", {{"name", "f"}}}};
  EXPECT_EQ(encode_ok(body)["toolConfig"]["toolChoice"], json({{"tool", {{"name", "f"}}}}));
  EXPECT_EQ(encode_ok(body)["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
            "object");
  body["tool_choice"] = "none";
  std::vector<std::string> dropped;
  encode_ok(body, &dropped);
  EXPECT_EQ(dropped, std::vector<std::string>{"tool_choice"});
}

TEST(BedrockCodec, UnsupportedFieldsAreReported) {
  const json body = json::parse(R"({
    "messages": [{"role": "user", "content": [
      {"type": "text", "text": "what is this"},
      {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}],
    "n": 2, "logprobs": true, "seed": 7, "presence_penalty": 0, "user": "u1",
    "response_format": {"type": "json_object"}
  })");
  std::vector<std::string> dropped;
  const json got = encode_ok(body, &dropped);
  EXPECT_EQ(got["messages"][0]["content"].size(), 1u);  // the http image is not sent
  std::sort(dropped.begin(), dropped.end());
  EXPECT_EQ(dropped, (std::vector<std::string>{"logprobs", "messages[0].content.image_url", "n",
                                               "response_format", "seed"}));
}

TEST(BedrockCodec, MalformedRequestsAre400) {
  auto error_for = [](const char* text) {
    std::string out;
    const auto r = encode_request(request_of(json::parse(text)), out);
    EXPECT_FALSE(r.ok) << text;
    EXPECT_EQ(r.error.status, 400);
    return r.error.param;
  };
  EXPECT_EQ(error_for(R"({"messages": []})"), "messages");
  EXPECT_EQ(error_for(R"({"messages": [{"role": "wizard", "content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(error_for(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "c",
    "function": {"name": "f", "arguments": "{not json"}}]}]})"),
            "messages[0].tool_calls[0].function.arguments");
  EXPECT_EQ(error_for(R"({"messages": [{"role": "tool", "content": "x"}]})"),
            "messages[0].tool_call_id");
  EXPECT_EQ(error_for(R"({"messages": [{"role": "user", "content": [{"type": "image_url",
    "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}]})"),
            "messages[0].content");
  EXPECT_EQ(error_for(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})"),
            "max_tokens");
}

TEST(BedrockCodec, DecodesConverseText) {
  std::vector<api::Event> events;
  api::Error err;
  ASSERT_TRUE(decode_converse(fixture("converse_response_text.json"), "bedrock-1", "model-x", 5,
                              events, err))
      << err.message;
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, Type::start);
  EXPECT_EQ(events[0].text, "bedrock-1");
  EXPECT_EQ(events[0].model, "model-x");
  EXPECT_EQ(events[1].text, "The capital of France is Paris.");
  EXPECT_EQ(events[2].finish, api::FinishReason::stop);
  ASSERT_EQ(events[3].type, Type::usage);
  EXPECT_EQ(events[3].usage.prompt_tokens, 31);  // 25 + 4 cache read + 2 cache write
  EXPECT_EQ(events[3].usage.cached_tokens, 4);
  EXPECT_EQ(events[3].usage.cache_write_tokens, 2);
  EXPECT_EQ(events[3].usage.completion_tokens, 9);
}

TEST(BedrockCodec, DecodesConverseToolUseAndReasoning) {
  std::vector<api::Event> events;
  api::Error err;
  ASSERT_TRUE(decode_converse(fixture("converse_response_tools.json"), "id", "m", 5, events, err));
  api::ResponseBuilder b;
  for (const auto& e : events) b.add(e);
  const auto& c = b.response().choices.at(0);
  EXPECT_EQ(c.reasoning, "Two cities, two calls.");
  EXPECT_EQ(c.content, "I'll check the weather in both cities.");
  ASSERT_EQ(c.tool_calls.size(), 2u);
  EXPECT_EQ(c.tool_calls[0].id, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
  EXPECT_EQ(c.tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(c.tool_calls[0].arguments), json({{"city", "Paris"}, {"unit", "celsius"}}));
  EXPECT_EQ(json::parse(c.tool_calls[1].arguments), json({{"city", "Rome"}}));
  EXPECT_EQ(c.finish, api::FinishReason::tool_calls);
  EXPECT_EQ(b.response().usage.prompt_tokens, 402);
}

TEST(BedrockCodec, MalformedConverseIs502) {
  std::vector<api::Event> events;
  api::Error err;
  EXPECT_FALSE(decode_converse("{\"output\": 1", "id", "m", 0, events, err));
  EXPECT_EQ(err.status, 502);
  EXPECT_TRUE(err.retryable);
  EXPECT_FALSE(decode_converse(R"({"output": {}})", "id", "m", 0, events, err));
  EXPECT_TRUE(events.empty());
}

TEST(BedrockCodec, StreamedText) {
  const auto run = run_stream("converse_stream_text.bin");
  EXPECT_EQ(run.last, StreamDecoder::Status::done);
  ASSERT_FALSE(run.events.empty());
  EXPECT_EQ(run.events.front().type, Type::start);
  EXPECT_EQ(run.events.front().model, "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(run.events.back().type, Type::usage);
  const auto& c = run.response.choices.at(0);
  EXPECT_EQ(c.content, "Hello, world");
  EXPECT_EQ(c.finish, api::FinishReason::stop);
  EXPECT_EQ(run.response.usage.prompt_tokens, 16);
  EXPECT_EQ(run.response.usage.cached_tokens, 3);
  EXPECT_EQ(run.response.usage.completion_tokens, 4);
}

TEST(BedrockCodec, StreamedParallelToolCallsJoinIntoValidJson) {
  const auto run = run_stream("converse_stream_tools.bin");
  EXPECT_EQ(run.last, StreamDecoder::Status::done);
  const auto& c = run.response.choices.at(0);
  EXPECT_EQ(c.content, "Checking both.");
  ASSERT_EQ(c.tool_calls.size(), 2u);
  EXPECT_EQ(c.tool_calls[0].index, 0);
  EXPECT_EQ(c.tool_calls[0].id, "tooluse_Paris01");
  EXPECT_EQ(c.tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(c.tool_calls[0].arguments), json({{"city", "Paris"}, {"unit", "celsius"}}));
  EXPECT_EQ(c.tool_calls[1].index, 1);
  EXPECT_EQ(c.tool_calls[1].id, "tooluse_Rome02");
  EXPECT_EQ(json::parse(c.tool_calls[1].arguments), json({{"city", "Rome"}}));
  EXPECT_EQ(c.finish, api::FinishReason::tool_calls);
  // The arguments arrived in pieces: more than one fragment event for the first call.
  int fragments = 0;
  for (const auto& e : run.events)
    if (e.type == Type::tool_call && e.tool_call.index == 0 && !e.tool_call.arguments.empty())
      ++fragments;
  EXPECT_EQ(fragments, 3);
}

TEST(BedrockCodec, StreamedReasoning) {
  const auto run = run_stream("converse_stream_reasoning.bin");
  const auto& c = run.response.choices.at(0);
  EXPECT_EQ(c.reasoning, "The user greets me.");
  EXPECT_EQ(c.content, "Hi!");
  EXPECT_EQ(c.finish, api::FinishReason::length);
}

TEST(BedrockCodec, ExceptionMidStream) {
  const auto run = run_stream("converse_stream_throttled.bin");
  EXPECT_EQ(run.last, StreamDecoder::Status::error);
  ASSERT_EQ(run.events.back().type, Type::error);
  const auto& e = run.events.back().error;
  EXPECT_EQ(e.kind, api::ErrorKind::rate_limited);
  EXPECT_EQ(e.status, 429);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(run.response.choices.at(0).content, "Par");
}

TEST(BedrockCodec, StreamExceptionsAndUnknownEvents) {
  StreamDecoder s("id", "m", 0);
  std::vector<api::Event> out;
  eventstream::Message m;
  m.headers = {eventstream::string_header(":message-type", "exception"),
               eventstream::string_header(":exception-type", "modelStreamErrorException")};
  m.payload = R"({"message":"boom","originalStatusCode":500})";
  EXPECT_EQ(s.decode(m, out), StreamDecoder::Status::error);
  EXPECT_EQ(out.back().error.status, 502);
  EXPECT_TRUE(out.back().error.retryable);

  m.headers = {eventstream::string_header(":message-type", "exception"),
               eventstream::string_header(":exception-type", "validationException")};
  m.payload = R"({"message":"bad input SECRETKEY-xyz123"})";
  out.clear();
  EXPECT_EQ(s.decode(m, out, "SECRETKEY-xyz123"), StreamDecoder::Status::error);
  EXPECT_EQ(out.back().error.status, 400);
  EXPECT_FALSE(out.back().error.retryable);
  EXPECT_EQ(out.back().error.message.find("SECRETKEY"), std::string::npos);

  m.headers = {eventstream::string_header(":message-type", "event"),
               eventstream::string_header(":event-type", "someFutureEvent")};
  m.payload = "{}";
  out.clear();
  EXPECT_EQ(s.decode(m, out), StreamDecoder::Status::ok);
  EXPECT_TRUE(out.empty());

  // Tool input for a block that never started as a tool call.
  m.headers = {eventstream::string_header(":message-type", "event"),
               eventstream::string_header(":event-type", "contentBlockDelta")};
  m.payload = R"({"contentBlockIndex":7,"delta":{"toolUse":{"input":"{}"}}})";
  out.clear();
  EXPECT_EQ(s.decode(m, out), StreamDecoder::Status::error);
}

TEST(BedrockCodec, HttpErrors) {
  struct Case {
    int status;
    const char* type;
    api::ErrorKind kind;
    int want_status;
    bool retryable;
  };
  const Case cases[] = {
      {429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
       api::ErrorKind::rate_limited, 429, true},
      {400, "ValidationException", api::ErrorKind::invalid_request, 400, false},
      {403, "AccessDeniedException", api::ErrorKind::upstream, 502, true},
      {404, "ResourceNotFoundException", api::ErrorKind::not_found, 404, false},
      {408, "ModelTimeoutException", api::ErrorKind::upstream, 502, true},
      {503, "ServiceUnavailableException", api::ErrorKind::upstream, 502, true},
      {500, "InternalServerException", api::ErrorKind::upstream, 502, true},
      {424, "ModelErrorException", api::ErrorKind::upstream, 502, true},
      {429, "ModelNotReadyException", api::ErrorKind::rate_limited, 429, true},
  };
  for (const auto& c : cases) {
    const auto e = map_http_error(c.status, c.type, R"({"message":"went wrong"})", "", "");
    EXPECT_EQ(e.kind, c.kind) << c.type;
    EXPECT_EQ(e.status, c.want_status) << c.type;
    EXPECT_EQ(e.retryable, c.retryable) << c.type;
  }
  const auto v =
      map_http_error(400, "ValidationException", R"({"message":"maxTokens too big"})", "", "");
  EXPECT_EQ(v.message, "maxTokens too big");
  const auto t = map_http_error(429, "ThrottlingException", "{}", "7", "");
  EXPECT_EQ(t.retry_after_s, 7);
  // 403 messages may quote credentials: never echoed.
  const auto a = map_http_error(403, "UnrecognizedClientException",
                                R"({"message":"The security token AKID123 is invalid"})", "", "");
  EXPECT_EQ(a.message.find("AKID"), std::string::npos);
}

}  // namespace
}  // namespace infergate::adapters::bedrock
