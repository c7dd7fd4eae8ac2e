#include "mock_openai.hpp"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace infergate::mock {
namespace {

using nlohmann::json;

ChatCall parse_ok(const std::string& body) {
  ChatCall call;
  auto bad = parse_chat(body, call);
  EXPECT_FALSE(bad.has_value()) << (bad ? bad->message : "");
  return call;
}

// Splits SSE bytes into the payloads of their data lines.
std::vector<std::string> data_lines(const std::string& sse) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < sse.size()) {
    auto end = sse.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "event not terminated by a blank line";
    if (end == std::string::npos) break;
    std::string event = sse.substr(pos, end - pos);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    out.push_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

TEST(Behaviour, DefaultsWithoutQueryOrHeader) {
  Behaviour b;
  b.tokens = 99;
  EXPECT_EQ(behaviour_for("gpt-4o", "", b), "");
  EXPECT_EQ(b.tokens, 8);
  EXPECT_EQ(b.latency_ms, -1);
  EXPECT_EQ(b.fail, 0);
  EXPECT_EQ(b.fail_status, 500);
  EXPECT_TRUE(b.usage);
  EXPECT_FALSE(b.stall);
}

TEST(Behaviour, ModelQueryThenHeaderWins) {
  Behaviour b;
  ASSERT_EQ(behaviour_for("m?tokens=3&fail=2&fail_status=429&retry_after=7&usage=0",
                          "tokens=5&echo=1", b),
            "");
  EXPECT_EQ(b.tokens, 5);
  EXPECT_EQ(b.fail, 2);
  EXPECT_EQ(b.fail_status, 429);
  EXPECT_EQ(b.retry_after_s, 7);
  EXPECT_FALSE(b.usage);
  EXPECT_TRUE(b.echo);
}

TEST(Behaviour, AllKeysParse) {
  Behaviour b;
  ASSERT_EQ(apply_behaviour("latency_ms=10&token_delay_ms=2&reset_after=3&stall=1&stall_after=4&"
                            "malformed=1&tool_call=1&cached_tokens=6&&",
                            b),
            "");
  EXPECT_EQ(b.latency_ms, 10);
  EXPECT_EQ(b.token_delay_ms, 2);
  EXPECT_EQ(b.reset_after, 3);
  EXPECT_TRUE(b.stall);
  EXPECT_EQ(b.stall_after, 4);
  EXPECT_TRUE(b.malformed);
  EXPECT_TRUE(b.tool_call);
  EXPECT_EQ(b.cached_tokens, 6);
}

TEST(Behaviour, RejectsTyposAndBadValues) {
  Behaviour b;
  EXPECT_NE(apply_behaviour("tokenz=3", b).find("unknown behaviour 'tokenz'"), std::string::npos);
  EXPECT_NE(apply_behaviour("tokens", b), "");
  EXPECT_NE(apply_behaviour("tokens=abc", b), "");
  EXPECT_NE(apply_behaviour("tokens=-1", b), "");
  EXPECT_NE(apply_behaviour("tokens=3x", b), "");
  EXPECT_NE(apply_behaviour("tokens=100001", b), "");
  EXPECT_NE(apply_behaviour("fail_status=200", b), "");
  EXPECT_NE(apply_behaviour("stall=2", b), "");
  EXPECT_NE(apply_behaviour("latency_ms=99999999999999", b), "");
  EXPECT_NE(behaviour_for("m?fail=x", "", b), "");
  EXPECT_NE(behaviour_for("m", "bogus=1", b), "");
}

TEST(CountWords, WhitespaceSeparated) {
  EXPECT_EQ(count_words(""), 0);
  EXPECT_EQ(count_words("   \t\n"), 0);
  EXPECT_EQ(count_words("one"), 1);
  EXPECT_EQ(count_words("  one two\tthree\nfour  "), 4);
}

TEST(ParseChat, ReadsTheFieldsItActsOn) {
  ChatCall call = parse_ok(R"({"model":"m?tokens=2","stream":true,
      "stream_options":{"include_usage":true},"max_completion_tokens":5,"tools":[{"x":1}],
      "messages":[{"role":"system","content":"be brief"},
                  {"role":"user","content":[{"type":"text","text":"hello there"},
                                            {"type":"image_url","image_url":{"url":"u"}},
                                            {"type":"text","text":"again"}]},
                  {"role":"assistant","content":null},
                  {"role":"user","content":"last one here"}]})");
  EXPECT_EQ(call.model, "m?tokens=2");
  EXPECT_TRUE(call.stream);
  EXPECT_TRUE(call.include_usage);
  EXPECT_EQ(call.max_tokens, 5);
  EXPECT_EQ(call.prompt_tokens, 2 + 3 + 3);
  EXPECT_EQ(call.last_user_text, "last one here");
}

