// The mock Anthropic provider: its wire format, and the server in-process on an ephemeral port.
#include "mock_anthropic.hpp"

#include <map>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "mock_anthropic_server.hpp"

namespace infergate::mock::anthropic {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;

// The SSE events of a body: (event name, parsed data).
std::vector<std::pair<std::string, json>> events_of(const std::string& sse) {
  std::vector<std::pair<std::string, json>> out;
  std::size_t pos = 0;
  while (pos < sse.size()) {
    const auto end = sse.find("\n\n", pos);
    if (end == std::string::npos) break;
    const std::string ev = sse.substr(pos, end - pos);
    const auto nl = ev.find('\n');
    EXPECT_EQ(ev.rfind("event: ", 0), 0u) << ev;
    EXPECT_EQ(ev.compare(nl + 1, 6, "data: "), 0) << ev;
    out.emplace_back(ev.substr(7, nl - 7), json::parse(ev.substr(nl + 7), nullptr, false));
    pos = end + 2;
  }
  return out;
}

MessagesCall call_of(const std::string& body) {
  MessagesCall c;
  auto bad = parse_messages(body, c);
  EXPECT_FALSE(bad) << bad->message;
  return c;
}

TEST(MockAnthropicWire, ValidatesLikeTheApi) {
  MessagesCall c;
  EXPECT_TRUE(parse_messages("nope", c));
  EXPECT_NE(parse_messages(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", c)
                ->message.find("max_tokens"),
            std::string::npos);
  EXPECT_TRUE(parse_messages(R"({"model":"m","max_tokens":5,"messages":[]})", c));
  EXPECT_TRUE(parse_messages(
      R"({"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]})", c));
  EXPECT_TRUE(parse_messages(
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"n":1})", c));
  EXPECT_TRUE(parse_messages(
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]})",
      c));
  c = call_of(
      R"({"model":"m","max_tokens":5,"system":"be brief","messages":[{"role":"user","content":[{"type":"text","text":"one two"}]},{"role":"assistant","content":"three"}],"stream":true})");
  EXPECT_EQ(c.prompt_tokens, 5);
  EXPECT_EQ(c.last_user_text, "one two");
  EXPECT_TRUE(c.stream);
}

TEST(MockAnthropicWire, StreamHasTheDocumentedEventSequence) {
  const auto c = call_of(
      R"({"model":"m?tokens=3","max_tokens":100,"messages":[{"role":"user","content":"a b"}]})");
  Behaviour b;
  ASSERT_EQ(behaviour_for(c.model, "", b), "");
  const Answer a = plan_answer(c, b);
  const EventWriter w(c, a, "msg_1");
  std::string sse;
  w.start(sse);
  for (std::size_t i = 0; i < a.events(); ++i) w.delta(i, sse);
  w.finish(sse);
  const auto ev = events_of(sse);
  std::vector<std::string> names;
  for (const auto& [n, d] : ev) {
    names.push_back(n);
    EXPECT_EQ(d["type"], n);  // the data's type matches the event name
  }
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "content_block_start", "ping",
                                             "content_block_delta", "content_block_delta",
                                             "content_block_delta", "content_block_stop",
                                             "message_delta", "message_stop"}));
  EXPECT_EQ(ev[0].second["message"]["usage"]["input_tokens"], 2);
  EXPECT_EQ(ev[7].second["delta"]["stop_reason"], "end_turn");
  EXPECT_EQ(ev[7].second["usage"]["output_tokens"], 3);
}

TEST(MockAnthropicWire, ToolUseAndMaxTokens) {
  auto c = call_of(
      R"({"model":"m?tool_call=1","max_tokens":100,"messages":[{"role":"user","content":"x"}]})");
  Behaviour b;
  behaviour_for(c.model, "", b);
  auto a = plan_answer(c, b);
  const json m = json::parse(message_body(c, a, "msg_2"));
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_EQ(m["content"][0]["type"], "tool_use");
  EXPECT_EQ(m["content"][0]["input"]["city"], "Paris");

  c = call_of(R"({"model":"m","max_tokens":2,"messages":[{"role":"user","content":"x"}]})");
  behaviour_for(c.model, "", b);
  a = plan_answer(c, b);
  EXPECT_EQ(json::parse(message_body(c, a, "msg_3"))["stop_reason"], "max_tokens");
  EXPECT_EQ(json::parse(message_body(c, a, "msg_3"))["content"][0]["text"], "tok0 tok1");
}

