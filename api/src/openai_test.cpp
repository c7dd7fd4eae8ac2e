#include "infergate/api/openai.hpp"

#include <gtest/gtest.h>

namespace infergate::api::openai {
namespace {

using nlohmann::json;

bool parse(std::string_view body, ChatRequest& req, Error& err) {
  return parse_chat_request(body, req, err);
}

TEST(OpenAiParse, AcceptsMinimalRequestAndKeepsUnknownFields) {
  ChatRequest req;
  Error err;
  ASSERT_TRUE(parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],
                        "response_format":{"type":"json_object"},"x_custom":1})",
                    req, err))
      << err.message;
  EXPECT_EQ(req.model, "m");
  EXPECT_FALSE(req.stream);
  EXPECT_EQ(req.body["x_custom"], 1);
  EXPECT_EQ(req.body["response_format"]["type"], "json_object");
}

TEST(OpenAiParse, StreamOptions) {
  ChatRequest req;
  Error err;
  ASSERT_TRUE(parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,
                        "stream_options":{"include_usage":true}})",
                    req, err));
  EXPECT_TRUE(req.stream);
  EXPECT_TRUE(req.include_usage);
}

struct BadCase {
  const char* body;
  const char* param;
};

TEST(OpenAiParse, RejectsInvalidFieldsNamingThem) {
  const BadCase cases[] = {
      {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"","messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"m"})", "messages"},
      {R"({"model":"m","messages":"hi"})", "messages"},
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m","messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})",
       "messages[0].content[0].text"},
      {R"({"model":"m","messages":[{"role":"tool","content":"r"}]})", "messages[0].tool_call_id"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})",
       "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{}})",
       "stream_options"},
  };
  for (const auto& c : cases) {
    ChatRequest req;
    Error err;
    EXPECT_FALSE(parse(c.body, req, err)) << c.body;
    EXPECT_EQ(err.param, c.param) << c.body;
    EXPECT_EQ(err.status, 400);
    EXPECT_EQ(err.kind, ErrorKind::invalid_request);
  }
}

TEST(OpenAiParse, MalformedJson) {
  ChatRequest req;
  Error err;
  EXPECT_FALSE(parse("{\"model\":", req, err));
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.code, "invalid_json");
  EXPECT_FALSE(parse("[1,2]", req, err));
  EXPECT_EQ(err.status, 400);
}

TEST(OpenAiRender, ErrorBodyShape) {
  auto e =
      Error::make(ErrorKind::not_found, "The model 'x' does not exist", "model", "model_not_found");
  auto j = json::parse(error_body(e));
  EXPECT_EQ(j["error"]["message"], "The model 'x' does not exist");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["code"], "model_not_found");
  EXPECT_EQ(e.status, 404);
  auto j2 = json::parse(error_body(Error::make(ErrorKind::upstream, "bad")));
  EXPECT_TRUE(j2["error"]["param"].is_null());
  EXPECT_TRUE(j2["error"]["code"].is_null());
}

TEST(OpenAiRender, ResponseFromEvents) {
  ResponseBuilder b;
  Event start;
  start.type = Event::Type::start;
  start.text = "chatcmpl-1";
  start.created = 42;
  b.add(start);
  Event t;
  t.type = Event::Type::text;
  t.text = "Hel";
  b.add(t);
  t.text = "lo \"x\"\n";
  b.add(t);
  Event f;
  f.type = Event::Type::finish;
  f.finish = FinishReason::stop;
  b.add(f);
  Event u;
  u.type = Event::Type::usage;
  u.usage.prompt_tokens = 3;
  u.usage.completion_tokens = 2;
  b.add(u);
  auto j = json::parse(render_response(b.response(), "public-model"));
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "public-model");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello \"x\"\n");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["total_tokens"], 5);
}

TEST(OpenAiRender, ToolCallsJoinFragments) {
  ResponseBuilder b;
  Event tc;
  tc.type = Event::Type::tool_call;
  tc.tool_call.id = "call_1";
  tc.tool_call.name = "get_weather";
  tc.tool_call.arguments = "{\"city\":";
  b.add(tc);
  tc.tool_call.id.clear();
  tc.tool_call.name.clear();
  tc.tool_call.arguments = "\"Paris\"}";
  b.add(tc);
  auto j = json::parse(render_response(b.response(), "m"));
  auto call = j["choices"][0]["message"]["tool_calls"][0];
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(call["id"], "call_1");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>())["city"], "Paris");
}

std::vector<json> sse_payloads(const std::string& s) {
  std::vector<json> out;
  std::size_t pos = 0;
  while ((pos = s.find("data: ", pos)) != std::string::npos) {
    auto end = s.find("\n\n", pos);
    auto payload = s.substr(pos + 6, end - pos - 6);
    out.push_back(payload == "[DONE]" ? json("[DONE]") : json::parse(payload));
    pos = end;
  }
  return out;
}

TEST(OpenAiStream, ChunksRoleContentFinishUsageDone) {
  StreamWriter w("pub", "chatcmpl-x", 7, /*include_usage=*/true);
  std::string out;
  Event e;
  e.type = Event::Type::text;
  e.text = "a";
  w.append(e, out);
  e.text = "b";
  w.append(e, out);
  Event f;
  f.type = Event::Type::finish;
  f.finish = FinishReason::length;
  w.append(f, out);
  Event u;
  u.type = Event::Type::usage;
  u.usage.prompt_tokens = 1;
  w.append(u, out);
  w.append_done(out);
  auto p = sse_payloads(out);
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(p[1]["choices"][0]["delta"]["content"], "a");
  EXPECT_EQ(p[1]["model"], "pub");
  EXPECT_EQ(p[2]["choices"][0]["delta"]["content"], "b");
  EXPECT_EQ(p[3]["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(p[4]["choices"].empty());
  EXPECT_EQ(p[4]["usage"]["prompt_tokens"], 1);
  EXPECT_EQ(p[5], "[DONE]");
}

TEST(OpenAiStream, UsageSuppressedUnlessAsked) {
  StreamWriter w("pub", "id", 7, /*include_usage=*/false);
  std::string out;
  Event u;
  u.type = Event::Type::usage;
  w.append(u, out);
  EXPECT_TRUE(out.empty());
}

TEST(JsonString, EscapesAndRepairsUtf8) {
  std::string out;
  append_json_string(out, std::string("a\"\\\n\x01\xc3\xa9\xff\xe2\x82", 10));
  auto j = json::parse(out);
  EXPECT_EQ(j.get<std::string>(), "a\"\\\n\x01\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  out.clear();
  append_json_string(out, "\xf0\x9f\xa6\x99");  // a llama, 4 bytes
  EXPECT_EQ(json::parse(out).get<std::string>(), "\xf0\x9f\xa6\x99");
}

}  // namespace
}  // namespace infergate::api::openai
