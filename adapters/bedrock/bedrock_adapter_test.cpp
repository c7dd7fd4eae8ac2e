#include "bedrock_adapter.hpp"

#include <gtest/gtest.h>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "../src/test_upstream.hpp"
#include "eventstream.hpp"
#include "sigv4.hpp"

namespace infergate::adapters {
namespace {

using namespace testing;
using namespace boost::asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using Type = api::Event::Type;
using json = nlohmann::json;

constexpr const char* kKeyId = "AKIDEXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kToken = "session-TOKEN-0123456789";
constexpr const char* kModel = "anthropic.claude-3-haiku-20240307-v1:0";

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(BEDROCK_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::chrono::system_clock::time_point fixed_time() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));
}

class CollectingSink : public api::EventSink {
 public:
  int commit_after = 1;
  int gone_after = -1;
  std::vector<api::Event> events;

  asio::awaitable<bool> on_event(api::Event ev) override {
    events.push_back(std::move(ev));
    co_return gone_after < 0 || static_cast<int>(events.size()) < gone_after;
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
  p.name = "bedrock-test";
  p.type = "bedrock";
  p.base_url = up.url("");
  p.aws = config::AwsOptions{"us-east-1", kKeyId, kSecret, kToken, "bedrock"};
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
                {"max_tokens", 64}};
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
  BedrockAdapter adapter(provider, fixed_time);
  Run run;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    for (int i = 0; i < calls; ++i) {
      CallContext ctx;
      ctx.http = &client;
      ctx.request_id = "req-42";
      ctx.deadline = Clock::now() + 20s;
      Target target{&provider, kModel};
      auto request = chat_request(stream, extra);
      run.result = co_await adapter.chat(request, target, ctx, sink);
      run.dropped = ctx.dropped_params;
    }
  });
  return run;
}

std::string eventstream_head() {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
         "x-amzn-RequestId: 5d1c2a3b-0000-4c4e-9f5e-0123456789ab\r\n"
         "Transfer-Encoding: chunked\r\n\r\n";
}

TEST(BedrockAdapter, NonStreamingSignsAndDecodes) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, fixture("converse_response_text.json")));
  });
  CollectingSink sink;
  const auto run = run_chat(up, false, sink);
  const auto& r = run.result;
  EXPECT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.upstream_status, 200);
  EXPECT_EQ(r.usage.prompt_tokens, 31);
  EXPECT_EQ(r.usage.completion_tokens, 9);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(sink.text(), "The capital of France is Paris.");
  EXPECT_EQ(sink.events[0].model, kModel);

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
  EXPECT_EQ(reqs[0].header("x-amz-date"), "20150830T123600Z");
  EXPECT_EQ(reqs[0].header("x-amz-security-token"), kToken);
  EXPECT_EQ(reqs[0].header("accept"), "application/json");
  EXPECT_EQ(reqs[0].header("x-request-id"), "req-42");
  // The signature over what actually arrived.
  sigv4::Request check;
  check.method = "POST";
  check.path = reqs[0].target;
  check.headers = {{"host", reqs[0].header("host")},
                   {"content-type", reqs[0].header("content-type")}};
  check.payload = reqs[0].body;
  const auto want =
      sigv4::sign(check, {kKeyId, kSecret, kToken, "us-east-1", "bedrock"}, fixed_time());
  EXPECT_EQ(reqs[0].header("authorization"), want.authorization);
  EXPECT_NE(reqs[0]
                .header("authorization")
                .find("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            std::string::npos);
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["messages"][0]["content"][0]["text"], "hi");
  EXPECT_EQ(body["inferenceConfig"]["maxTokens"], 64);
  EXPECT_FALSE(body.contains("model"));
}

