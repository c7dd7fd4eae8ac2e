#include <gtest/gtest.h>

#include "infergate/api/anthropic.hpp"

namespace infergate::api::anthropic {
namespace {

using nlohmann::json;

json parse_ok(std::string_view body, ChatRequest* req_out = nullptr) {
  ChatRequest req;
  Error err;
  EXPECT_TRUE(parse_messages_request(body, req, err)) << err.message;
  if (req_out != nullptr) *req_out = req;
  return req.body;
}

// Anthropic API reference, "Messages > Create a Message", the request example.
TEST(AnthropicParse, MinimalRequestFromTheReference) {
  ChatRequest req;
  auto body = parse_ok(R"({
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Hello, world"}]
  })",
                       &req);
  EXPECT_EQ(req.model, "claude-sonnet-4-5");
  EXPECT_FALSE(req.stream);
  EXPECT_FALSE(req.include_usage);
  EXPECT_EQ(body, json::parse(R"({"model":"claude-sonnet-4-5","max_tokens":1024,
                                  "messages":[{"role":"user","content":"Hello, world"}]})"));
}

// The sampling, stop, metadata and streaming parameters of "Messages > Create a Message".
TEST(AnthropicParse, ParametersAndStreamAlwaysAsksUsage) {
  ChatRequest req;
  auto body = parse_ok(R"({
    "model": "m", "max_tokens": 256, "stream": true,
    "system": [{"type": "text", "text": "You are terse."},
               {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    "stop_sequences": ["\n\nHuman:", "END"],
    "temperature": 0.5, "top_p": 0.9, "top_k": 40,
    "metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "service_tier": "auto"
  })",
                       &req);
  EXPECT_TRUE(req.stream);
  EXPECT_TRUE(req.include_usage);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"], json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(body["messages"], json::parse(R"([
    {"role":"system","content":"You are terse.\nAnswer in French."},
    {"role":"user","content":"Hi"}])"));
  EXPECT_EQ(body["stop"], json::parse(R"(["\n\nHuman:","END"])"));
  EXPECT_EQ(body["temperature"], 0.5);
  EXPECT_EQ(body["top_p"], 0.9);
  EXPECT_EQ(body["top_k"], 40);
  EXPECT_EQ(body["user"], "13803d75-b4b5-4c3e-b2a2-6f21399b021b");
  EXPECT_EQ(body["thinking"], json::parse(R"({"type":"enabled","budget_tokens":2048})"));
  EXPECT_FALSE(body.contains("service_tier"));  // Anthropic-only fields are not forwarded
  EXPECT_FALSE(body.contains("metadata"));
  EXPECT_FALSE(body.contains("system"));
}

// "Tool use > How to implement tool use": tools with input_schema, tool_choice, and the
// assistant tool_use / user tool_result round trip.
TEST(AnthropicParse, ToolsToolUseAndToolResultTurn) {
  auto body = parse_ok(R"({
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "tools": [{
      "name": "get_weather",
      "description": "Get the current weather in a given location",
      "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                       "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]
      }
    }],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
    "messages": [
      {"role": "user", "content": "What's the weather like in San Francisco?"},
      {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Use the tool.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
         "input": {"location": "San Francisco, CA", "unit": "celsius"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
        {"type": "text", "text": "And tomorrow?"}]}
    ]
  })");
  EXPECT_EQ(body["tools"], json::parse(R"([{"type":"function","function":{
      "name":"get_weather","description":"Get the current weather in a given location",
      "parameters":{"type":"object",
        "properties":{"location":{"type":"string","description":"The city and state, e.g. San Francisco, CA"},
                      "unit":{"type":"string","enum":["celsius","fahrenheit"]}},
        "required":["location"]}}}])"));
  EXPECT_EQ(body["tool_choice"], "required");
  EXPECT_EQ(body["parallel_tool_calls"], false);
  const auto& m = body["messages"];
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[1]["role"], "assistant");
  EXPECT_EQ(m[1]["content"], "I'll check the current weather in San Francisco for you.");
  ASSERT_EQ(m[1]["tool_calls"].size(), 1u);
  const auto& call = m[1]["tool_calls"][0];
  EXPECT_EQ(call["id"], "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()),
            json::parse(R"({"location":"San Francisco, CA","unit":"celsius"})"));
  // Tool results come first, as tool messages; the rest of the turn follows as a user message.
  EXPECT_EQ(m[2], json::parse(R"({"role":"tool","tool_call_id":"toolu_01A09q90qw90lq917835lq9",
                                  "content":"15 degrees"})"));
  EXPECT_EQ(m[3], json::parse(R"({"role":"user","content":"And tomorrow?"})"));
}

