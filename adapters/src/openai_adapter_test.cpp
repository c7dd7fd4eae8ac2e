#include "infergate/adapters/openai_adapter.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <nlohmann/json.hpp>

#include "test_upstream.hpp"

namespace infergate::adapters {
namespace {

using namespace testing;
using namespace boost::asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using Type = api::Event::Type;
using json = nlohmann::json;

constexpr const char* kKey = "sk-test-SECRET-0123456789";

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
  p.name = "test";
  p.type = "openai";
  p.base_url = up.url("/v1");
  p.api_key = kKey;
  p.connect_timeout = 2s;
  p.first_byte_timeout = 5s;
  p.idle_timeout = 5s;
  p.total_timeout = 15s;
  return p;
}

api::ChatRequest chat_request(bool stream) {
  api::ChatRequest r;
  r.model = "public-model";
  r.stream = stream;
  r.body = json{{"model", "public-model"},
                {"messages", json::array({json{{"role", "user"}, {"content", "hi"}}})},
                {"temperature", 0.5}};
  if (stream) r.body["stream"] = true;
  return r;
}

// Runs one adapter call against `up` and returns its result; `sink` receives the events.
AttemptResult run_chat(const TestUpstream& up, bool stream, CollectingSink& sink,
                       config::ProviderConfig* override_provider = nullptr, int calls = 1) {
  auto provider = override_provider ? *override_provider : provider_for(up);
  auto adapter = std::make_unique<OpenAiAdapter>(provider);
  EXPECT_NE(adapter, nullptr);
  AttemptResult result;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    for (int i = 0; i < calls; ++i) {
      CallContext ctx;
      ctx.http = &client;
      ctx.request_id = "req-42";
      ctx.deadline = Clock::now() + 20s;
      Target target{&provider, "upstream/model-x"};
      result = co_await adapter->chat(chat_request(stream), target, ctx, sink);
    }
  });
  return result;
}

constexpr const char* kCompletion =
    R"({"id":"chatcmpl-1","object":"chat.completion","created":1741570283,"model":"upstream/model-x",
        "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},
                    "finish_reason":"stop"}],
        "usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14,
                 "prompt_tokens_details":{"cached_tokens":2}}})";

std::string sse(std::string_view data) { return "data: " + std::string(data) + "\n\n"; }

std::string chunk_json(std::string_view delta, std::string_view finish = "null") {
  return R"({"id":"chatcmpl-s","object":"chat.completion.chunk","created":1,"model":"upstream/model-x","choices":[{"index":0,"delta":)" +
         std::string(delta) + R"(,"finish_reason":)" + std::string(finish) + "}]}";
}

constexpr const char* kUsageChunk =
    R"({"id":"chatcmpl-s","object":"chat.completion.chunk","created":1,"model":"upstream/model-x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})";

TEST(OpenAiAdapter, NonStreaming) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, kCompletion));
  });
  CollectingSink sink;
  const auto r = run_chat(up, false, sink);
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.upstream_status, 200);
  EXPECT_EQ(r.usage.prompt_tokens, 11);
  EXPECT_EQ(r.usage.completion_tokens, 3);
  EXPECT_EQ(r.usage.cached_tokens, 2);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(sink.text(), "Hello there");

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(reqs[0].header("x-request-id"), "req-42");
  EXPECT_EQ(reqs[0].header("accept"), "application/json");
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["model"], "upstream/model-x");
  EXPECT_EQ(body["temperature"], 0.5);
  EXPECT_FALSE(body.contains("stream_options"));
}