TEST(MockAnthropicWire, ParallelToolUseBlocksStreamOneAfterTheOther) {
  const auto c = call_of(
      R"({"model":"m?parallel_tools=1","max_tokens":100,"messages":[{"role":"user","content":"x"}]})");
  Behaviour b;
  ASSERT_EQ(behaviour_for(c.model, "", b), "");
  const Answer a = plan_answer(c, b);
  const json m = json::parse(message_body(c, a, "msg_p"));
  ASSERT_EQ(m["content"].size(), 2u);
  EXPECT_EQ(m["content"][1]["id"], kToolUseId2);
  EXPECT_EQ(m["content"][1]["input"], json({{"timezone", "Europe/Paris"}}));
  const EventWriter w(c, a, "msg_p");
  std::string sse;
  w.start(sse);
  for (std::size_t i = 0; i < a.events(); ++i) w.delta(i, sse);
  w.finish(sse);
  std::map<int, std::string> input, ids;
  std::vector<std::string> names;
  int open = -1;
  for (const auto& [n, d] : events_of(sse)) {
    if (n == "ping") continue;
    names.push_back(n);
    if (n == "content_block_start") {
      EXPECT_EQ(open, -1) << "a block opened before the previous one closed";
      open = d["index"];
      ids[open] = d["content_block"]["id"];
    } else if (n == "content_block_delta") {
      EXPECT_EQ(d["index"], open);
      input[open] += d["delta"]["partial_json"].get<std::string>();
    } else if (n == "content_block_stop") {
      EXPECT_EQ(d["index"], open);
      open = -1;
    }
  }
  EXPECT_EQ(names.front(), "message_start");
  EXPECT_EQ(names.back(), "message_stop");
  EXPECT_EQ(ids[0], kToolUseId);
  EXPECT_EQ(ids[1], kToolUseId2);
  EXPECT_EQ(json::parse(input[0]), json({{"city", "Paris"}, {"unit", "celsius"}}));
  EXPECT_EQ(json::parse(input[1]), json({{"timezone", "Europe/Paris"}}));
}

TEST(MockAnthropicWire, InspectSaysWhatToolResultsAndImagesArrived) {
  const std::string png = std::string(tiny_png());
  const auto c = call_of(
      R"({"model":"m?inspect=1","max_tokens":100,"messages":[)"
      R"({"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":")" +
      base64(png) +
      R"("}},{"type":"text","text":"weather?"}]},)"
      R"({"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},)"
      R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"18 C"}]}]}]})");
  EXPECT_EQ(c.inspection,
            "saw: " + describe_image("image/png", png) + "; tool_result toolu_1 18 C");
  Behaviour b;
  ASSERT_EQ(behaviour_for(c.model, "", b), "");
  const json m = json::parse(message_body(c, plan_answer(c, b), "msg_i"));
  EXPECT_EQ(m["content"][0]["text"], c.inspection);
}

TEST(MockAnthropicWire, ErrorShapes) {
  EXPECT_EQ(error_type(529).type, "overloaded_error");
  EXPECT_EQ(error_type(429).type, "rate_limit_error");
  EXPECT_EQ(error_type(401).type, "authentication_error");
  const json e = json::parse(error_body("overloaded_error", "Overloaded", "req_1"));
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "overloaded_error");
  EXPECT_EQ(e["request_id"], "req_1");
}

struct Reply {
  int status = 0;
  std::string body;
  std::string retry_after;
};

Reply post(std::uint16_t port, const std::string& target, const std::string& body,
           bool with_headers = true) {
  asio::io_context io;
  beast::tcp_stream s(io);
  s.expires_after(std::chrono::seconds(10));
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (with_headers) {
    req.set("x-api-key", "sk-ant-mock");
    req.set("anthropic-version", "2023-06-01");
  }
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(s, buf, res, ec);
  Reply r;
  r.status = ec ? -1 : static_cast<int>(res.result_int());
  r.body = res.body();
  r.retry_after = std::string(res["retry-after"]);
  return r;
}

