#include "anthropic_codec.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "infergate/adapters/sse.hpp"

namespace infergate::adapters::anthropic {
namespace {

using json = nlohmann::json;
using Type = api::Event::Type;

constexpr const char* kKey = "sk-ant-api03-SECRET-0123456789";

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(INFERGATE_SOURCE_DIR) + "/adapters/anthropic/testdata/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

api::ChatRequest request_of(const json& body) {
  api::ChatRequest r;
  r.model = body.value("model", "");
  r.stream = body.value("stream", false);
  r.body = body;
  return r;
}

struct Encoded {
  bool ok = false;
  json body;
  std::vector<std::string> dropped;
  api::Error err;
};

Encoded encode(const json& body, bool drop = true,
               std::string_view model = "claude-sonnet-4-20250514") {
  Encoded e;
  std::string out;
  e.ok = encode_request(request_of(body), model, drop, out, e.dropped, e.err);
  if (e.ok) e.body = json::parse(out);
  return e;
}

json user_hi() { return json::array({{{"role", "user"}, {"content", "hi"}}}); }

// Runs `sse` through the SSE parser in pieces of `step` bytes and decodes every event.
struct StreamRun {
  std::vector<api::Event> events;
  StreamDecoder::Status last = StreamDecoder::Status::ok;
  std::string text, reasoning;
};
StreamRun run_stream(const std::string& sse, std::size_t step = 1 << 20) {
  StreamRun r;
  SseParser parser;
  StreamDecoder dec(kKey);
  SseEvent ev;
  for (std::size_t pos = 0; pos < sse.size() && r.last == StreamDecoder::Status::ok; pos += step) {
    parser.feed(std::string_view(sse).substr(pos, step));
    while (parser.next(ev)) {
      r.last = dec.decode(ev.type, ev.data, r.events);
      if (r.last != StreamDecoder::Status::ok) break;
    }
  }
  if (r.last == StreamDecoder::Status::ok) dec.flush(r.events);
  for (const auto& e : r.events) {
    if (e.type == Type::text) r.text += e.text;
    if (e.type == Type::reasoning) r.reasoning += e.text;
  }
  return r;
}

std::vector<Type> types_of(const std::vector<api::Event>& events) {
  std::vector<Type> t;
  for (const auto& e : events) t.push_back(e.type);
  return t;
}

// ---------------------------------------------------------------------------------------------
// (a) request: golden fixtures

// Anthropic API reference, "Messages > Create a Message": body parameters model, max_tokens,
// system, messages, temperature, top_p, stop_sequences, metadata.user_id, stream.
TEST(AnthropicCodec, GoldenBasicRequest) {
  const auto e = encode(json::parse(fixture("request_basic.canonical.json")));
  ASSERT_TRUE(e.ok) << e.err.message;
  EXPECT_EQ(e.body, json::parse(fixture("request_basic.anthropic.json"))) << e.body.dump(2);
  EXPECT_TRUE(e.dropped.empty());  // stream_options needs no counterpart: usage always comes
}

// "Tool use > How to implement tool use" (tools/input_schema, tool_choice, tool_use and
// tool_result blocks, parallel tool results in one user turn) and "Vision" (image sources).
TEST(AnthropicCodec, GoldenToolsImagesAndToolResults) {
  const auto e = encode(json::parse(fixture("request_tools.canonical.json")));
  ASSERT_TRUE(e.ok) << e.err.message;
  EXPECT_EQ(e.body, json::parse(fixture("request_tools.anthropic.json"))) << e.body.dump(2);
  EXPECT_TRUE(e.dropped.empty());
}

TEST(AnthropicCodec, MaxTokensDefaultsAndNonStreamingHasNoStreamField) {
  auto e = encode({{"model", "m"}, {"messages", user_hi()}});
  ASSERT_TRUE(e.ok);
  EXPECT_EQ(e.body["max_tokens"], kDefaultMaxTokens);
  EXPECT_FALSE(e.body.contains("stream"));
  EXPECT_FALSE(e.body.contains("system"));
  e = encode({{"model", "m"}, {"messages", user_hi()}, {"max_tokens", 77}, {"temperature", 1.6}});
  EXPECT_EQ(e.body["max_tokens"], 77);
  EXPECT_EQ(e.body["temperature"], 1.0);  // OpenAI's 0..2 range clamped to Anthropic's 0..1
}

TEST(AnthropicCodec, UnsupportedFieldsAreDroppedAndNamed) {
  json body = {{"model", "m"},
               {"messages", user_hi()},
               {"n", 2},
               {"logprobs", true},
               {"presence_penalty", 0.5},
               {"seed", 42},
               {"logit_bias", {{"42", 1}}},
               {"response_format", {{"type", "json_object"}}}};
  auto e = encode(body, /*drop=*/true);
  ASSERT_TRUE(e.ok) << e.err.message;
  std::vector<std::string> dropped = e.dropped;
  std::sort(dropped.begin(), dropped.end());
  EXPECT_EQ(dropped, (std::vector<std::string>{"logit_bias", "logprobs", "n", "presence_penalty",
                                               "response_format", "seed"}));
  for (const auto& k : dropped) EXPECT_FALSE(e.body.contains(k)) << k;

  e = encode(body, /*drop=*/false);
  ASSERT_FALSE(e.ok);
  EXPECT_EQ(e.err.kind, api::ErrorKind::invalid_request);
  EXPECT_EQ(e.err.status, 400);
  EXPECT_FALSE(e.err.retryable);
  EXPECT_FALSE(e.err.param.empty());
  for (const char* k : {"n", "logprobs", "presence_penalty", "seed", "logit_bias"})
    EXPECT_NE(e.err.message.find(k), std::string::npos) << e.err.message;
}

TEST(AnthropicCodec, DefaultValuedFieldsAreNotUnsupported) {
  const auto e = encode({{"model", "m"},
                         {"messages", user_hi()},
                         {"n", 1},
                         {"logprobs", false},
                         {"frequency_penalty", 0},
                         {"response_format", {{"type", "text"}}},
                         {"logit_bias", json::object()},
                         {"tool_choice", "auto"}},
                        /*drop=*/false);
  ASSERT_TRUE(e.ok) << e.err.message;
  EXPECT_TRUE(e.dropped.empty());
  EXPECT_FALSE(e.body.contains("tool_choice"));  // no tools: Anthropic would reject it
}

TEST(AnthropicCodec, AnthropicFieldsPassThrough) {
  const json thinking = {{"type", "enabled"}, {"budget_tokens", 2048}};
  const auto e =
      encode({{"model", "m"}, {"messages", user_hi()}, {"thinking", thinking}, {"top_k", 5}});
  ASSERT_TRUE(e.ok);
  EXPECT_EQ(e.body["thinking"], thinking);
  EXPECT_EQ(e.body["top_k"], 5);
}

TEST(AnthropicCodec, ToolChoiceVariants) {
  const json tools = json::parse(
      R"([{"type":"function","function":{"name":"f"}}])");  // no parameters: an empty schema
  auto with = [&](json choice, bool parallel = true) {
    json b = {{"model", "m"}, {"messages", user_hi()}, {"tools", tools}};
    if (!choice.is_null()) b["tool_choice"] = std::move(choice);
    if (!parallel) b["parallel_tool_calls"] = false;
    return encode(b);
  };
  auto e = with("auto");
  EXPECT_EQ(e.body["tool_choice"], json({{"type", "auto"}}));
  EXPECT_EQ(e.body["tools"][0]["input_schema"],
            json({{"type", "object"}, {"properties", json::object()}}));
  e = with("none");
  EXPECT_EQ(e.body["tool_choice"], json({{"type", "none"}}));
  e = with(json::parse(R"({"type":"function","function":{"name":"f"}})"));
  EXPECT_EQ(e.body["tool_choice"], json({{"type", "tool"}, {"name", "f"}}));
  e = with(nullptr, /*parallel=*/false);
  EXPECT_EQ(e.body["tool_choice"], json({{"type", "auto"}, {"disable_parallel_tool_use", true}}));
  e = with("none", /*parallel=*/false);
  EXPECT_EQ(e.body["tool_choice"], json({{"type", "none"}}));
  e = with(json::parse(R"({"type":"function"})"));
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.err.param, "tool_choice");
}

TEST(AnthropicCodec, ConsecutiveSameRoleTurnsMerge) {
  const auto e = encode({{"model", "m"}, {"messages", json::parse(R"([
    {"role":"system","content":"A"},
    {"role":"user","content":"one"},
    {"role":"user","content":[{"type":"text","text":"two"}]},
    {"role":"system","content":"B"},
    {"role":"assistant","content":"three"},
    {"role":"assistant","content":""}])")}});
  ASSERT_TRUE(e.ok) << e.err.message;
  EXPECT_EQ(e.body["system"], "A\n\nB");
  ASSERT_EQ(e.body["messages"].size(), 2u);
  EXPECT_EQ(e.body["messages"][0]["content"],
            json::parse(R"([{"type":"text","text":"one"},{"type":"text","text":"two"}])"));
  EXPECT_EQ(e.body["messages"][1]["content"], "three");
}

TEST(AnthropicCodec, SystemCacheControlKeepsBlocks) {
  const auto e = encode({{"model", "m"}, {"messages", json::parse(R"([
    {"role":"system","content":[{"type":"text","text":"long context","cache_control":{"type":"ephemeral"}}]},
    {"role":"user","content":"q"}])")}});
  ASSERT_TRUE(e.ok);
  EXPECT_EQ(e.body["system"],
            json::parse(
                R"([{"type":"text","text":"long context","cache_control":{"type":"ephemeral"}}])"));
}

TEST(AnthropicCodec, UntranslatableMessagesFailWithTheirPath) {
  auto e = encode({{"model", "m"}, {"messages", json::parse(R"([{"role":"user","content":"q"},
    {"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"[1,2]"}}]}])")}});
  ASSERT_FALSE(e.ok);
  EXPECT_EQ(e.err.status, 400);
  EXPECT_EQ(e.err.param, "messages[1].tool_calls[0].function.arguments");

  e = encode(
      {{"model", "m"},
       {"messages",
        json::parse(
            R"([{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:text/plain;base64,aGk="}}]}])")}});
  ASSERT_FALSE(e.ok);
  EXPECT_EQ(e.err.param, "messages[0].content[0].image_url");

  e = encode(
      {{"model", "m"},
       {"messages",
        json::parse(R"([{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}])")}});
  ASSERT_FALSE(e.ok);
  EXPECT_EQ(e.err.param, "messages[0].content[0].type");

  e = encode({{"model", "m"}, {"messages", json::parse(R"([{"role":"system","content":"x"}])")}});
  ASSERT_FALSE(e.ok);
  EXPECT_EQ(e.err.param, "messages");
}

TEST(AnthropicCodec, PdfFileBecomesDocument) {
  const auto e = encode({{"model", "m"}, {"messages", json::parse(R"([{"role":"user","content":[
    {"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}}]}])")}});
  ASSERT_TRUE(e.ok) << e.err.message;
  EXPECT_EQ(
      e.body["messages"][0]["content"][0],
      json::parse(
          R"({"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}})"));
}

TEST(AnthropicCodec, RequestHeaders) {
  config::ProviderConfig p;
  p.api_key = kKey;
  std::vector<std::pair<std::string, std::string>> h;
  auto add = [&h](std::string_view k, std::string_view v) { h.emplace_back(k, v); };
  request_headers(p, true, "req-1", add);
  auto get = [&h](std::string_view k) {
    for (const auto& [n, v] : h)
      if (n == k) return v;
    return std::string();
  };
  EXPECT_EQ(get("x-api-key"), kKey);
  EXPECT_EQ(get("anthropic-version"), "2023-06-01");
  EXPECT_EQ(get("content-type"), "application/json");
  EXPECT_EQ(get("accept"), "text/event-stream");
  EXPECT_EQ(get("x-request-id"), "req-1");
  EXPECT_EQ(get("authorization"), "");

  h.clear();
  p.headers = {{"Anthropic-Version", "2024-01-01"},
               {"anthropic-beta", "prompt-caching"},
               {"Connection", "close"}};
  request_headers(p, false, "", add);
  EXPECT_EQ(get("anthropic-version"), "");  // the provider's own spelling is used instead
  EXPECT_EQ(get("Anthropic-Version"), "2024-01-01");
  EXPECT_EQ(get("anthropic-beta"), "prompt-caching");
  EXPECT_EQ(get("Connection"), "");
  EXPECT_EQ(get("accept"), "application/json");
}

// ---------------------------------------------------------------------------------------------
// (b) whole Message

// "Messages > Create a Message" response example, with prompt-cache usage fields.
TEST(AnthropicCodec, GoldenTextMessage) {
  std::vector<api::Event> ev;
  api::Error err;
  ASSERT_TRUE(decode_message(fixture("message_text.json"), ev, err)) << err.message;
  EXPECT_EQ(types_of(ev), (std::vector<Type>{Type::start, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(ev[0].text, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
  EXPECT_EQ(ev[0].model, "claude-sonnet-4-20250514");
  EXPECT_EQ(ev[1].text, "Hi! My name is Claude.");
  EXPECT_EQ(ev[2].finish, api::FinishReason::stop);
  // prompt = input (uncached) + cache read + cache creation, as OpenAI counts it.
  EXPECT_EQ(ev[3].usage.prompt_tokens, 2095 + 1800 + 100);
  EXPECT_EQ(ev[3].usage.completion_tokens, 503);
  EXPECT_EQ(ev[3].usage.cached_tokens, 1800);
  EXPECT_EQ(ev[3].usage.cache_write_tokens, 100);
  EXPECT_TRUE(ev[3].usage.reported);
}

// "Tool use > How to implement tool use" example response (stop_reason tool_use), two calls.
TEST(AnthropicCodec, GoldenToolUseMessage) {
  std::vector<api::Event> ev;
  api::Error err;
  ASSERT_TRUE(decode_message(fixture("message_tool_use.json"), ev, err)) << err.message;
  api::ResponseBuilder b;
  for (const auto& e : ev) b.add(e);
  const auto& c = b.response().choices.at(0);
  EXPECT_EQ(c.content, "I'll check the current weather in San Francisco for you.");
  ASSERT_EQ(c.tool_calls.size(), 2u);
  EXPECT_EQ(c.tool_calls[0].index, 0);
  EXPECT_EQ(c.tool_calls[0].id, "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(c.tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(c.tool_calls[0].arguments),
            json::parse(R"({"location": "San Francisco, CA", "unit": "celsius"})"));
  EXPECT_EQ(c.tool_calls[1].index, 1);
  EXPECT_EQ(c.tool_calls[1].name, "get_time");
  EXPECT_EQ(c.finish, api::FinishReason::tool_calls);
  EXPECT_EQ(b.response().usage.prompt_tokens, 400);
}

TEST(AnthropicCodec, StopReasons) {
  EXPECT_EQ(finish_reason_from_stop("end_turn"), api::FinishReason::stop);
  EXPECT_EQ(finish_reason_from_stop("stop_sequence"), api::FinishReason::stop);
  EXPECT_EQ(finish_reason_from_stop("max_tokens"), api::FinishReason::length);
  EXPECT_EQ(finish_reason_from_stop("tool_use"), api::FinishReason::tool_calls);
  EXPECT_EQ(finish_reason_from_stop("refusal"), api::FinishReason::content_filter);
}

// "API > Errors", error shapes.
TEST(AnthropicCodec, ErrorBodyAndMalformedMessage) {
  std::vector<api::Event> ev;
  api::Error err;
  EXPECT_FALSE(decode_message(fixture("error_overloaded.json"), ev, err));
  EXPECT_TRUE(err.retryable);
  EXPECT_EQ(err.status, 502);
  EXPECT_EQ(err.code, "upstream_overloaded");
  EXPECT_FALSE(decode_message(R"({"id":"msg_1","type":"message","content":"x"})", ev, err));
  EXPECT_EQ(err.code, "upstream_malformed");
  EXPECT_FALSE(decode_message("{\"type\": oops", ev, err));
  EXPECT_TRUE(ev.empty());
}

// ---------------------------------------------------------------------------------------------
// (c) stream

// "Streaming Messages > Basic streaming request" response (with its ping).
TEST(AnthropicCodec, GoldenBasicStream) {
  const auto r = run_stream(fixture("stream_basic.sse"));
  EXPECT_EQ(r.last, StreamDecoder::Status::done);
  EXPECT_EQ(types_of(r.events),
            (std::vector<Type>{Type::start, Type::text, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(r.events[0].text, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
  EXPECT_EQ(r.text, "Hello!");
  EXPECT_EQ(r.events[3].finish, api::FinishReason::stop);
  EXPECT_EQ(r.events[4].usage.prompt_tokens, 25);
  EXPECT_EQ(r.events[4].usage.completion_tokens, 15);  // message_delta's count is cumulative
}

// "Streaming Messages > Streaming request with tool use" response, fed one byte at a time.
TEST(AnthropicCodec, GoldenToolUseStreamInPiecesJoinsToJson) {
  for (std::size_t step : {std::size_t{1}, std::size_t{7}, std::size_t{1} << 20}) {
    const auto r = run_stream(fixture("stream_tool_use.sse"), step);
    EXPECT_EQ(r.last, StreamDecoder::Status::done);
    EXPECT_EQ(r.text, "Okay, let's check the weather for San Francisco, CA:");
    std::string args;
    int fragments = 0;
    for (const auto& e : r.events) {
      if (e.type != Type::tool_call) continue;
      EXPECT_EQ(e.tool_call.index, 0);  // tool calls count from 0, not from the block index 1
      if (fragments++ == 0) {
        EXPECT_EQ(e.tool_call.id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
        EXPECT_EQ(e.tool_call.name, "get_weather");
      } else {
        EXPECT_TRUE(e.tool_call.id.empty());
        EXPECT_TRUE(e.tool_call.name.empty());
      }
      args += e.tool_call.arguments;
    }
    EXPECT_GT(fragments, 2);
    const json parsed = json::parse(args, nullptr, false);
    EXPECT_EQ(parsed, json::parse(R"({"location": "San Francisco, CA", "unit": "fahrenheit"})"))
        << args;
    api::ResponseBuilder b;
    for (const auto& e : r.events) b.add(e);
    EXPECT_EQ(b.response().choices.at(0).finish, api::FinishReason::tool_calls);
    EXPECT_EQ(b.response().usage.completion_tokens, 89);
  }
}

std::string event(std::string_view type, std::string_view data) {
  return "event: " + std::string(type) + "\ndata: " + std::string(data) + "\n\n";
}

TEST(AnthropicCodec, MessageStartCarriesThePromptUsage) {
  const auto r = run_stream(event(
      "message_start",
      R"({"type":"message_start","message":{"id":"msg_u","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":4,"output_tokens":1}}})"));
  ASSERT_FALSE(r.events.empty());
  const auto& start = r.events.front();
  ASSERT_EQ(start.type, api::Event::Type::start);
  EXPECT_TRUE(start.usage.reported);
  EXPECT_EQ(start.usage.prompt_tokens, 14);
  EXPECT_EQ(start.usage.cached_tokens, 4);
  EXPECT_EQ(start.usage.completion_tokens, 0);
}

TEST(AnthropicCodec, ParallelToolCallsGetTheirOwnIndices) {
  std::string s = event(
      "message_start",
      R"({"type":"message_start","message":{"id":"msg_p","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":4,"output_tokens":1}}})");
  s += event(
      "content_block_start",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  s += event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Both."}})");
  s += event("content_block_stop", R"({"type":"content_block_stop","index":0})");
  for (int i = 1; i <= 2; ++i) {
    const std::string idx = std::to_string(i);
    s += event("content_block_start", R"({"type":"content_block_start","index":)" + idx +
                                          R"(,"content_block":{"type":"tool_use","id":"toolu_)" +
                                          idx + R"(","name":"f)" + idx + R"(","input":{}}})");
    s += event("content_block_delta",
               R"({"type":"content_block_delta","index":)" + idx +
                   R"(,"delta":{"type":"input_json_delta","partial_json":"{\"n\":"}})");
    s += event("content_block_delta",
               R"({"type":"content_block_delta","index":)" + idx +
                   R"(,"delta":{"type":"input_json_delta","partial_json":")" + idx + R"(}"}})");
    s += event("content_block_stop", R"({"type":"content_block_stop","index":)" + idx + "}");
  }
  // A parameterless call streams no input at all.
  s += event(
      "content_block_start",
      R"({"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_3","name":"now","input":{}}})");
  s += event("content_block_stop", R"({"type":"content_block_stop","index":3})");
  s += event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}})");
  s += event("message_stop", R"({"type":"message_stop"})");

  const auto r = run_stream(s, 5);
  ASSERT_EQ(r.last, StreamDecoder::Status::done);
  api::ResponseBuilder b;
  for (const auto& e : r.events) b.add(e);
  const auto& calls = b.response().choices.at(0).tool_calls;
  ASSERT_EQ(calls.size(), 3u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(calls[static_cast<std::size_t>(i)].index, i);
    EXPECT_EQ(calls[static_cast<std::size_t>(i)].id, "toolu_" + std::to_string(i + 1));
    EXPECT_EQ(json::parse(calls[static_cast<std::size_t>(i)].arguments), json({{"n", i + 1}}));
  }
  EXPECT_EQ(calls[2].name, "now");
  EXPECT_EQ(calls[2].arguments, "{}");
  EXPECT_EQ(b.response().usage.prompt_tokens, 14);
  EXPECT_EQ(b.response().usage.cached_tokens, 4);
}

// "Streaming Messages > Streaming request with extended thinking" response.
TEST(AnthropicCodec, GoldenThinkingStream) {
  const auto r = run_stream(fixture("stream_thinking.sse"), 3);
  EXPECT_EQ(r.last, StreamDecoder::Status::done);
  EXPECT_EQ(r.reasoning,
            "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 "
            "= 400 + 50 + 3");
  EXPECT_EQ(r.text, "27 * 453 = 12,231");
  EXPECT_EQ(r.events.back().type, Type::finish);  // no usage reported in this example
}

// "Streaming Messages > Error events": an overloaded_error after content was streamed.
TEST(AnthropicCodec, GoldenErrorMidStream) {
  const auto r = run_stream(fixture("stream_error.sse"));
  EXPECT_EQ(r.last, StreamDecoder::Status::error);
  EXPECT_EQ(types_of(r.events), (std::vector<Type>{Type::start, Type::text, Type::error}));
  const auto& err = r.events.back().error;
  EXPECT_TRUE(err.retryable);
  EXPECT_EQ(err.status, 502);
  EXPECT_EQ(err.code, "upstream_overloaded");
}

TEST(AnthropicCodec, StreamRejectsMalformedEvents) {
  StreamDecoder dec;
  std::vector<api::Event> out;
  EXPECT_EQ(dec.decode("message_start", "{not json", out), StreamDecoder::Status::error);
  out.clear();
  StreamDecoder dec2;
  EXPECT_EQ(
      dec2.decode(
          "content_block_delta",
          R"({"type":"content_block_delta","index":99999999,"delta":{"type":"text_delta","text":"x"}})",
          out),
      StreamDecoder::Status::error);
  out.clear();
  StreamDecoder dec3;
  // Unknown event types are ignored (versioning policy); the error event's message is scrubbed.
  EXPECT_EQ(dec3.decode("future_event", R"({"type":"future_event"})", out),
            StreamDecoder::Status::ok);
  EXPECT_TRUE(out.empty());
  StreamDecoder dec4(kKey);
  EXPECT_EQ(
      dec4.decode(
          "error",
          std::string(
              R"({"type":"error","error":{"type":"invalid_request_error","message":"bad key )") +
              kKey + "\"}}",
          out),
      StreamDecoder::Status::error);
  EXPECT_EQ(out.back().error.message.find("SECRET"), std::string::npos);
  EXPECT_FALSE(out.back().error.retryable);
}

// ---------------------------------------------------------------------------------------------
// (d) HTTP errors ("API > Errors")

// ---------------------------------------------------------------------------------------------
// token counting

// API reference, "Messages > Count tokens in a Message": the Messages body without max_tokens
// (model, system, messages, tools, tool_choice, thinking); the tool is "Token counting > Count
// tokens in messages with tools"'s get_weather.
TEST(AnthropicCodec, GoldenCountTokensRequest) {
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(encode_count_tokens_request(
      request_of(json::parse(fixture("count_tokens_request.canonical.json"))),
      "claude-sonnet-4-20250514", /*drop_unsupported=*/false, out, dropped, err))
      << err.message;
  EXPECT_EQ(json::parse(out), json::parse(fixture("count_tokens_request.anthropic.json"))) << out;
  EXPECT_TRUE(dropped.empty());

  // Whatever else the canonical body carries, no max_tokens, stream or sampling field goes out.
  out.clear();
  auto streamed = request_of({{"model", "m"},
                              {"messages", user_hi()},
                              {"max_tokens", 10},
                              {"temperature", 0.3},
                              {"stream", true}});
  ASSERT_TRUE(encode_count_tokens_request(streamed, "claude-x", false, out, dropped, err));
  EXPECT_EQ(json::parse(out),
            json::parse(R"({"model":"claude-x","messages":[{"role":"user","content":"hi"}]})"));
  // What encode_request refuses, the count refuses too.
  out.clear();
  EXPECT_FALSE(
      encode_count_tokens_request(request_of({{"model", "m"}, {"messages", json::array()}}),
                                  "claude-x", false, out, dropped, err));
}

// API reference, "Messages > Count tokens in a Message", response (MessageTokensCount).
TEST(AnthropicCodec, GoldenCountTokensResponse) {
  std::int64_t n = -1;
  api::Error err;
  ASSERT_TRUE(decode_count_tokens(fixture("count_tokens_response.json"), n, err)) << err.message;
  EXPECT_EQ(n, 403);
  EXPECT_TRUE(decode_count_tokens(R"({"input_tokens":0})", n, err));
  EXPECT_EQ(n, 0);
  for (const char* bad : {R"({})", R"({"input_tokens":-3})", R"({"input_tokens":"7"})", "[1]",
                          "not json", R"({"input_tokens":)"}) {
    EXPECT_FALSE(decode_count_tokens(bad, n, err)) << bad;
    EXPECT_EQ(err.kind, api::ErrorKind::upstream) << bad;
  }
  EXPECT_FALSE(decode_count_tokens(fixture("error_overloaded.json"), n, err));
  EXPECT_TRUE(err.retryable);
}

TEST(AnthropicCodec, HttpErrors) {
  auto e = map_http_error(
      429,
      R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}})",
      "12", kKey);
  EXPECT_EQ(e.kind, api::ErrorKind::rate_limited);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.retry_after_s, 12);

  e = map_http_error(529, fixture("error_overloaded.json"), "", kKey);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.status, 502);
  EXPECT_EQ(e.code, "upstream_overloaded");

  e = map_http_error(500, R"({"type":"error","error":{"type":"api_error","message":"Internal"}})",
                     "", kKey);
  EXPECT_TRUE(e.retryable);

  e = map_http_error(
      401,
      std::string(
          R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key )") +
          kKey + "\"}}",
      "", kKey);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.status, 502);
  EXPECT_EQ(e.message.find("SECRET"), std::string::npos);

  e = map_http_error(400, fixture("error_invalid_request.json"), "", kKey);
  EXPECT_EQ(e.status, 400);
  EXPECT_FALSE(e.retryable);
  EXPECT_NE(e.message.find("roles must alternate"), std::string::npos);

  e = map_http_error(
      413,
      R"({"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}})",
      "", kKey);
  EXPECT_EQ(e.kind, api::ErrorKind::payload_too_large);
  EXPECT_FALSE(e.retryable);

  e = map_http_error(404, "not json", "", kKey);
  EXPECT_EQ(e.kind, api::ErrorKind::not_found);
}

}  // namespace
}  // namespace infergate::adapters::anthropic