TEST(ParseChat, RejectsInvalidBodies) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {"not json", ""},
      {"[1,2]", ""},
      {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"","messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"m"})", "messages"},
      {R"({"model":"m","messages":"hello"})", "messages"},
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m","messages":[1]})", "messages[0]"},
      {R"({"model":"m","messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})", "stream"},
      {R"({"model":"m","stream_options":{"include_usage":1},"messages":[{"role":"user"}]})",
       "stream_options.include_usage"},
      {R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]})", "max_tokens"},
  };
  for (const auto& c : cases) {
    ChatCall call;
    auto bad = parse_chat(c.body, call);
    ASSERT_TRUE(bad.has_value()) << c.body;
    EXPECT_EQ(bad->param, c.param) << c.body;
    EXPECT_FALSE(bad->message.empty());
  }
}

TEST(PlanAnswer, DeterministicTokens) {
  ChatCall call = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"a b c"}]})");
  Behaviour b;
  b.tokens = 3;
  Answer a = plan_answer(call, b);
  ASSERT_EQ(a.pieces.size(), 3u);
  EXPECT_EQ(a.pieces[0], "tok0");
  EXPECT_EQ(a.pieces[1], " tok1");
  EXPECT_EQ(a.pieces[2], " tok2");
  EXPECT_EQ(a.finish_reason, "stop");
  EXPECT_EQ(a.prompt_tokens, 3);
  EXPECT_EQ(a.completion_tokens, 3);
  b.tokens = 0;
  EXPECT_EQ(plan_answer(call, b).events(), 0u);
}

TEST(PlanAnswer, EchoKeepsTheTextExactly) {
  ChatCall call;
  Behaviour b;
  b.echo = true;
  for (const char* text : {"", "one", "  lead and trail  ", "a\tb\n\nc d", "   "}) {
    call.last_user_text = text;
    Answer a = plan_answer(call, b);
    std::string joined;
    for (const auto& p : a.pieces) joined += p;
    EXPECT_EQ(joined, text);
    EXPECT_EQ(a.completion_tokens, static_cast<std::int64_t>(a.pieces.size()));
  }
  call.last_user_text = "x y z";
  EXPECT_EQ(plan_answer(call, b).pieces.size(), 3u);
}

TEST(PlanAnswer, MaxTokensTruncatesWithLength) {
  ChatCall call =
      parse_ok(R"({"model":"m","max_tokens":2,"messages":[{"role":"user","content":"x"}]})");
  Behaviour b;
  Answer a = plan_answer(call, b);
  EXPECT_EQ(a.pieces.size(), 2u);
  EXPECT_EQ(a.finish_reason, "length");
  EXPECT_EQ(a.completion_tokens, 2);
}

TEST(PlanAnswer, CachedTokensCappedAtPrompt) {
  ChatCall call = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"a b"}]})");
  Behaviour b;
  b.cached_tokens = 10;
  EXPECT_EQ(plan_answer(call, b).cached_tokens, 2);
  b.cached_tokens = 1;
  EXPECT_EQ(plan_answer(call, b).cached_tokens, 1);
}