TEST(MockAnthropicServer, AnswersChecksHeadersAndFails) {
  Server server(ServerOptions{});
  server.start();
  const auto port = server.port();
  const std::string body =
      R"({"model":"claude","max_tokens":64,"messages":[{"role":"user","content":"hello there"}]})";
  auto r = post(port, "/v1/messages", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const json m = json::parse(r.body);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["usage"]["input_tokens"], 2);

  r = post(port, "/v1/messages", body, /*with_headers=*/false);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "authentication_error");

  r = post(port, "/v1/messages", R"({"model":"claude","messages":[]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error");

  const std::string failing =
      R"({"model":"c?fail=1&fail_status=529&retry_after=4","max_tokens":64,"messages":[{"role":"user","content":"x"}]})";
  r = post(port, "/v1/messages", failing);
  EXPECT_EQ(r.status, 529);
  EXPECT_EQ(r.retry_after, "4");
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "overloaded_error");
  EXPECT_EQ(post(port, "/v1/messages", failing).status, 200);

  const std::string stream =
      R"({"model":"claude?tokens=2","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"x"}]})";
  r = post(port, "/v1/messages", stream);
  ASSERT_EQ(r.status, 200);
  const auto ev = events_of(r.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().first, "message_stop");

  asio::io_context io;
  beast::tcp_stream s(io);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> get{http::verb::get, "/_mock/last_request", 11};
  get.set(http::field::host, "x");
  http::write(s, get);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  const json last = json::parse(res.body());
  EXPECT_EQ(last["headers"]["x-api-key"], "sk-ant-mock");
  EXPECT_EQ(last["body"]["stream"], true);
  server.stop();
}

// "Messages > Count tokens in a Message": the count is a function of the request the tests can
// compute by hand.
TEST(MockAnthropicWire, CountTokensIsDeterministic) {
  std::int64_t n = -1;
  // system 4 words; message 1: 2 words + 1; message 2: 3 words + 1; tool: 1 + 5 words.
  EXPECT_FALSE(count_tokens(R"({"model":"claude","system":"You are a scientist",
      "messages":[{"role":"user","content":"Hello, Claude"},
                  {"role":"assistant","content":[{"type":"text","text":"Hi there friend"}]}],
      "tools":[{"name":"get_weather","description":"Get the weather right now",
                "input_schema":{"type":"object"}}]})",
                            n));
  EXPECT_EQ(n, 4 + 3 + 4 + 6);
  EXPECT_FALSE(count_tokens(R"({"model":"m","messages":[{"role":"user","content":"one"}]})", n));
  EXPECT_EQ(n, 2);

  EXPECT_TRUE(count_tokens(R"({"messages":[{"role":"user","content":"x"}]})", n));
  EXPECT_TRUE(count_tokens(R"({"model":"m","messages":[]})", n));
  for (const char* extra :
       {R"("max_tokens":5)", R"("stream":false)", R"("temperature":1)", R"("stop":"x")"}) {
    const auto bad = count_tokens(std::string(R"({"model":"m","messages":[{"role":"user",
        "content":"x"}],)") + extra + "}",
                                  n);
    ASSERT_TRUE(bad) << extra;
    EXPECT_NE(bad->message.find("Extra inputs are not permitted"), std::string::npos);
  }
}

TEST(MockAnthropicServer, CountTokensRoute) {
  Server server(ServerOptions{});
  server.start();
  const auto port = server.port();
  auto r = post(port, "/v1/messages/count_tokens",
                R"({"model":"claude","messages":[{"role":"user","content":"hello there"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"input_tokens":3})"));
  r = post(port, "/v1/messages/count_tokens",
           R"({"model":"claude","messages":[{"role":"user","content":"x"}]})", false);
  EXPECT_EQ(r.status, 401);
  r = post(port, "/v1/messages/count_tokens",
           R"({"model":"claude","max_tokens":1,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error");
  r = post(port, "/v1/messages/count_tokens",
           R"({"model":"c?fail=1&fail_status=529","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(r.status, 529);
  server.stop();
}

}  // namespace
}  // namespace infergate::mock::anthropic