TEST(AnthropicParse, ToolChoiceForms) {
  const char* base = R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],
                         "tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":)";
  EXPECT_EQ(parse_ok(std::string(base) + R"({"type":"auto"}})")["tool_choice"], "auto");
  EXPECT_EQ(parse_ok(std::string(base) + R"({"type":"none"}})")["tool_choice"], "none");
  auto named = parse_ok(std::string(base) + R"({"type":"tool","name":"f"}})");
  EXPECT_EQ(named["tool_choice"], json::parse(R"({"type":"function","function":{"name":"f"}})"));
  EXPECT_FALSE(named.contains("parallel_tool_calls"));
}

// "Tool use": tool_result content as blocks, and is_error.
TEST(AnthropicParse, ToolResultBlocksAndErrors) {
  auto body = parse_ok(R"J({"model":"m","max_tokens":10,"messages":[
    {"role":"assistant","content":[
      {"type":"tool_use","id":"toolu_1","name":"a","input":{}},
      {"type":"tool_use","id":"toolu_2","name":"b","input":{"q":[1,2]}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_1","content":[
        {"type":"text","text":"line one"},{"type":"text","text":"line two"},
        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},
      {"type":"tool_result","tool_use_id":"toolu_2","content":"ConnectionError: the weather service API is not available (HTTP 500)","is_error":true}]}]})J");
  const auto& m = body["messages"];
  ASSERT_EQ(m.size(), 4u);
  EXPECT_TRUE(m[0]["content"].is_null());
  EXPECT_EQ(m[0]["tool_calls"].size(), 2u);
  EXPECT_EQ(m[0]["tool_calls"][0]["function"]["arguments"], "{}");
  EXPECT_EQ(m[1], json::parse(R"({"role":"tool","tool_call_id":"toolu_1",
                                  "content":"line one\nline two"})"));
  EXPECT_EQ(m[2]["content"],
            "Error: ConnectionError: the weather service API is not available (HTTP 500)");
  // The tool result's image follows as a user message (tool messages carry text only).
  EXPECT_EQ(m[3], json::parse(R"({"role":"user","content":[
      {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]})"));
}

// "Vision": base64 and URL image sources.
TEST(AnthropicParse, ImageInput) {
  auto body = parse_ok(R"({"model":"m","max_tokens":1024,"messages":[{"role":"user","content":[
    {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQSkZJRg=="}},
    {"type":"image","source":{"type":"url","url":"https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}},
    {"type":"text","text":"Describe these images."}]}]})");
  EXPECT_EQ(body["messages"][0]["content"], json::parse(R"([
    {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
    {"type":"image_url","image_url":{"url":"https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"}},
    {"type":"text","text":"Describe these images."}])"));
}

TEST(AnthropicParse, AssistantPrefillAndEmptySystem) {
  auto body = parse_ok(R"({"model":"m","max_tokens":5,"system":"",
    "messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"Hi"}]})");
  EXPECT_EQ(body["messages"], json::parse(R"([{"role":"user","content":"Say hi"},
                                             {"role":"assistant","content":"Hi"}])"));
}

struct BadCase {
  const char* body;
  const char* param;
};