TEST(CompletionBody, OpenAIShape) {
  ChatCall call = parse_ok(R"({"model":"m\"q","messages":[{"role":"user","content":"a b"}]})");
  Behaviour b;
  b.tokens = 2;
  b.cached_tokens = 1;
  json doc = json::parse(completion_body(call, plan_answer(call, b), "chatcmpl-1", 1700000000));
  EXPECT_EQ(doc["id"], "chatcmpl-1");
  EXPECT_EQ(doc["object"], "chat.completion");
  EXPECT_EQ(doc["created"], 1700000000);
  EXPECT_EQ(doc["model"], "m\"q");
  ASSERT_EQ(doc["choices"].size(), 1u);
  EXPECT_EQ(doc["choices"][0]["index"], 0);
  EXPECT_EQ(doc["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(doc["choices"][0]["message"]["content"], "tok0 tok1");
  EXPECT_EQ(doc["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(doc["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(doc["usage"]["completion_tokens"], 2);
  EXPECT_EQ(doc["usage"]["total_tokens"], 4);
  EXPECT_EQ(doc["usage"]["prompt_tokens_details"]["cached_tokens"], 1);

  b.usage = false;
  doc = json::parse(completion_body(call, plan_answer(call, b), "x", 1));
  EXPECT_FALSE(doc.contains("usage"));
}

TEST(CompletionBody, ToolCall) {
  ChatCall call = parse_ok(R"({"model":"m","messages":[{"role":"user","content":"w"}]})");
  Behaviour b;
  b.tool_call = true;
  json doc = json::parse(completion_body(call, plan_answer(call, b), "x", 1));
  const auto& choice = doc["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  const auto& tc = choice["message"]["tool_calls"][0];
  EXPECT_EQ(tc["type"], "function");
  EXPECT_EQ(tc["id"], kToolCallId);
  EXPECT_EQ(tc["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(tc["function"]["arguments"].get<std::string>()),
            json({{"city", "Paris"}, {"unit", "celsius"}}));
}

// Runs a whole stream through the writer the way the server sequences it.
std::string whole_stream(const ChatCall& call, const Answer& a) {
  ChunkWriter w(call, a, "chatcmpl-s", 42);
  std::string out;
  w.first(out);
  for (std::size_t i = 0; i < a.events(); ++i) w.event(i, out);
  w.finish(out);
  w.usage(out);
  ChunkWriter::done(out);
  return out;
}

TEST(ChunkWriter, StreamWithUsage) {
  ChatCall call = parse_ok(R"({"model":"m","stream":true,"stream_options":{"include_usage":true},
                               "messages":[{"role":"user","content":"q \"quoted\"\n"}]})");
  Behaviour b;
  b.tokens = 3;
  Answer a = plan_answer(call, b);
  auto lines = data_lines(whole_stream(call, a));
  ASSERT_EQ(lines.size(), 1u + 3u + 1u + 1u + 1u);
  EXPECT_EQ(lines.back(), "[DONE]");
  std::string text;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    json chunk = json::parse(lines[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["id"], "chatcmpl-s");
    EXPECT_EQ(chunk["model"], "m");
    EXPECT_EQ(chunk["created"], 42);
    ASSERT_TRUE(chunk.contains("usage"));
    if (i + 2 == lines.size()) {
      EXPECT_TRUE(chunk["choices"].empty());
      EXPECT_EQ(chunk["usage"]["prompt_tokens"], 2);
      EXPECT_EQ(chunk["usage"]["completion_tokens"], 3);
      EXPECT_EQ(chunk["usage"]["total_tokens"], 5);
      EXPECT_EQ(chunk["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
      continue;
    }
    EXPECT_TRUE(chunk["usage"].is_null());
    const auto& delta = chunk["choices"][0]["delta"];
    if (i == 0) {
      EXPECT_EQ(delta["role"], "assistant");
    }
    if (delta.contains("content")) text += delta["content"].get<std::string>();
    EXPECT_EQ(chunk["choices"][0]["finish_reason"].is_null(), i + 3 != lines.size());
  }
  EXPECT_EQ(text, "tok0 tok1 tok2");
}

TEST(ChunkWriter, NoUsageUnlessAskedOrWhenOff) {
  ChatCall call =
      parse_ok(R"({"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]})");
  Behaviour b;
  b.tokens = 1;
  auto lines = data_lines(whole_stream(call, plan_answer(call, b)));
  ASSERT_EQ(lines.size(), 4u);  // role, one token, finish, [DONE]
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_FALSE(json::parse(lines[i]).contains("usage"));
  }
  call.include_usage = true;
  b.usage = false;
  EXPECT_EQ(data_lines(whole_stream(call, plan_answer(call, b))).size(), 4u);
}

TEST(ChunkWriter, ToolCallFragmentsJoinToValidArguments) {
  ChatCall call =
      parse_ok(R"({"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]})");
  Behaviour b;
  b.tool_call = true;
  auto lines = data_lines(whole_stream(call, plan_answer(call, b)));
  ASSERT_EQ(lines.size(), 1u + kToolArgumentFragments.size() + 2u);
  json first = json::parse(lines[0]);
  const auto& call0 = first["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(call0["id"], kToolCallId);
  EXPECT_EQ(call0["function"]["name"], "get_weather");
  std::string args;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    json chunk = json::parse(lines[i]);
    const auto& delta = chunk["choices"][0]["delta"];
    if (delta.contains("tool_calls")) {
      EXPECT_EQ(delta["tool_calls"][0]["index"], 0);
      args += delta["tool_calls"][0]["function"]["arguments"].get<std::string>();
    }
  }
  EXPECT_EQ(json::parse(lines[lines.size() - 2])["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(json::parse(args), json({{"city", "Paris"}, {"unit", "celsius"}}));
}

TEST(ChunkWriter, ParallelToolCallsStreamOneAfterTheOther) {
  ChatCall call =
      parse_ok(R"({"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]})");
  Behaviour b;
  ASSERT_EQ(apply_behaviour("parallel_tools=1", b), "");
  const Answer answer = plan_answer(call, b);
  EXPECT_EQ(answer.finish_reason, "tool_calls");
  auto lines = data_lines(whole_stream(call, answer));
  std::map<int, std::string> args, ids, names;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    json chunk = json::parse(lines[i]);
    const auto& delta = chunk["choices"][0]["delta"];
    if (!delta.contains("tool_calls")) continue;
    for (const auto& tc : delta["tool_calls"]) {
      const int index = tc["index"];
      if (tc.contains("id")) ids[index] = tc["id"];
      if (tc["function"].contains("name")) names[index] = tc["function"]["name"];
      args[index] += tc["function"]["arguments"].get<std::string>();
    }
  }
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(ids[0], kToolCallId);
  EXPECT_EQ(ids[1], kToolCallId2);
  EXPECT_EQ(names[1], "get_time");
  EXPECT_EQ(json::parse(args[0]), json({{"city", "Paris"}, {"unit", "celsius"}}));
  EXPECT_EQ(json::parse(args[1]), json({{"timezone", "Europe/Paris"}}));
  const json whole = json::parse(completion_body(call, answer, "id", 1));
  const auto& calls = whole["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1]["id"], kToolCallId2);
  EXPECT_EQ(json::parse(calls[1]["function"]["arguments"].get<std::string>()),
            json({{"timezone", "Europe/Paris"}}));
}

TEST(Inspect, SummarisesToolResultsAndImagesItReceived) {
  const std::string png = std::string(tiny_png());
  ChatCall call = parse_ok(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},)"
      R"({"type":"image_url","image_url":{"url":"data:image/png;base64,)" +
      base64(png) +
      R"("}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
      R"("function":{"name":"f","arguments":"{}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\":18}"}]})");
  EXPECT_EQ(call.inspection,
            "saw: " + describe_image("image/png", png) + "; tool_result call_1 {\"temp_c\":18}");
  EXPECT_EQ(describe_image("image/png", png).substr(0, 25), "image image/png 67 bytes ");
  Behaviour b;
  ASSERT_EQ(apply_behaviour("inspect=1", b), "");
  std::string content;
  for (const auto& p : plan_answer(call, b).pieces) content += p;
  EXPECT_EQ(content, call.inspection);
  EXPECT_EQ(parse_ok(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})").inspection,
            "saw: nothing");
}