TEST(OpenAiAdapter, StreamingRelaysEventsAndReusesConnection) {
  // Events split at awkward places: mid-line, between CR and LF, several in one chunk.
  const std::string stream =
      sse(chunk_json(R"({"role":"assistant","content":""})")) +
      sse(chunk_json(R"({"content":"Hel"})")) + "data: " + chunk_json(R"({"content":"lo"})") +
      "\r\n\r\n" +
      sse(chunk_json(
          R"({"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]})")) +
      ": keep-alive\n\n" +
      sse(chunk_json(R"({"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]})")) +
      sse(chunk_json("{}", "\"tool_calls\"")) + sse(kUsageChunk) + sse("[DONE]");
  TestUpstream up([stream](Peer& p, const Request&) -> asio::awaitable<bool> {
    std::string out = sse_head();
    const std::size_t cuts[] = {0, 7, 150, 151, 400, 401, 402, 900, stream.size()};
    for (std::size_t i = 0; i + 1 < std::size(cuts); ++i) {
      const auto a = std::min(cuts[i], stream.size()), b = std::min(cuts[i + 1], stream.size());
      if (b > a) out += chunk(std::string_view(stream).substr(a, b - a));
    }
    out += kLastChunk;
    co_return co_await p.write(out);
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink, nullptr, 2);
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.usage.prompt_tokens, 5);
  EXPECT_EQ(r.usage.completion_tokens, 7);
  api::ResponseBuilder b;
  std::vector<api::Event> second(sink.events.begin() + static_cast<long>(sink.events.size() / 2),
                                 sink.events.end());
  for (const auto& e : second) b.add(e);
  const auto& resp = b.response();
  EXPECT_EQ(resp.id, "chatcmpl-s");
  ASSERT_EQ(resp.choices.size(), 1u);
  EXPECT_EQ(resp.choices[0].content, "Hello");
  ASSERT_EQ(resp.choices[0].tool_calls.size(), 1u);
  EXPECT_EQ(resp.choices[0].tool_calls[0].arguments, "{\"a\":1}");
  EXPECT_EQ(resp.choices[0].finish, api::FinishReason::tool_calls);
  EXPECT_EQ(second.back().type, Type::usage);
  EXPECT_EQ(up.connections(), 1);  // the drained stream left the connection reusable

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("accept"), "text/event-stream");
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
}

TEST(OpenAiAdapter, RateLimitedBeforeCommitDeliversNothing) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        response(429, R"({"error":{"message":"Rate limit reached","type":"requests"}})",
                 "Retry-After: 3\r\n"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.upstream_status, 429);
  EXPECT_EQ(r.error.kind, api::ErrorKind::rate_limited);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.retry_after_s, 3);
  EXPECT_TRUE(sink.events.empty());
}

TEST(OpenAiAdapter, RetryAfterMs) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(503, "", "retry-after-ms: 1500\r\n"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, false, sink);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.retry_after_s, 2);
}

TEST(OpenAiAdapter, UpstreamAuthFailureNeverEchoesTheKey) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        response(401, std::string(R"({"error":{"message":"Incorrect API key provided: )") + kKey +
                          R"(","type":"invalid_request_error","code":"invalid_api_key"}})"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, false, sink);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_EQ(r.error.message, "upstream authentication failed");
  EXPECT_EQ(r.error.message.find("SECRET"), std::string::npos);
}

TEST(OpenAiAdapter, ConnectRefusedIsRetryable) {
  std::uint16_t port;
  {
    asio::io_context io;
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  TestUpstream unused([](Peer&, const Request&) -> asio::awaitable<bool> { co_return false; });
  auto p = provider_for(unused);
  p.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  CollectingSink sink;
  const auto r = run_chat(unused, true, sink, &p);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_TRUE(sink.events.empty());
}

// The stream breaks after some events were relayed.
asio::awaitable<bool> reset_mid_stream(Peer& p, const Request&) {
  co_await p.write(sse_head() + chunk(sse(chunk_json(R"({"content":"a"})"))) +
                   chunk(sse(chunk_json(R"({"content":"b"})"))));
  co_await p.sleep(20ms);
  p.close();
  co_return false;
}

TEST(OpenAiAdapter, ResetMidStreamAfterCommitDeliversErrorEvent) {
  TestUpstream up(reset_mid_stream);
  CollectingSink sink;
  const auto r = run_chat(up, true, sink);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::text, Type::error}));
  EXPECT_EQ(sink.events.back().error.status, 502);
  EXPECT_EQ(r.error.status, 502);
}