TEST(BedrockAdapter, StreamingRelaysEventsAndReusesConnection) {
  const std::string stream = fixture("converse_stream_tools.bin");
  TestUpstream up([stream](Peer& p, const Request&) -> asio::awaitable<bool> {
    std::string out = eventstream_head();
    const std::size_t cuts[] = {0, 1, 11, 12, 13, 200, 201, 999, 1000, 1700, stream.size()};
    for (std::size_t i = 0; i + 1 < std::size(cuts); ++i) {
      const auto a = std::min(cuts[i], stream.size()), b = std::min(cuts[i + 1], stream.size());
      if (b > a) out += chunk(std::string_view(stream).substr(a, b - a));
    }
    out += kLastChunk;
    co_return co_await p.write(out);
  });
  CollectingSink sink;
  const auto run = run_chat(up, true, sink, nullptr, 2);
  EXPECT_TRUE(run.result.ok) << run.result.error.message;
  EXPECT_EQ(run.result.usage.prompt_tokens, 310);
  EXPECT_EQ(run.result.usage.completion_tokens, 61);
  api::ResponseBuilder b;
  std::vector<api::Event> second(sink.events.begin() + static_cast<long>(sink.events.size() / 2),
                                 sink.events.end());
  for (const auto& e : second) b.add(e);
  const auto& resp = b.response();
  EXPECT_EQ(resp.id, "bedrock-5d1c2a3b-0000-4c4e-9f5e-0123456789ab");
  ASSERT_EQ(resp.choices.size(), 1u);
  EXPECT_EQ(resp.choices[0].content, "Checking both.");
  ASSERT_EQ(resp.choices[0].tool_calls.size(), 2u);
  EXPECT_EQ(json::parse(resp.choices[0].tool_calls[0].arguments),
            json({{"city", "Paris"}, {"unit", "celsius"}}));
  EXPECT_EQ(resp.choices[0].finish, api::FinishReason::tool_calls);
  EXPECT_EQ(up.connections(), 1);  // drained to the end: the connection was reused

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
  EXPECT_EQ(reqs[0].header("accept"), "application/vnd.amazon.eventstream");
}

TEST(BedrockAdapter, ThrottlingBeforeCommitIsRetryableAndDeliversNothing) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        response(429, R"({"message":"Too many requests, please wait before trying again."})",
                 "x-amzn-ErrorType: "
                 "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/\r\n"
                 "Retry-After: 2\r\n"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.upstream_status, 429);
  EXPECT_EQ(r.error.kind, api::ErrorKind::rate_limited);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.retry_after_s, 2);
  EXPECT_TRUE(sink.events.empty());
}

TEST(BedrockAdapter, ValidationErrorEchoesMessageWithoutSecrets) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        400, std::string(R"({"message":"bad token )") + kToken + " and " + kSecret + R"("})",
        "x-amzn-ErrorType: ValidationException\r\n"));
  });
  CollectingSink sink;
  const auto r = run_chat(up, false, sink).result;
  EXPECT_EQ(r.error.status, 400);
  EXPECT_FALSE(r.error.retryable);
  EXPECT_EQ(r.error.message.find(kToken), std::string::npos) << r.error.message;
  EXPECT_EQ(r.error.message.find(kSecret), std::string::npos) << r.error.message;
}

TEST(BedrockAdapter, ThrottlingExceptionMidStreamAfterCommit) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(eventstream_head() +
                               chunk(fixture("converse_stream_throttled.bin")) +
                               std::string(kLastChunk));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(sink.types(), (std::vector<Type>{Type::start, Type::text, Type::error}));
  EXPECT_EQ(sink.events.back().error.kind, api::ErrorKind::rate_limited);
  EXPECT_TRUE(r.error.retryable);
}

// The stream breaks after some events were relayed.
asio::awaitable<bool> reset_mid_stream(Peer& p, const Request&) {
  const std::string stream = fixture("converse_stream_text.bin");
  co_await p.write(eventstream_head() + chunk(std::string_view(stream).substr(0, 400)));
  co_await p.sleep(20ms);
  p.close();
  co_return false;
}

TEST(BedrockAdapter, ResetMidStreamAfterCommitDeliversErrorEvent) {
  TestUpstream up(reset_mid_stream);
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  ASSERT_FALSE(sink.events.empty());
  EXPECT_EQ(sink.types().front(), Type::start);
  EXPECT_EQ(sink.types().back(), Type::error);
  EXPECT_EQ(sink.events.back().error.status, 502);
  EXPECT_TRUE(r.error.retryable);
}

TEST(BedrockAdapter, ResetMidStreamBeforeCommitDeliversNoError) {
  TestUpstream up(reset_mid_stream);
  CollectingSink sink;
  sink.commit_after = -1;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  for (const auto& e : sink.events) EXPECT_NE(e.type, Type::error);
}

TEST(BedrockAdapter, CorruptFrameIsUpstreamError) {
  std::string stream = fixture("converse_stream_text.bin");
  stream[200] ^= 0x01;
  TestUpstream up([stream](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(eventstream_head() + chunk(stream) + std::string(kLastChunk));
  });
  CollectingSink sink;
  const auto r = run_chat(up, true, sink).result;
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_NE(r.error.message.find("checksum"), std::string::npos);
}

// A stream that keeps producing until the client closes.
asio::awaitable<bool> endless_stream(Peer& p, const Request&) {
  eventstream::Message m;
  m.headers = {eventstream::string_header(":event-type", "contentBlockDelta"),
               eventstream::string_header(":content-type", "application/json"),
               eventstream::string_header(":message-type", "event")};
  m.payload = R"({"contentBlockIndex":0,"delta":{"text":"x"}})";
  const std::string frame = eventstream::encode(m);
  if (!co_await p.write(eventstream_head())) co_return false;
  for (int i = 0; i < 400; ++i) {
    if (!co_await p.write(chunk(frame))) break;
    co_await p.sleep(25ms);
  }
  co_await p.wait_close();
  co_return false;
}

