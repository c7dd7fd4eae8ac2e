#include "anthropic_adapter.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <nlohmann/json.hpp>

#include "../src/test_upstream.hpp"

namespace infergate::adapters {
namespace {

using namespace testing;
using namespace boost::asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using Type = api::Event::Type;
using json = nlohmann::json;

constexpr const char* kKey = "sk-ant-test-SECRET-0123456789";

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(INFERGATE_SOURCE_DIR) + "/adapters/anthropic/testdata/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Collects events. Commits (as the gateway's writer does once bytes reach the client) after
// `commit_after` events; reports the client gone after `gone_after` events.
class CollectingSink : public api::EventSink {
 public:
  int commit_after = 1;  // <0: never commits
  int gone_after = -1;   // <0: never
  std::vector<api::Event> events;

  asio::awaitable<bool> on_event(api::Event ev) override {
    events.push_back(std::move(ev));
    const int n = static_cast<int>(events.size());
    co_return gone_after < 0 || n < gone_after;
  }
  bool committed() const override {
    return commit_after >= 0 && static_cast<int>(events.size()) >= commit_after;
  }
  std::vector<Type> types() const {
    std::vector<Type> t;
    for (const auto& e : events) t.push_back(e.type);
    return t;
  }
  std::string text() const {
    std::string s;
    for (const auto& e : events)
      if (e.type == Type::text) s += e.text;
    return s;
  }
};

config::ProviderConfig provider_for(const TestUpstream& up) {
  config::ProviderConfig p;
  p.name = "claude";
  p.type = "anthropic";
  p.base_url = up.url("/v1");
  p.api_key = kKey;
  p.connect_timeout = 2s;
  p.first_byte_timeout = 5s;
  p.idle_timeout = 5s;
  p.total_timeout = 15s;
  return p;
}

api::ChatRequest chat_request(bool stream, json extra = json::object()) {
  api::ChatRequest r;
  r.model = "public-claude";
  r.stream = stream;
  r.body = json{{"model", "public-claude"},
                {"messages", json::array({json{{"role", "system"}, {"content", "Be brief."}},
                                          json{{"role", "user"}, {"content", "Hello"}}})},
                {"temperature", 0.5}};
  if (stream) r.body["stream"] = true;
  for (auto it = extra.begin(); it != extra.end(); ++it) r.body[it.key()] = it.value();
  return r;
}

struct Run {
  AttemptResult result;
  std::vector<std::string> dropped;
};

// Runs `calls` adapter calls against `up`; `sink` receives the events.
Run run_chat(const TestUpstream& up, const api::ChatRequest& request, CollectingSink& sink,
             config::ProviderConfig* override_provider = nullptr, int calls = 1) {
  auto provider = override_provider ? *override_provider : provider_for(up);
  auto adapter = std::make_unique<AnthropicAdapter>(provider);
  Run run;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    for (int i = 0; i < calls; ++i) {
      CallContext ctx;
      ctx.http = &client;
      ctx.request_id = "req-42";
      ctx.deadline = Clock::now() + 20s;
      Target target{&provider, "claude-sonnet-4-20250514"};
      run.result = co_await adapter->chat(request, target, ctx, sink);
      run.dropped = ctx.dropped_params;
    }
  });
  return run;
}

// "Messages > Create a Message" response example (testdata/message_text.json).
TEST(AnthropicAdapter, NonStreaming) {
  const std::string body = fixture("message_text.json");
  TestUpstream up([body](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, body));
  });
  CollectingSink sink;
  const auto run = run_chat(up, chat_request(false), sink);
  const auto& r = run.result;
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.upstream_status, 200);
  EXPECT_EQ(r.usage.prompt_tokens, 2095 + 1800 + 100);
  EXPECT_EQ(r.usage.completion_tokens, 503);
  EXPECT_EQ(r.usage.cached_tokens, 1800);
  EXPECT_EQ(r.usage.cache_write_tokens, 100);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(sink.text(), "Hi! My name is Claude.");

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/messages");
  EXPECT_EQ(reqs[0].header("x-api-key"), kKey);
  EXPECT_EQ(reqs[0].header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(reqs[0].header("authorization"), "");
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].header("x-request-id"), "req-42");
  const json sent = json::parse(reqs[0].body);
  EXPECT_EQ(sent["model"], "claude-sonnet-4-20250514");
  EXPECT_EQ(sent["system"], "Be brief.");
  EXPECT_EQ(sent["messages"], json::parse(R"([{"role":"user","content":"Hello"}])"));
  EXPECT_EQ(sent["max_tokens"], 4096);
  EXPECT_EQ(sent["temperature"], 0.5);
  EXPECT_FALSE(sent.contains("stream"));
}