TEST(OpenAiAdapter, ResetMidStreamBeforeCommitDeliversNoError) {
  TestUpstream up(reset_mid_stream);
  CollectingSink sink;
  sink.commit_after = -1;  // e.g. a writer that buffers the first events
  const auto r = run_chat(up, true, sink);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  for (const auto& e : sink.events) EXPECT_NE(e.type, Type::error);
}

TEST(OpenAiAdapter, CleanEndWithoutDoneOrFinishIsAnError) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(sse_head() + chunk(sse(chunk_json(R"({"content":"a"})"))) +
                               std::string(kLastChunk));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.types().back(), Type::error);
}

TEST(OpenAiAdapter, FinishWithoutDoneIsComplete) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(sse_head() + chunk(sse(chunk_json(R"({"content":"a"})"))) +
                               chunk(sse(chunk_json("{}", "\"stop\""))) + chunk(sse(kUsageChunk)) +
                               std::string(kLastChunk));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink);
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(r.usage.completion_tokens, 7);
}

TEST(OpenAiAdapter, ErrorObjectInStreamBeforeCommit) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        sse_head() +
        chunk(sse(R"({"error":{"message":"model overloaded","type":"server_error"}})")) +
        std::string(kLastChunk));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_NE(r.error.message.find("model overloaded"), std::string::npos);
  EXPECT_TRUE(sink.events.empty());
}

TEST(OpenAiAdapter, NonSseAnswerToStreamingRequest) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, kCompletion));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(sink.text(), "Hello there");
}

TEST(OpenAiAdapter, MalformedJsonIsUpstreamError) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, "{\"id\": oops"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, false, sink);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.kind, api::ErrorKind::upstream);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_TRUE(sink.events.empty());
}

TEST(OpenAiAdapter, IdleTimeoutAfterCommit) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.write(sse_head() + chunk(sse(chunk_json(R"({"content":"a"})"))));
    co_await p.wait_close();
    co_return false;
  });
  auto p = provider_for(up);
  p.idle_timeout = 200ms;
  CollectingSink sink;
  const auto r = run_chat(up, true, sink, &p);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.status, 504);
  EXPECT_EQ(sink.types().back(), Type::error);
  EXPECT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
}

// A streaming upstream that keeps producing until the client closes.
asio::awaitable<bool> endless_stream(Peer& p, const Request&) {
  if (!co_await p.write(sse_head())) co_return false;
  for (int i = 0; i < 400; ++i) {
    if (!co_await p.write(chunk(sse(chunk_json(R"({"content":"x"})"))))) break;
    co_await p.sleep(25ms);
  }
  co_await p.wait_close();
  co_return false;
}

TEST(OpenAiAdapter, ClientGoneAbortsUpstream) {
  TestUpstream up(endless_stream);
  CollectingSink sink;
  sink.gone_after = 3;
  const auto t0 = Clock::now();
  const auto r = run_chat(up, true, sink);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.events.size(), 3u);
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
}

TEST(OpenAiAdapter, CancellationClosesUpstreamPromptly) {
  TestUpstream up(endless_stream);
  auto provider = provider_for(up);
  auto adapter = std::make_unique<OpenAiAdapter>(provider);
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
  EXPECT_FALSE(sink.events.empty());
  ASSERT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
  EXPECT_LT(up.last_close() - cancelled_at, 500ms);
}

TEST(OpenAiAdapter, BadBaseUrlFailsRetryably) {
  config::ProviderConfig p;
  p.type = "openai";
  p.base_url = "not a url";
  auto adapter = std::make_unique<OpenAiAdapter>(p);
  CollectingSink sink;
  AttemptResult r;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    Target target{&p, "m"};
    r = co_await adapter->chat(chat_request(false), target, ctx, sink);
  });
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
}

}  // namespace
}  // namespace infergate::adapters
