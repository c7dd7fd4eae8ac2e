#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "infergate/api/anthropic.hpp"

namespace infergate::api::anthropic {
namespace {

using nlohmann::json;

Event start_event(std::string id = "chatcmpl-abc") {
  Event e;
  e.type = Event::Type::start;
  e.text = std::move(id);
  e.model = "upstream-model";
  e.created = 1700000000;
  return e;
}

Event text_event(std::string text, Event::Type type = Event::Type::text) {
  Event e;
  e.type = type;
  e.text = std::move(text);
  return e;
}

Event tool_event(int index, std::string id, std::string name, std::string args) {
  Event e;
  e.type = Event::Type::tool_call;
  e.tool_call.index = index;
  e.tool_call.id = std::move(id);
  e.tool_call.name = std::move(name);
  e.tool_call.arguments = std::move(args);
  return e;
}

Event finish_event(FinishReason r) {
  Event e;
  e.type = Event::Type::finish;
  e.finish = r;
  return e;
}

Event usage_event(std::int64_t prompt, std::int64_t completion, std::int64_t cached = 0,
                  std::int64_t written = 0) {
  Event e;
  e.type = Event::Type::usage;
  e.usage.prompt_tokens = prompt;
  e.usage.completion_tokens = completion;
  e.usage.cached_tokens = cached;
  e.usage.cache_write_tokens = written;
  e.usage.reported = true;
  return e;
}

struct Sse {
  std::string name;
  json data;
};

// Splits "event: NAME\ndata: JSON\n\n" frames, checking the framing on the way.
std::vector<Sse> parse_sse(const std::string& s) {
  std::vector<Sse> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto end = s.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated frame at " << pos;
    if (end == std::string::npos) break;
    const std::string frame = s.substr(pos, end - pos);
    pos = end + 2;
    EXPECT_EQ(frame.rfind("event: ", 0), 0u) << frame;
    const auto nl = frame.find('\n');
    EXPECT_NE(nl, std::string::npos) << frame;
    EXPECT_EQ(frame.compare(nl + 1, 6, "data: "), 0) << frame;
    Sse e;
    e.name = frame.substr(7, nl - 7);
    e.data = json::parse(frame.substr(nl + 7));
    // Anthropic's invariant: the SSE event name equals the data's "type".
    EXPECT_EQ(e.data["type"], e.name) << frame;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> names(const std::vector<Sse>& events) {
  std::vector<std::string> n;
  for (const auto& e : events) n.push_back(e.name);
  return n;
}

// Folds streaming events into a Message the way the official SDKs' MessageStream does, and checks
// the ordering rules on the way: blocks open at the next index, deltas go to the open block only,
// nothing follows message_stop.
json accumulate(const std::vector<Sse>& events) {
  json msg;
  bool open = false;
  bool stopped = false;
  std::string partial;
  for (const auto& e : events) {
    EXPECT_FALSE(stopped) << "event after message_stop: " << e.name;
    const auto& d = e.data;
    if (e.name == "message_start") {
      EXPECT_TRUE(msg.is_null()) << "second message_start";
      msg = d["message"];
      EXPECT_EQ(msg["content"], json::array());
      EXPECT_TRUE(msg["stop_reason"].is_null());
    } else if (e.name == "ping") {
    } else if (e.name == "content_block_start") {
      EXPECT_FALSE(open) << "a block opened while another is open";
      EXPECT_EQ(d["index"], msg["content"].size());
      msg["content"].push_back(d["content_block"]);
      open = true;
      partial.clear();
    } else if (e.name == "content_block_delta") {
      EXPECT_TRUE(open);
      EXPECT_EQ(d["index"], msg["content"].size() - 1);
      auto& block = msg["content"].back();
      const auto& delta = d["delta"];
      if (delta["type"] == "text_delta") {
        EXPECT_EQ(block["type"], "text");
        block["text"] = block["text"].get<std::string>() + delta["text"].get<std::string>();
      } else if (delta["type"] == "thinking_delta") {
        EXPECT_EQ(block["type"], "thinking");
        block["thinking"] =
            block["thinking"].get<std::string>() + delta["thinking"].get<std::string>();
      } else if (delta["type"] == "input_json_delta") {
        EXPECT_EQ(block["type"], "tool_use");
        partial += delta["partial_json"].get<std::string>();
      } else {
        ADD_FAILURE() << "unknown delta " << delta.dump();
      }
    } else if (e.name == "content_block_stop") {
      EXPECT_TRUE(open);
      EXPECT_EQ(d["index"], msg["content"].size() - 1);
      auto& block = msg["content"].back();
      if (block["type"] == "tool_use" && !partial.empty()) {
        EXPECT_TRUE(json::accept(partial)) << partial;
        block["input"] = json::parse(partial, nullptr, false);
      }
      open = false;
    } else if (e.name == "message_delta") {
      EXPECT_FALSE(open) << "message_delta with a block open";
      msg["stop_reason"] = d["delta"]["stop_reason"];
      msg["stop_sequence"] = d["delta"]["stop_sequence"];
      for (const auto& item : d["usage"].items()) msg["usage"][item.key()] = item.value();
    } else if (e.name == "message_stop") {
      stopped = true;
    } else {
      ADD_FAILURE() << "unexpected event " << e.name;
    }
  }
  return msg;
}

// Runs `events` through a StreamWriter and through ResponseBuilder + render_response, and checks
// that a client folding the stream gets the very Message a non-streaming call returns.
std::vector<Sse> stream_and_compare(const std::vector<Event>& events) {
  StreamWriter w("public-model", "msg_gateway1");
  ResponseBuilder b;
  std::string out;
  for (const auto& e : events) {
    w.append(e, out);
    b.add(e);
  }
  w.append_done(out);
  auto sse = parse_sse(out);
  auto folded = accumulate(sse);
  auto whole = json::parse(render_response(b.response(), "public-model"));
  EXPECT_EQ(folded["id"].get<std::string>().rfind("msg_", 0), 0u);
  folded.erase("id");  // made up on both sides when the upstream reports none
  whole.erase("id");
  EXPECT_EQ(folded, whole) << out;
  return sse;
}

// "Messages > Create a Message", the response example.
TEST(AnthropicRender, MessageFromTheReference) {
  ResponseBuilder b;
  b.add(start_event("msg_013Zva2CMHLNnXjNJJKqJ2EF"));
  b.add(text_event("Hi! My name is Claude."));
  b.add(finish_event(FinishReason::stop));
  b.add(usage_event(2095, 503));
  EXPECT_EQ(json::parse(render_response(b.response(), "claude-sonnet-4-5")), json::parse(R"({
    "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "model": "claude-sonnet-4-5",
    "role": "assistant",
    "stop_reason": "end_turn",
    "stop_sequence": null,
    "type": "message",
    "usage": {"input_tokens": 2095, "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 0, "output_tokens": 503}
  })"));
}

// "Tool use > How to implement tool use", the tool_use response example.
TEST(AnthropicRender, ToolUseMessage) {
  ResponseBuilder b;
  b.add(start_event("chatcmpl-42"));
  b.add(text_event("I'll check the current weather in San Francisco for you."));
  b.add(tool_event(0, "toolu_01A09q90qw90lq917835lq9", "get_weather",
                   R"({"location": "San Francisco, CA", "unit": "celsius"})"));
  b.add(finish_event(FinishReason::tool_calls));
  b.add(usage_event(500, 60, 120, 30));
  EXPECT_EQ(json::parse(render_response(b.response(), "claude-sonnet-4-5")), json::parse(R"({
    "id": "msg_chatcmpl-42",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "stop_reason": "tool_use",
    "stop_sequence": null,
    "content": [
      {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
      {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
       "input": {"location": "San Francisco, CA", "unit": "celsius"}}
    ],
    "usage": {"input_tokens": 350, "cache_creation_input_tokens": 30,
              "cache_read_input_tokens": 120, "output_tokens": 60}
  })"));
}

TEST(AnthropicRender, StopReasonsReasoningAndOddArguments) {
  const std::pair<FinishReason, const char*> reasons[] = {
      {FinishReason::stop, "end_turn"},       {FinishReason::length, "max_tokens"},
      {FinishReason::tool_calls, "tool_use"}, {FinishReason::content_filter, "refusal"},
      {FinishReason::none, "end_turn"},
  };
  for (const auto& [finish, expected] : reasons) {
    ResponseBuilder b;
    b.add(text_event("x"));
    b.add(finish_event(finish));
    EXPECT_EQ(json::parse(render_response(b.response(), "m"))["stop_reason"], expected);
  }
  ResponseBuilder b;
  b.add(text_event("Let me think.", Event::Type::reasoning));
  b.add(tool_event(0, "call_1", "a", ""));
  b.add(tool_event(1, "call_2", "b", "not json"));
  b.add(tool_event(2, "call_3", "c", "[1,2]"));
  auto j = json::parse(render_response(b.response(), "m"));
  EXPECT_TRUE(j["id"].get<std::string>().rfind("msg_", 0) == 0);
  EXPECT_GT(j["id"].get<std::string>().size(), 20u);  // made up: the upstream sent none
  EXPECT_EQ(j["stop_reason"], "tool_use");            // not reported, but tools were called
  ASSERT_EQ(j["content"].size(), 4u);
  EXPECT_EQ(j["content"][0],
            json::parse(R"({"type":"thinking","thinking":"Let me think.","signature":""})"));
  EXPECT_EQ(j["content"][1]["input"], json::object());
  EXPECT_EQ(j["content"][2]["input"], json::parse(R"({"_raw_arguments":"not json"})"));
  EXPECT_EQ(j["content"][3]["input"], json::parse(R"({"_raw_arguments":"[1,2]"})"));
}

// "Errors": {"type":"error","error":{"type":...,"message":...}} with the documented types.
TEST(AnthropicRender, ErrorBodies) {
  const std::pair<ErrorKind, const char*> kinds[] = {
      {ErrorKind::invalid_request, "invalid_request_error"},
      {ErrorKind::authentication, "authentication_error"},
      {ErrorKind::permission, "permission_error"},
      {ErrorKind::not_found, "not_found_error"},
      {ErrorKind::method_not_allowed, "invalid_request_error"},
      {ErrorKind::payload_too_large, "request_too_large"},
      {ErrorKind::rate_limited, "rate_limit_error"},
      {ErrorKind::internal, "api_error"},
      {ErrorKind::upstream, "api_error"},
      {ErrorKind::unavailable, "overloaded_error"},
      {ErrorKind::timeout, "timeout_error"},
  };
  for (const auto& [kind, type] : kinds) {
    auto j = json::parse(error_body(Error::make(kind, "The requested resource could not be found.",
                                                "model", "model_not_found")));
    EXPECT_EQ(j, json::parse(std::string(R"({"type":"error","error":{"type":")") + type +
                             R"(","message":"The requested resource could not be found."}})"));
  }
  // Invalid UTF-8 and control characters still give valid JSON.
  auto j = json::parse(error_body(Error::make(ErrorKind::internal, "bad \xff\n\"x\"")));
  EXPECT_EQ(j["error"]["message"], "bad \xef\xbf\xbd\n\"x\"");
}

// "Streaming Messages > Basic streaming request": message_start, ping, one text block,
// message_delta, message_stop.
TEST(AnthropicStream, TextStreamMatchesTheReferenceSequence) {
  auto sse = stream_and_compare({start_event("msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK"),
                                 text_event("Hello"), text_event(" there"), text_event("!"),
                                 finish_event(FinishReason::stop), usage_event(11, 6)});
  EXPECT_EQ(names(sse), (std::vector<std::string>{"message_start", "ping", "content_block_start",
                                                  "content_block_delta", "content_block_delta",
                                                  "content_block_delta", "content_block_stop",
                                                  "message_delta", "message_stop"}));
  EXPECT_EQ(sse[0].data, json::parse(R"({"type":"message_start","message":{
    "id":"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK","type":"message","role":"assistant",
    "model":"public-model","content":[],"stop_reason":null,"stop_sequence":null,
    "usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,
             "output_tokens":0}}})"));
  EXPECT_EQ(sse[2].data, json::parse(R"({"type":"content_block_start","index":0,
                                         "content_block":{"type":"text","text":""}})"));
  EXPECT_EQ(sse[3].data, json::parse(R"({"type":"content_block_delta","index":0,
                                         "delta":{"type":"text_delta","text":"Hello"}})"));
  EXPECT_EQ(sse[6].data, json::parse(R"({"type":"content_block_stop","index":0})"));
  EXPECT_EQ(sse[7].data, json::parse(R"({"type":"message_delta",
    "delta":{"stop_reason":"end_turn","stop_sequence":null},
    "usage":{"input_tokens":11,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,
             "output_tokens":6}})"));
  EXPECT_EQ(sse[8].data, json::parse(R"({"type":"message_stop"})"));
}

TEST(AnthropicStream, IdFromTheConstructorUntilTheUpstreamReportsOne) {
  StreamWriter w("m", "gw-1");
  std::string out;
  w.append(text_event("hi"), out);
  w.append_done(out);
  auto sse = parse_sse(out);
  EXPECT_EQ(sse[0].data["message"]["id"], "msg_gw-1");
  EXPECT_EQ(sse.back().name, "message_stop");
  // Usage never reported: output_tokens still present (the SDKs read it).
  EXPECT_EQ(sse[sse.size() - 2].data["usage"], json::parse(R"({"output_tokens":0})"));
}

// "Streaming Messages > Streaming request with tool use": text, then a tool_use block whose
// input arrives as input_json_delta fragments.
TEST(AnthropicStream, ToolCallStreamedInPieces) {
  auto sse = stream_and_compare({
      start_event(),
      text_event("I'll check the current weather in Paris for you."),
      tool_event(0, "toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", ""),
      tool_event(0, "", "", "{\"locati"),
      tool_event(0, "", "", "on\": \"P"),
      tool_event(0, "", "", "ar"),
      tool_event(0, "", "", "is\"}"),
      finish_event(FinishReason::tool_calls),
      usage_event(377, 65),
  });
  EXPECT_EQ(names(sse), (std::vector<std::string>{
                            "message_start", "ping", "content_block_start", "content_block_delta",
                            "content_block_stop", "content_block_start", "content_block_delta",
                            "content_block_delta", "content_block_delta", "content_block_delta",
                            "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(sse[5].data, json::parse(R"({"type":"content_block_start","index":1,
    "content_block":{"type":"tool_use","id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","name":"get_weather",
                     "input":{}}})"));
  EXPECT_EQ(sse[6].data, json::parse(R"({"type":"content_block_delta","index":1,
    "delta":{"type":"input_json_delta","partial_json":"{\"locati"}})"));
  EXPECT_EQ(sse[11].data["delta"]["stop_reason"], "tool_use");
}

// OpenAI streams parallel calls interleaved (index 0, 1, 0, 1); Anthropic needs one block at a
// time: the first streams live, the second is held and sent whole after it.
TEST(AnthropicStream, ParallelToolCallsInterleaved) {
  auto sse = stream_and_compare({
      start_event(),
      tool_event(0, "call_a", "get_weather", "{\"city\":"),
      tool_event(1, "call_b", "get_time", "{\"tz\":"),
      tool_event(0, "", "", "\"Paris\"}"),
      tool_event(1, "", "", "\"CET\"}"),
      tool_event(2, "call_c", "noop", ""),
      finish_event(FinishReason::tool_calls),
      usage_event(20, 30),
  });
  EXPECT_EQ(names(sse), (std::vector<std::string>{
                            "message_start", "ping", "content_block_start", "content_block_delta",
                            "content_block_delta", "content_block_stop", "content_block_start",
                            "content_block_delta", "content_block_stop", "content_block_start",
                            "content_block_stop", "message_delta", "message_stop"}));
  auto folded = accumulate(sse);
  ASSERT_EQ(folded["content"].size(), 3u);
  EXPECT_EQ(folded["content"][0]["id"], "call_a");
  EXPECT_EQ(folded["content"][0]["input"], json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(folded["content"][1]["id"], "call_b");
  EXPECT_EQ(folded["content"][1]["input"], json::parse(R"({"tz":"CET"})"));
  EXPECT_EQ(sse[7].data["delta"]["partial_json"], "{\"tz\":\"CET\"}");  // whole, in one piece
  EXPECT_EQ(folded["content"][2]["name"], "noop");
  EXPECT_EQ(folded["content"][2]["input"], json::object());
}

TEST(AnthropicStream, ToolCallWithoutIdOrNameFirst) {
  // A provider that sends the name only in a later fragment, and no id at all.
  StreamWriter w("m", "msg_x");
  std::string out;
  w.append(tool_event(0, "", "", "{\"a\""), out);
  w.append(tool_event(0, "", "f", ":1}"), out);
  w.append(finish_event(FinishReason::tool_calls), out);
  w.append_done(out);
  auto folded = accumulate(parse_sse(out));
  ASSERT_EQ(folded["content"].size(), 1u);
  EXPECT_EQ(folded["content"][0]["name"], "f");
  EXPECT_EQ(folded["content"][0]["id"], "toolu_x_0");
  EXPECT_EQ(folded["content"][0]["input"], json::parse(R"({"a":1})"));
}

TEST(AnthropicStream, ThinkingThenTextThenCacheUsage) {
  auto sse = stream_and_compare({
      start_event("msg_1"),
      text_event("Let me ", Event::Type::reasoning),
      text_event("think.", Event::Type::reasoning),
      text_event("27 * 453 = 12231"),
      finish_event(FinishReason::length),
      usage_event(1000, 40, 800, 150),
  });
  EXPECT_EQ(sse[2].data["content_block"],
            json::parse(R"({"type":"thinking","thinking":"","signature":""})"));
  EXPECT_EQ(sse[3].data["delta"], json::parse(R"({"type":"thinking_delta","thinking":"Let me "})"));
  const auto& delta = sse[sse.size() - 2].data;
  EXPECT_EQ(delta["delta"]["stop_reason"], "max_tokens");
  EXPECT_EQ(delta["usage"], json::parse(R"({"input_tokens":50,"cache_creation_input_tokens":150,
                                            "cache_read_input_tokens":800,"output_tokens":40})"));
}

TEST(AnthropicStream, UsageBeforeFinishAndOtherChoicesIgnored) {
  StreamWriter w("m", "msg_1");
  std::string out;
  Event other = text_event("ignored");
  other.choice = 1;
  w.append(usage_event(7, 2), out);
  w.append(text_event("ok"), out);
  w.append(other, out);
  w.append(finish_event(FinishReason::stop), out);
  EXPECT_EQ(out.find("message_delta"), std::string::npos);  // held for append_done
  w.append_done(out);
  w.append_done(out);  // idempotent
  auto sse = parse_sse(out);
  auto folded = accumulate(sse);
  EXPECT_EQ(folded["content"], json::parse(R"([{"type":"text","text":"ok"}])"));
  EXPECT_EQ(folded["usage"]["input_tokens"], 7);
  EXPECT_EQ(folded["usage"]["output_tokens"], 2);
  EXPECT_EQ(sse[0].data["message"]["usage"]["input_tokens"], 7);  // known at message_start
}

// An upstream that knows the prompt side at its start (Anthropic's own message_start) has it
// passed on in message_start, as Anthropic reports it; the output count comes at the end.
TEST(AnthropicStream, PromptUsageKnownAtTheStartIsInMessageStart) {
  StreamWriter w("m", "msg_1");
  std::string out;
  Event start = start_event("msg_up");
  start.usage = usage_event(14, 0, 4).usage;
  w.append(start, out);
  w.append(text_event("ok"), out);
  w.append(usage_event(14, 3, 4), out);
  w.append(finish_event(FinishReason::stop), out);
  w.append_done(out);
  auto sse = parse_sse(out);
  const auto& u = sse[0].data["message"]["usage"];
  EXPECT_EQ(u["input_tokens"], 10);
  EXPECT_EQ(u["cache_read_input_tokens"], 4);
  EXPECT_EQ(u["output_tokens"], 0);
  EXPECT_EQ(accumulate(sse)["usage"]["output_tokens"], 3);
}

// "Streaming Messages > Error events": an `event: error` ends the stream.
TEST(AnthropicStream, ErrorMidStream) {
  StreamWriter w("m", "msg_1");
  std::string out;
  w.append(text_event("Hel"), out);
  Event err;
  err.type = Event::Type::error;
  err.error = Error::make(ErrorKind::unavailable, "Overloaded");
  w.append(err, out);
  const auto size = out.size();
  w.append(text_event("lo"), out);
  w.append_done(out);
  w.append_error(Error::make(ErrorKind::internal, "again"), out);
  EXPECT_EQ(out.size(), size);  // nothing after the error
  auto sse = parse_sse(out);
  EXPECT_EQ(names(sse), (std::vector<std::string>{"message_start", "ping", "content_block_start",
                                                  "content_block_delta", "error"}));
  EXPECT_EQ(sse.back().data, json::parse(R"({"type":"error","error":{"type":"overloaded_error",
                                                                      "message":"Overloaded"}})"));
}

TEST(AnthropicStream, ErrorBeforeAnything) {
  StreamWriter w("m", "msg_1");
  std::string out;
  w.append_error(Error::make(ErrorKind::timeout, "The upstream did not answer in time."), out);
  auto sse = parse_sse(out);
  ASSERT_EQ(sse.size(), 1u);
  EXPECT_EQ(sse[0].data["error"]["type"], "timeout_error");
}

TEST(AnthropicStream, TextAfterToolCallsAndLateFragments) {
  StreamWriter w("m", "msg_1");
  std::string out;
  w.append(tool_event(0, "c0", "a", "{}"), out);
  w.append(tool_event(1, "c1", "b", "{\"x\":"), out);  // held: call 0 streams
  w.append(text_event("done"), out);                   // closes call 0's block
  w.append(tool_event(0, "", "", "garbage"), out);     // late for a closed block: dropped
  w.append(tool_event(1, "", "", "2}"), out);          // call 1 still held
  w.append(finish_event(FinishReason::tool_calls), out);
  w.append_done(out);
  auto folded = accumulate(parse_sse(out));
  ASSERT_EQ(folded["content"].size(), 3u);
  EXPECT_EQ(folded["content"][0]["input"], json::object());
  EXPECT_EQ(folded["content"][1], json::parse(R"({"type":"text","text":"done"})"));
  EXPECT_EQ(folded["content"][2]["input"], json::parse(R"({"x":2})"));
}

TEST(AnthropicStream, InvalidHeldArgumentsStayParseable) {
  StreamWriter w("m", "msg_1");
  std::string out;
  w.append(tool_event(0, "c0", "a", "{}"), out);
  w.append(tool_event(1, "c1", "b", "{\"x\": tru"), out);  // truncated by the upstream
  w.append_done(out);
  auto folded = accumulate(parse_sse(out));
  ASSERT_EQ(folded["content"].size(), 2u);
  EXPECT_EQ(folded["content"][1]["input"], json::parse(R"({"_raw_arguments":"{\"x\": tru"})"));
}

TEST(AnthropicStream, EmptyStream) {
  auto sse = stream_and_compare({});
  EXPECT_EQ(names(sse),
            (std::vector<std::string>{"message_start", "ping", "message_delta", "message_stop"}));
}

}  // namespace
}  // namespace infergate::api::anthropic