// "Streaming Messages > Streaming request with tool use" (testdata/stream_tool_use.sse), cut
// into chunks at awkward places; two calls on one keep-alive connection.
TEST(AnthropicAdapter, StreamingRelaysEventsAndReusesConnection) {
  const std::string stream = fixture("stream_tool_use.sse");
  TestUpstream up([stream](Peer& p, const Request&) -> asio::awaitable<bool> {
    std::string out = sse_head();
    for (std::size_t pos = 0; pos < stream.size(); pos += 97)
      out += chunk(std::string_view(stream).substr(pos, 97));
    out += kLastChunk;
    co_return co_await p.write(out);
  });
  CollectingSink sink;
  const auto run = run_chat(up, chat_request(true), sink, nullptr, 2);
  const auto& r = run.result;
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.usage.prompt_tokens, 472);
  EXPECT_EQ(r.usage.completion_tokens, 89);
  api::ResponseBuilder b;
  std::vector<api::Event> second(sink.events.begin() + static_cast<long>(sink.events.size() / 2),
                                 sink.events.end());
  for (const auto& e : second) b.add(e);
  const auto& resp = b.response();
  EXPECT_EQ(resp.id, "msg_014p7gG3wDgGV9EUtLvnow3U");
  ASSERT_EQ(resp.choices.size(), 1u);
  EXPECT_EQ(resp.choices[0].content, "Okay, let's check the weather for San Francisco, CA:");
  ASSERT_EQ(resp.choices[0].tool_calls.size(), 1u);
  EXPECT_EQ(json::parse(resp.choices[0].tool_calls[0].arguments)["unit"], "fahrenheit");
  EXPECT_EQ(resp.choices[0].finish, api::FinishReason::tool_calls);
  EXPECT_EQ(second.back().type, Type::usage);
  EXPECT_EQ(up.connections(), 1);  // the drained stream left the connection reusable

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("accept"), "text/event-stream");
  EXPECT_EQ(json::parse(reqs[0].body)["stream"], true);
}

TEST(AnthropicAdapter, RateLimitedBeforeCommitDeliversNothing) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        429,
        R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your per-minute rate limit"}})",
        "retry-after: 3\r\n"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, chat_request(true), sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.upstream_status, 429);
  EXPECT_EQ(r.error.kind, api::ErrorKind::rate_limited);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.retry_after_s, 3);
  EXPECT_TRUE(sink.events.empty());
}

TEST(AnthropicAdapter, OverloadedIsRetryable) {
  const std::string body = fixture("error_overloaded.json");
  TestUpstream up([body](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(529, body));
  });
  CollectingSink sink;
  const auto r = run_chat(up, chat_request(false), sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.upstream_status, 529);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_TRUE(sink.events.empty());
}

TEST(AnthropicAdapter, AuthFailureNeverEchoesTheKey) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        401,
        std::string(
            R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key )") +
            kKey + "\"}}"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, chat_request(false), sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_EQ(r.error.message.find("SECRET"), std::string::npos);
}