TEST(Base64, DecodesWhatItEncodes) {
  std::string out;
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\x10\x01"}) {
    ASSERT_TRUE(base64_decode(base64(s), out)) << s;
    EXPECT_EQ(out, s);
  }
  EXPECT_TRUE(base64_decode("YWI", out));  // padding optional
  EXPECT_EQ(out, "ab");
  EXPECT_FALSE(base64_decode("YW!=", out));
  EXPECT_FALSE(base64_decode("Y", out));
}

TEST(ChunkWriter, GarbageIsNotJson) {
  std::string out;
  ChunkWriter::garbage(out);
  auto lines = data_lines(out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(json::parse(lines[0], nullptr, false).is_discarded());
}

TEST(ErrorBody, OpenAIShapeWithNulls) {
  json doc = json::parse(error_body("bad \"thing\"", "invalid_request_error", "", ""));
  EXPECT_EQ(doc["error"]["message"], "bad \"thing\"");
  EXPECT_EQ(doc["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(doc["error"]["param"].is_null());
  EXPECT_TRUE(doc["error"]["code"].is_null());
  doc = json::parse(error_body("m", "t", "messages", "c"));
  EXPECT_EQ(doc["error"]["param"], "messages");
  EXPECT_EQ(doc["error"]["code"], "c");
}

TEST(ErrorShape, StatusesMapToOpenAITypes) {
  EXPECT_EQ(error_shape(400).type, "invalid_request_error");
  EXPECT_EQ(error_shape(401).code, "invalid_api_key");
  EXPECT_EQ(error_shape(429).code, "rate_limit_exceeded");
  EXPECT_EQ(error_shape(500).type, "server_error");
  EXPECT_EQ(error_shape(503).type, "server_error");
}

TEST(JsonString, EscapesControlCharacters) {
  std::string in = "a\"b\\c\n\r\t";
  in += '\x01';
  in += '\x1f';
  in += "é";
  std::string out;
  append_json_string(out, in);
  EXPECT_EQ(json::parse(out).get<std::string>(), in);
}

// --- non-chat routes -------------------------------------------------------------------------

std::uint32_t crc32(std::string_view data) {
  std::uint32_t c = 0xffffffffu;
  for (unsigned char b : data) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

TEST(MockOps, TinyPngIsAWellFormedPng) {
  const std::string_view png = tiny_png();
  ASSERT_EQ(png.substr(0, 8), std::string_view("\x89PNG\r\n\x1a\n", 8));
  std::size_t pos = 8;
  std::vector<std::string> types;
  while (pos + 12 <= png.size()) {
    auto u32 = [&](std::size_t at) {
      return (std::uint32_t{static_cast<unsigned char>(png[at])} << 24) |
             (std::uint32_t{static_cast<unsigned char>(png[at + 1])} << 16) |
             (std::uint32_t{static_cast<unsigned char>(png[at + 2])} << 8) |
             std::uint32_t{static_cast<unsigned char>(png[at + 3])};
    };
    const std::uint32_t len = u32(pos);
    ASSERT_LE(pos + 12 + len, png.size());
    EXPECT_EQ(crc32(png.substr(pos + 4, 4 + len)), u32(pos + 8 + len)) << "chunk CRC";
    types.emplace_back(png.substr(pos + 4, 4));
    pos += 12 + len;
  }
  EXPECT_EQ(pos, png.size());
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
}

TEST(MockOps, EmbeddingVectorsAreUnitAndDeterministic) {
  const auto a = embedding_for("hello", 8);
  const auto b = embedding_for("hello", 8);
  const auto c = embedding_for("hellp", 8);
  ASSERT_EQ(a.size(), 8u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double norm = 0;
  for (float x : a) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST(MockOps, ParsesNonChatBodies) {
  EmbeddingsCall e;
  EXPECT_FALSE(parse_embeddings(R"({"model":"m","input":[[1,2],[3]],"dimensions":16})", e));
  EXPECT_EQ(e.inputs, (std::vector<std::string>{"1 2", "3"}));
  EXPECT_EQ(e.prompt_tokens, 3);
  EXPECT_EQ(e.dims, 16);
  EXPECT_EQ(parse_embeddings(R"({"model":"m","input":"x","dimensions":0})", e)->param,
            "dimensions");
  EXPECT_EQ(parse_embeddings(R"({"input":"x"})", e)->param, "model");
  ImageCall i;
  EXPECT_FALSE(parse_image(R"({"model":"m","prompt":"p","response_format":"url","n":3})", i));
  EXPECT_TRUE(i.url);
  EXPECT_EQ(i.n, 3);
  EXPECT_EQ(parse_image(R"({"model":"m","prompt":"p","n":11})", i)->param, "n");
  CompletionCall k;
  EXPECT_FALSE(parse_completion(R"({"model":"m","prompt":"a b","echo":true,"max_tokens":2})", k));
  const Answer ans = plan_completion(k, Behaviour{});
  std::string text;
  for (const auto& p : ans.pieces) text += p;
  EXPECT_EQ(text, "a btok0 tok1");
  EXPECT_EQ(ans.finish_reason, "length");
  EXPECT_EQ(parse_completion(R"({"model":"m"})", k)->param, "prompt");
}

}  // namespace
}  // namespace infergate::mock