TEST(AnthropicParse, EveryRejectionNamesItsField) {
  const BadCase cases[] = {
      {R"({"max_tokens":1,"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"","max_tokens":1,"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":3,"max_tokens":1,"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}]})", "max_tokens"},
      {R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]})", "max_tokens"},
      {R"({"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"x"}]})",
       "max_tokens"},
      {R"({"model":"m","max_tokens":"9","messages":[{"role":"user","content":"x"}]})",
       "max_tokens"},
      {R"({"model":"m","max_tokens":99999999999999999999,"messages":[{"role":"user","content":"x"}]})",
       "max_tokens"},
      {R"({"model":"m","max_tokens":1})", "messages"},
      {R"({"model":"m","max_tokens":1,"messages":{}})", "messages"},
      {R"({"model":"m","max_tokens":1,"messages":[]})", "messages"},
      {R"({"model":"m","max_tokens":1,"messages":["hi"]})", "messages.0"},
      {R"({"model":"m","max_tokens":1,"messages":[{"content":"x"}]})", "messages.0.role"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]})",
       "messages.0.role"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user"}]})", "messages.0.content"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":7}]})",
       "messages.0.content"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[]}]})",
       "messages.0.content"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":["x"]}]})",
       "messages.0.content.0"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"text":"x"}]}]})",
       "messages.0.content.0.type"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text"}]}]})",
       "messages.0.content.0.text"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"a"},
          {"type":"document","source":{"type":"text","media_type":"text/plain","data":"d"}}]}]})",
       "messages.0.content.1.type"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_use",
          "id":"t","name":"n","input":{}}]}]})",
       "messages.0.content.0.type"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"image",
          "source":{"type":"url","url":"u"}}]}]})",
       "messages.0.content.0.type"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image"}]}]})",
       "messages.0.content.0.source"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image",
          "source":{"type":"file","file_id":"f"}}]}]})",
       "messages.0.content.0.source.type"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image",
          "source":{"type":"base64","media_type":"image/tiff","data":"AAAA"}}]}]})",
       "messages.0.content.0.source.media_type"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image",
          "source":{"type":"base64","media_type":"image/png"}}]}]})",
       "messages.0.content.0.source.data"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image",
          "source":{"type":"url"}}]}]})",
       "messages.0.content.0.source.url"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use",
          "name":"n","input":{}}]}]})",
       "messages.0.content.0.id"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use",
          "id":"t","input":{}}]}]})",
       "messages.0.content.0.name"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use",
          "id":"t","name":"n","input":"{}"}]}]})",
       "messages.0.content.0.input"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result"}]}]})",
       "messages.0.content.0.tool_use_id"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result",
          "tool_use_id":"t","is_error":"yes"}]}]})",
       "messages.0.content.0.is_error"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result",
          "tool_use_id":"t","content":5}]}]})",
       "messages.0.content.0.content"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result",
          "tool_use_id":"t","content":[{"type":"text","text":"a"},{"type":"document"}]}]}]})",
       "messages.0.content.0.content.1.type"},
      {R"({"model":"m","max_tokens":1,"system":5,"messages":[{"role":"user","content":"x"}]})",
       "system"},
      {R"({"model":"m","max_tokens":1,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]})",
       "system.0.type"},
      {R"({"model":"m","max_tokens":1,"system":[{"type":"text"}],"messages":[{"role":"user","content":"x"}]})",
       "system.0.text"},
      {R"({"model":"m","max_tokens":1,"stream":"true","messages":[{"role":"user","content":"x"}]})",
       "stream"},
      {R"({"model":"m","max_tokens":1,"temperature":1.5,"messages":[{"role":"user","content":"x"}]})",
       "temperature"},
      {R"({"model":"m","max_tokens":1,"temperature":"hot","messages":[{"role":"user","content":"x"}]})",
       "temperature"},
      {R"({"model":"m","max_tokens":1,"top_p":2,"messages":[{"role":"user","content":"x"}]})",
       "top_p"},
      {R"({"model":"m","max_tokens":1,"top_k":-1,"messages":[{"role":"user","content":"x"}]})",
       "top_k"},
      {R"({"model":"m","max_tokens":1,"top_k":0.5,"messages":[{"role":"user","content":"x"}]})",
       "top_k"},
      {R"({"model":"m","max_tokens":1,"stop_sequences":"END","messages":[{"role":"user","content":"x"}]})",
       "stop_sequences"},
      {R"({"model":"m","max_tokens":1,"stop_sequences":["a",1],"messages":[{"role":"user","content":"x"}]})",
       "stop_sequences.1"},
      {R"({"model":"m","max_tokens":1,"stop_sequences":["1","2","3","4","5","6","7","8","9","10",
          "11","12","13","14","15","16","17"],"messages":[{"role":"user","content":"x"}]})",
       "stop_sequences"},
      {R"({"model":"m","max_tokens":1,"metadata":"u","messages":[{"role":"user","content":"x"}]})",
       "metadata"},
      {R"({"model":"m","max_tokens":1,"metadata":{"user_id":5},"messages":[{"role":"user","content":"x"}]})",
       "metadata.user_id"},
      {R"({"model":"m","max_tokens":1,"tools":{},"messages":[{"role":"user","content":"x"}]})",
       "tools"},
      {R"({"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],
          "messages":[{"role":"user","content":"x"}]})",
       "tools.0.type"},
      {R"({"model":"m","max_tokens":1,"tools":[{"input_schema":{"type":"object"}}],
          "messages":[{"role":"user","content":"x"}]})",
       "tools.0.name"},
      {R"({"model":"m","max_tokens":1,"tools":[{"name":"has space","input_schema":{"type":"object"}}],
          "messages":[{"role":"user","content":"x"}]})",
       "tools.0.name"},
      {R"({"model":"m","max_tokens":1,"tools":[{"name":"f","input_schema":{"type":"object"}},{"name":"g"}],
          "messages":[{"role":"user","content":"x"}]})",
       "tools.1.input_schema"},
      {R"({"model":"m","max_tokens":1,"tools":[{"name":"f","description":1,"input_schema":{}}],
          "messages":[{"role":"user","content":"x"}]})",
       "tools.0.description"},
      {R"({"model":"m","max_tokens":1,"tool_choice":"auto","messages":[{"role":"user","content":"x"}]})",
       "tool_choice"},
      {R"({"model":"m","max_tokens":1,"tool_choice":{"type":"some"},"messages":[{"role":"user","content":"x"}]})",
       "tool_choice.type"},
      {R"({"model":"m","max_tokens":1,"tool_choice":{"type":"tool"},"messages":[{"role":"user","content":"x"}]})",
       "tool_choice.name"},
      {R"({"model":"m","max_tokens":1,"tool_choice":{"type":"auto","disable_parallel_tool_use":1},
          "messages":[{"role":"user","content":"x"}]})",
       "tool_choice.disable_parallel_tool_use"},
      {R"({"model":"m","max_tokens":1,"thinking":{"type":"enabled"},"messages":[{"role":"user","content":"x"}]})",
       "thinking.budget_tokens"},
      {R"({"model":"m","max_tokens":1,"thinking":{"type":"on"},"messages":[{"role":"user","content":"x"}]})",
       "thinking.type"},
  };
  for (const auto& c : cases) {
    ChatRequest req;
    Error err;
    EXPECT_FALSE(parse_messages_request(c.body, req, err)) << c.body;
    EXPECT_EQ(err.param, c.param) << c.body;
    EXPECT_EQ(err.status, 400) << c.body;
    EXPECT_EQ(err.kind, ErrorKind::invalid_request) << c.body;
    // Anthropic's messages start with the field's dotted path.
    EXPECT_EQ(err.message.rfind(std::string(c.param) + ": ", 0), 0u) << err.message;
  }
}