TEST(AnthropicAdapter, UnsupportedParamsDroppedOrRejectedBeforeAnyUpstreamCall) {
  const std::string body = fixture("message_text.json");
  TestUpstream up([body](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, body));
  });
  CollectingSink sink;
  auto p = provider_for(up);
  p.drop_unsupported_params = true;
  auto run = run_chat(up, chat_request(false, {{"seed", 7}, {"n", 1}}), sink, &p);
  EXPECT_TRUE(run.result.ok) << run.result.error.message;
  EXPECT_EQ(run.dropped, (std::vector<std::string>{"seed"}));
  ASSERT_EQ(up.requests().size(), 1u);
  EXPECT_FALSE(json::parse(up.requests()[0].body).contains("seed"));

  p.drop_unsupported_params = false;
  CollectingSink sink2;
  run = run_chat(up, chat_request(false, {{"seed", 7}}), sink2, &p);
  EXPECT_FALSE(run.result.ok);
  EXPECT_EQ(run.result.error.status, 400);
  EXPECT_EQ(run.result.error.param, "seed");
  EXPECT_FALSE(run.result.error.retryable);
  EXPECT_TRUE(sink2.events.empty());
  EXPECT_EQ(up.requests().size(), 1u);  // nothing went upstream
}

// The stream breaks after some events were relayed.
asio::awaitable<bool> reset_mid_stream(Peer& p, const Request&) {
  const std::string s = fixture("stream_basic.sse");
  // Up to and including the first text delta.
  const auto end = s.find("\n\n", s.find("\"Hello\"")) + 2;
  co_await p.write(sse_head() + chunk(s.substr(0, end)));
  co_await p.sleep(20ms);
  p.close();
  co_return false;
}

TEST(AnthropicAdapter, ResetMidStreamAfterCommitDeliversErrorEvent) {
  TestUpstream up(reset_mid_stream);
  CollectingSink sink;
  const auto r = run_chat(up, chat_request(true), sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::error}));
  EXPECT_EQ(sink.events.back().error.status, 502);
  EXPECT_TRUE(r.error.retryable);
}

TEST(AnthropicAdapter, ResetMidStreamBeforeCommitDeliversNoError) {
  TestUpstream up(reset_mid_stream);
  CollectingSink sink;
  sink.commit_after = -1;
  const auto r = run_chat(up, chat_request(true), sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  for (const auto& e : sink.events) EXPECT_NE(e.type, Type::error);
}

// "Streaming Messages > Error events": overloaded_error after content was relayed.
TEST(AnthropicAdapter, ErrorEventMidStream) {
  const std::string s = fixture("stream_error.sse");
  TestUpstream up([s](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(sse_head() + chunk(s) + std::string(kLastChunk));
  });
  CollectingSink sink;
  auto r = run_chat(up, chat_request(true), sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::error}));
  EXPECT_EQ(sink.events.back().error.code, "upstream_overloaded");
  EXPECT_TRUE(r.error.retryable);

  CollectingSink quiet;  // before commit: no error event, the gateway may fall back
  quiet.commit_after = -1;
  r = run_chat(up, chat_request(true), quiet).result;
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  for (const auto& e : quiet.events) EXPECT_NE(e.type, Type::error);
}

TEST(AnthropicAdapter, CleanEndWithoutStopIsAnError) {
  const std::string s = fixture("stream_basic.sse");
  const std::string partial = s.substr(0, s.find("event: content_block_stop"));
  TestUpstream up([partial](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(sse_head() + chunk(partial) + std::string(kLastChunk));
  });
  CollectingSink sink;
  const auto r = run_chat(up, chat_request(true), sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.types().back(), Type::error);
}

TEST(AnthropicAdapter, NonSseAnswerToStreamingRequest) {
  const std::string body = fixture("message_text.json");
  TestUpstream up([body](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, body));
  });
  CollectingSink sink;
  const auto r = run_chat(up, chat_request(true), sink).result;
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(sink.text(), "Hi! My name is Claude.");
}

// A streaming upstream that keeps producing until the client closes.
asio::awaitable<bool> endless_stream(Peer& p, const Request&) {
  std::string head =
      sse_head() +
      chunk(
          "event: message_start\ndata: "
          R"({"type":"message_start","message":{"id":"msg_x","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}})"
          "\n\nevent: content_block_start\ndata: "
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
          "\n\n");
  if (!co_await p.write(head)) co_return false;
  for (int i = 0; i < 400; ++i) {
    if (!co_await p.write(chunk(
            "event: content_block_delta\ndata: "
            R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})"
            "\n\n")))
      break;
    co_await p.sleep(25ms);
  }
  co_await p.wait_close();
  co_return false;
}

