// The gemini adapter against a scripted loopback upstream speaking the Gemini API's wire format.
#include "gemini_adapter.hpp"

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

constexpr const char* kKey = "AIzaSy-test-SECRET-0123456789";

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
  p.name = "gem";
  p.type = "gemini";
  p.base_url = up.url("/v1beta");
  p.api_key = kKey;
  p.connect_timeout = 2s;
  p.first_byte_timeout = 5s;
  p.idle_timeout = 5s;
  p.total_timeout = 15s;
  return p;
}

api::ChatRequest chat_request(bool stream, json extra = json::object()) {
  api::ChatRequest r;
  r.model = "public-model";
  r.stream = stream;
  r.body = json{{"model", "public-model"},
                {"messages", json::array({json{{"role", "user"}, {"content", "hi"}}})},
                {"temperature", 0.5}};
  if (stream) r.body["stream"] = true;
  for (auto it = extra.begin(); it != extra.end(); ++it) r.body[it.key()] = it.value();
  return r;
}

struct Run {
  AttemptResult result;
  std::vector<std::string> dropped;
};

Run run_chat(const TestUpstream& up, bool stream, CollectingSink& sink,
             config::ProviderConfig* override_provider = nullptr, int calls = 1,
             json extra = json::object()) {
  auto provider = override_provider ? *override_provider : provider_for(up);
  auto adapter = std::make_unique<GeminiAdapter>(provider);
  Run run;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    for (int i = 0; i < calls; ++i) {
      CallContext ctx;
      ctx.http = &client;
      ctx.request_id = "req-7";
      ctx.deadline = Clock::now() + 20s;
      Target target{&provider, "gemini-2.5-flash"};
      run.result = co_await adapter->chat(chat_request(stream, extra), target, ctx, sink);
      run.dropped = ctx.dropped_params;
    }
  });
  return run;
}

// "Generating content › Response body" shape.
constexpr const char* kResponse =
    R"({"candidates":[{"content":{"parts":[{"text":"Hello there"}],"role":"model"},
        "finishReason":"STOP","index":0}],
        "usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":3,"totalTokenCount":14,
                         "cachedContentTokenCount":2},
        "modelVersion":"gemini-2.5-flash","responseId":"resp-1"})";

std::string sse(std::string_view data) { return "data: " + std::string(data) + "\r\n\r\n"; }

std::string text_chunk(std::string_view text, std::string_view finish = {}) {
  std::string c = R"({"candidates":[{"content":{"parts":[{"text":)" + json(text).dump() +
                  R"(}],"role":"model"})";
  if (!finish.empty()) c += R"(,"finishReason":")" + std::string(finish) + "\"";
  c += R"(,"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"s-1")";
  if (!finish.empty())
    c += R"(,"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12})";
  return c + "}";
}

TEST(GeminiAdapter, NonStreaming) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, kResponse));
  });
  CollectingSink sink;
  const auto r = run_chat(up, false, sink).result;
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.upstream_status, 200);
  EXPECT_EQ(r.usage.prompt_tokens, 11);
  EXPECT_EQ(r.usage.completion_tokens, 3);
  EXPECT_EQ(r.usage.cached_tokens, 2);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(sink.text(), "Hello there");

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(reqs[0].header("x-goog-api-key"), kKey);
  EXPECT_EQ(reqs[0].header("authorization"), "");
  EXPECT_EQ(reqs[0].header("accept"), "application/json");
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["contents"], json::parse(R"([{"role":"user","parts":[{"text":"hi"}]}])"));
  EXPECT_EQ(body["generationConfig"]["temperature"], 0.5);
  EXPECT_FALSE(body.contains("model"));
}