TEST(BedrockAdapter, ClientGoneAbortsUpstream) {
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

TEST(BedrockAdapter, CancellationClosesUpstreamPromptly) {
  TestUpstream up(endless_stream);
  auto provider = provider_for(up);
  BedrockAdapter adapter(provider, fixed_time);
  CollectingSink sink;
  Clock::time_point cancelled_at;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    Target target{&provider, kModel};
    auto timer = [&]() -> asio::awaitable<void> {
      asio::steady_timer t(co_await asio::this_coro::executor, 200ms);
      co_await t.async_wait(kTok);
      cancelled_at = Clock::now();
    };
    auto request = chat_request(true);
    co_await (adapter.chat(request, target, ctx, sink) || timer());
    EXPECT_EQ(client.idle_connections(), 0u);
  });
  EXPECT_FALSE(sink.events.empty());
  ASSERT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
  EXPECT_LT(up.last_close() - cancelled_at, 500ms);
}

TEST(BedrockAdapter, UnsupportedParamsDroppedOrRejected) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, fixture("converse_response_text.json")));
  });
  CollectingSink sink;
  const json extra = {{"seed", 7}, {"logprobs", true}};
  const auto dropped = run_chat(up, false, sink, nullptr, 1, extra);
  EXPECT_TRUE(dropped.result.ok);
  EXPECT_EQ(dropped.dropped, (std::vector<std::string>{"logprobs", "seed"}));

  auto strict = provider_for(up);
  strict.drop_unsupported_params = false;
  CollectingSink sink2;
  const auto rejected = run_chat(up, false, sink2, &strict, 1, extra);
  EXPECT_FALSE(rejected.result.ok);
  EXPECT_EQ(rejected.result.error.status, 400);
  EXPECT_FALSE(rejected.result.error.retryable);
  EXPECT_NE(rejected.result.error.message.find("seed"), std::string::npos);
  EXPECT_EQ(up.requests().size(), 1u);  // the rejected call never went upstream
}

TEST(BedrockAdapter, MissingCredentialsFailRetryably) {
  TestUpstream up([](Peer&, const Request&) -> asio::awaitable<bool> { co_return false; });
  auto p = provider_for(up);
  p.aws.reset();
  CollectingSink sink;
  const auto r = run_chat(up, false, sink, &p).result;
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_TRUE(up.requests().empty());
}

// CountTokens: POST /model/{modelId}/count-tokens, SigV4-signed like Converse.
AttemptResult run_count(const TestUpstream& up, api::CountTokensResponse& out) {
  auto provider = provider_for(up);
  BedrockAdapter adapter(provider, fixed_time);
  AttemptResult r;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    ctx.request_id = "req-43";
    ctx.deadline = Clock::now() + 20s;
    Target target{&provider, kModel};
    auto request = chat_request(false);
    r = co_await adapter.count_tokens(request, target, ctx, out);
  });
  return r;
}

TEST(BedrockAdapter, CountTokensSignsAndDecodes) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, fixture("count_tokens_response.json")));
  });
  api::CountTokensResponse out;
  const auto r = run_count(up, out);
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(out.input_tokens, 37);
  EXPECT_FALSE(r.usage.reported);
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/count-tokens");
  EXPECT_EQ(reqs[0].header("x-request-id"), "req-43");
  sigv4::Request check;
  check.method = "POST";
  check.path = reqs[0].target;
  check.headers = {{"host", reqs[0].header("host")},
                   {"content-type", reqs[0].header("content-type")}};
  check.payload = reqs[0].body;
  const auto want =
      sigv4::sign(check, {kKeyId, kSecret, kToken, "us-east-1", "bedrock"}, fixed_time());
  EXPECT_EQ(reqs[0].header("authorization"), want.authorization);
  EXPECT_EQ(json::parse(reqs[0].body),
            json::parse(R"({"input":{"converse":{"messages":[{"role":"user",
                "content":[{"text":"hi"}]}]}}})"));
}

TEST(BedrockAdapter, CountTokensErrorsAreScrubbed) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        response(400,
                 std::string(R"({"message":"The provided model doesn't support counting tokens )") +
                     kSecret + R"("})",
                 "x-amzn-ErrorType: ValidationException\r\n"));
  });
  api::CountTokensResponse out;
  const auto r = run_count(up, out);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.upstream_status, 400);
  EXPECT_EQ(r.error.message.find(kSecret), std::string::npos) << r.error.message;
}

}  // namespace
}  // namespace infergate::adapters