TEST(AnthropicAdapter, ClientGoneAbortsUpstream) {
  TestUpstream up(endless_stream);
  CollectingSink sink;
  sink.gone_after = 3;
  const auto t0 = Clock::now();
  const auto r = run_chat(up, chat_request(true), sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.events.size(), 3u);
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
}

TEST(AnthropicAdapter, CancellationClosesUpstreamPromptly) {
  TestUpstream up(endless_stream);
  auto provider = provider_for(up);
  auto adapter = std::make_unique<AnthropicAdapter>(provider);
  CollectingSink sink;
  Clock::time_point cancelled_at;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    Target target{&provider, "m"};
    auto timer = [&]() -> asio::awaitable<void> {
      asio::steady_timer t(co_await asio::this_coro::executor, 200ms);
      co_await t.async_wait(kTok);
      cancelled_at = Clock::now();
    };
    auto request = chat_request(true);
    co_await (adapter->chat(request, target, ctx, sink) || timer());
    EXPECT_EQ(client.idle_connections(), 0u);
  });
  EXPECT_GE(sink.events.size(), 2u);
  ASSERT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
  EXPECT_LT(up.last_close() - cancelled_at, 500ms);
}

TEST(AnthropicAdapter, BadBaseUrlFailsRetryably) {
  config::ProviderConfig p;
  p.type = "anthropic";
  p.base_url = "not a url";
  auto adapter = std::make_unique<AnthropicAdapter>(p);
  CollectingSink sink;
  AttemptResult r;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    Target target{&p, "m"};
    const auto request = chat_request(false);
    r = co_await adapter->chat(request, target, ctx, sink);
  });
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
}

// Token counting: "Messages > Count tokens in a Message" (testdata/count_tokens_response.json).
AttemptResult run_count(const TestUpstream& up, api::CountTokensResponse& out) {
  auto provider = provider_for(up);
  auto adapter = std::make_unique<AnthropicAdapter>(provider);
  AttemptResult r;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    ctx.request_id = "req-7";
    ctx.deadline = Clock::now() + 20s;
    Target target{&provider, "claude-sonnet-4-20250514"};
    auto request = chat_request(false, {{"max_tokens", 99}});
    r = co_await adapter->count_tokens(request, target, ctx, out);
  });
  return r;
}

TEST(AnthropicAdapter, CountTokens) {
  const std::string body = fixture("count_tokens_response.json");
  TestUpstream up([body](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, body));
  });
  api::CountTokensResponse out;
  const auto r = run_count(up, out);
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(out.input_tokens, 403);
  EXPECT_FALSE(r.usage.reported);  // a count is not usage
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/messages/count_tokens");
  EXPECT_EQ(reqs[0].header("x-api-key"), kKey);
  EXPECT_EQ(reqs[0].header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(reqs[0].header("accept"), "application/json");
  EXPECT_EQ(json::parse(reqs[0].body), json::parse(R"({"model":"claude-sonnet-4-20250514",
      "system":"Be brief.","messages":[{"role":"user","content":"Hello"}]})"));
}

TEST(AnthropicAdapter, CountTokensWithoutTheRouteIsUnsupportedAndErrorsMap) {
  TestUpstream missing([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(404, R"({"type":"error","error":{"type":"not_found_error",
        "message":"Not found"}})"));
  });
  api::CountTokensResponse out;
  auto r = run_count(missing, out);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.code, "unsupported_operation");
  EXPECT_TRUE(r.error.retryable);

  const std::string overloaded = fixture("error_overloaded.json");
  TestUpstream busy([overloaded](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(529, overloaded));
  });
  r = run_count(busy, out);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.upstream_status, 529);

  TestUpstream garbage([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, R"({"tokens": 5})"));
  });
  r = run_count(garbage, out);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.kind, api::ErrorKind::upstream);
}

}  // namespace
}  // namespace infergate::adapters