TEST(GeminiAdapter, StreamingRelaysEventsAndReusesConnection) {
  const std::string stream =
      sse(text_chunk("Hel")) + sse(text_chunk("lo")) +
      sse(R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}}}],"role":"model"},"index":0}],"responseId":"s-1"})") +
      sse(text_chunk("", "STOP"));
  TestUpstream up([stream](Peer& p, const Request&) -> asio::awaitable<bool> {
    std::string out = sse_head();
    const std::size_t cuts[] = {0, 7, 150, 151, 152, 300, 420, stream.size()};
    for (std::size_t i = 0; i + 1 < std::size(cuts); ++i) {
      const auto a = std::min(cuts[i], stream.size()), b = std::min(cuts[i + 1], stream.size());
      if (b > a) out += chunk(std::string_view(stream).substr(a, b - a));
    }
    out += kLastChunk;
    co_return co_await p.write(out);
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink, nullptr, 2).result;
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.usage.prompt_tokens, 5);
  EXPECT_EQ(r.usage.completion_tokens, 7);
  std::vector<api::Event> second(sink.events.begin() + static_cast<long>(sink.events.size() / 2),
                                 sink.events.end());
  api::ResponseBuilder b;
  for (const auto& e : second) b.add(e);
  const auto& resp = b.response();
  EXPECT_EQ(resp.id, "s-1");
  ASSERT_EQ(resp.choices.size(), 1u);
  EXPECT_EQ(resp.choices[0].content, "Hello");
  ASSERT_EQ(resp.choices[0].tool_calls.size(), 1u);
  EXPECT_EQ(resp.choices[0].tool_calls[0].arguments, R"({"a":1})");
  EXPECT_EQ(resp.choices[0].finish, api::FinishReason::tool_calls);
  EXPECT_EQ(second.back().type, Type::usage);
  EXPECT_EQ(up.connections(), 1);  // the stream was read to its end: the connection was reused

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  EXPECT_EQ(reqs[0].header("accept"), "text/event-stream");
}

TEST(GeminiAdapter, RateLimitedBeforeCommitDeliversNothing) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        429,
        R"({"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}})",
        "Retry-After: 3\r\n"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.upstream_status, 429);
  EXPECT_EQ(r.error.kind, api::ErrorKind::rate_limited);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.retry_after_s, 3);
  EXPECT_TRUE(sink.events.empty());
}

TEST(GeminiAdapter, InvalidKeyNeverEchoesTheKey) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        400,
        std::string(R"({"error":{"code":400,"message":"API key not valid: )") + kKey +
            R"(","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}})"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, false, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.message.find("SECRET"), std::string::npos);
}

TEST(GeminiAdapter, UnsupportedParamsFailOrAreDropped) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, kResponse));
  });
  auto strict = provider_for(up);
  strict.drop_unsupported_params = false;
  CollectingSink sink;
  auto run = run_chat(up, false, sink, &strict, 1, json{{"logit_bias", {{"1", 5}}}});
  EXPECT_FALSE(run.result.ok);
  EXPECT_EQ(run.result.error.status, 400);
  EXPECT_FALSE(run.result.error.retryable);
  EXPECT_EQ(run.result.error.param, "logit_bias");
  EXPECT_TRUE(up.requests().empty());  // never sent

  CollectingSink sink2;
  run = run_chat(up, false, sink2, nullptr, 1, json{{"logit_bias", {{"1", 5}}}});
  EXPECT_TRUE(run.result.ok) << run.result.error.message;
  EXPECT_EQ(run.dropped, std::vector<std::string>{"logit_bias"});
}

// The stream breaks after some events were relayed.
asio::awaitable<bool> reset_mid_stream(Peer& p, const Request&) {
  co_await p.write(sse_head() + chunk(sse(text_chunk("a"))) + chunk(sse(text_chunk("b"))));
  co_await p.sleep(20ms);
  p.close();
  co_return false;
}

TEST(GeminiAdapter, ResetMidStreamAfterCommitDeliversErrorEvent) {
  TestUpstream up(reset_mid_stream);
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::text, Type::error}));
  EXPECT_EQ(sink.events.back().error.status, 502);
  EXPECT_TRUE(r.error.retryable);
}