TEST(AnthropicParse, MalformedAndHostileBodies) {
  ChatRequest req;
  Error err;
  EXPECT_FALSE(parse_messages_request(R"({"model":)", req, err));
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.code, "invalid_json");
  EXPECT_FALSE(parse_messages_request("[1,2]", req, err));
  EXPECT_EQ(err.status, 400);
  // Deep nesting is refused before parsing (tool inputs are dumped recursively later).
  std::string deep = R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[
      {"type":"tool_use","id":"t","name":"n","input":{"a":)";
  deep += std::string(10000, '[') + std::string(10000, ']') + "}}]}]}";
  EXPECT_FALSE(parse_messages_request(deep, req, err));
  EXPECT_EQ(err.status, 400);
  // Brackets inside strings do not count.
  std::string brackets = R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":")";
  brackets += std::string(1000, '[') + R"(\"x"}]})";
  parse_ok(brackets);
  // Too many messages.
  std::string many = R"({"model":"m","max_tokens":1,"messages":[)";
  for (int i = 0; i < 100001; ++i) many += R"({"role":"user","content":"x"},)";
  many.back() = ']';
  many += '}';
  EXPECT_FALSE(parse_messages_request(many, req, err));
  EXPECT_EQ(err.param, "messages");
}

// Anthropic API reference, "Messages > Count tokens in a Message": the Messages body without
// max_tokens (model, messages, system, tools, tool_choice, thinking).
TEST(AnthropicParse, CountTokensBodyNeedsNoMaxTokens) {
  ChatRequest req;
  Error err;
  ASSERT_TRUE(parse_count_tokens_request(R"({
    "model": "claude-sonnet-4-5",
    "system": "You are a scientist",
    "messages": [{"role": "user", "content": "Hello, Claude"}],
    "tools": [{"name": "get_weather", "description": "Get the current weather in a given location",
               "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                                "required": ["location"]}}],
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 16000}
  })",
                                         req, err))
      << err.message;
  EXPECT_EQ(req.model, "claude-sonnet-4-5");
  EXPECT_FALSE(req.stream);
  EXPECT_EQ(req.body, json::parse(R"({
    "model": "claude-sonnet-4-5",
    "messages": [{"role": "system", "content": "You are a scientist"},
                 {"role": "user", "content": "Hello, Claude"}],
    "tools": [{"type": "function", "function": {"name": "get_weather",
               "description": "Get the current weather in a given location",
               "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                              "required": ["location"]}}}],
    "tool_choice": "auto",
    "thinking": {"type": "enabled", "budget_tokens": 16000}})"))
      << req.body.dump();

  // max_tokens, stream and sampling fields are accepted and not carried.
  ASSERT_TRUE(parse_count_tokens_request(
      R"({"model": "m", "max_tokens": 5, "stream": true, "temperature": 0.2,
          "messages": [{"role": "user", "content": "Hi"}]})",
      req, err))
      << err.message;
  EXPECT_FALSE(req.stream);
  EXPECT_EQ(req.body, json::parse(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})"));

  // The Messages endpoint still requires max_tokens; both validate the rest alike.
  EXPECT_FALSE(parse_messages_request(
      R"({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})", req, err));
  EXPECT_EQ(err.param, "max_tokens");
  EXPECT_FALSE(parse_count_tokens_request(R"({"model": "m"})", req, err));
  EXPECT_EQ(err.param, "messages");
  EXPECT_FALSE(parse_count_tokens_request(
      R"({"model": "m", "messages": [{"role": "robot", "content": "Hi"}]})", req, err));
  EXPECT_EQ(err.param, "messages.0.role");
  EXPECT_EQ(render_count_tokens(CountTokensResponse{14}), R"({"input_tokens":14})");
}

}  // namespace
}  // namespace infergate::api::anthropic