TEST(GeminiAdapter, ResetMidStreamBeforeCommitDeliversNoError) {
  TestUpstream up(reset_mid_stream);
  CollectingSink sink;
  sink.commit_after = -1;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  for (const auto& e : sink.events) EXPECT_NE(e.type, Type::error);
}

TEST(GeminiAdapter, CleanEndWithoutFinishReasonIsAnError) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(sse_head() + chunk(sse(text_chunk("a"))) + std::string(kLastChunk));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.types().back(), Type::error);
}

TEST(GeminiAdapter, ErrorObjectInStreamBeforeCommit) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        sse_head() +
        chunk(sse(
            R"({"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}})")) +
        std::string(kLastChunk));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_TRUE(sink.events.empty());
}

TEST(GeminiAdapter, JsonArrayAnswerToStreamingRequest) {
  // streamGenerateContent without alt=sse answers a JSON array of responses.
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        response(200, "[" + text_chunk("Hi ") + "," + text_chunk("you", "STOP") + "]"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(sink.text(), "Hi you");
  EXPECT_EQ(r.usage.completion_tokens, 7);
}

// A streaming upstream that keeps producing until the client closes.
asio::awaitable<bool> endless_stream(Peer& p, const Request&) {
  if (!co_await p.write(sse_head())) co_return false;
  for (int i = 0; i < 400; ++i) {
    if (!co_await p.write(chunk(sse(text_chunk("x"))))) break;
    co_await p.sleep(25ms);
  }
  co_await p.wait_close();
  co_return false;
}

TEST(GeminiAdapter, ClientGoneAbortsUpstream) {
  TestUpstream up(endless_stream);
  CollectingSink sink;
  sink.gone_after = 3;
  const auto t0 = Clock::now();
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.events.size(), 3u);
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
}

TEST(GeminiAdapter, CancellationClosesUpstreamPromptly) {
  TestUpstream up(endless_stream);
  auto provider = provider_for(up);
  auto adapter = std::make_unique<GeminiAdapter>(provider);
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

TEST(GeminiAdapter, BadBaseUrlFailsRetryably) {
  config::ProviderConfig p;
  p.type = "gemini";
  p.base_url = "not a url";
  auto adapter = std::make_unique<GeminiAdapter>(p);
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

// Token counting: POST {base}/models/{model}:countTokens ("Counting tokens").
AttemptResult run_count(const TestUpstream& up, api::CountTokensResponse& out) {
  auto provider = provider_for(up);
  auto adapter = std::make_unique<GeminiAdapter>(provider);
  AttemptResult r;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    ctx.request_id = "req-9";
    ctx.deadline = Clock::now() + 20s;
    Target target{&provider, "gemini-2.5-flash"};
    auto request = chat_request(false);
    r = co_await adapter->count_tokens(request, target, ctx, out);
  });
  return r;
}

TEST(GeminiAdapter, CountTokens) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, R"({"totalTokens": 8,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}]})"));
  });
  api::CountTokensResponse out;
  const auto r = run_count(up, out);
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(out.input_tokens, 8);
  EXPECT_FALSE(r.usage.reported);
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1beta/models/gemini-2.5-flash:countTokens");
  EXPECT_EQ(reqs[0].header("x-goog-api-key"), kKey);
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["generateContentRequest"]["model"], "models/gemini-2.5-flash");
  EXPECT_EQ(body["generateContentRequest"]["contents"],
            json::parse(R"([{"role":"user","parts":[{"text":"hi"}]}])"));
  EXPECT_FALSE(body["generateContentRequest"].contains("generationConfig"));
}

TEST(GeminiAdapter, CountTokensErrorsMapAndNeverEchoTheKey) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        400, std::string(R"({"error":{"code":400,"message":"API key not valid: )") + kKey +
                 R"(","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}})"));
  });
  api::CountTokensResponse out;
  const auto r = run_count(up, out);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.upstream_status, 400);
  EXPECT_EQ(r.error.message.find(kKey), std::string::npos) << r.error.message;
}

}  // namespace
}  // namespace infergate::adapters
