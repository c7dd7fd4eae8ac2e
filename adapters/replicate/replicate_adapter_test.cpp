// The replicate adapter against scripted loopback upstreams speaking Replicate's HTTP API: sync
// wait, polling within the deadline, streams, output files on another host (no credentials sent
// there), bounded downloads, cancellation.
#include "replicate_adapter.hpp"

#include <gtest/gtest.h>
#include <atomic>
#include <nlohmann/json.hpp>

#include "../src/test_upstream.hpp"
#include "media.hpp"

namespace infergate::adapters {
namespace {

using namespace testing;
using Clock = std::chrono::steady_clock;
using Type = api::Event::Type;
using json = nlohmann::json;

constexpr const char* kKey = "r8_test_SECRET_0123456789";
const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + "fake-png-body";

class CollectingSink : public api::EventSink {
 public:
  std::vector<api::Event> events;
  int gone_after = -1;
  asio::awaitable<bool> on_event(api::Event ev) override {
    events.push_back(std::move(ev));
    co_return gone_after < 0 || static_cast<int>(events.size()) < gone_after;
  }
  bool committed() const override { return !events.empty(); }
  std::string text() const {
    std::string s;
    for (const auto& e : events)
      if (e.type == Type::text) s += e.text;
    return s;
  }
};

config::ProviderConfig provider_for(const TestUpstream& up) {
  config::ProviderConfig p;
  p.name = "rep";
  p.type = "replicate";
  p.base_url = up.url("/v1");
  p.api_key = kKey;
  p.connect_timeout = 2s;
  p.first_byte_timeout = 5s;
  p.idle_timeout = 5s;
  p.total_timeout = 15s;
  return p;
}

std::string prediction(const TestUpstream& up, std::string_view id, std::string_view status,
                       json output = nullptr, json extra = json::object()) {
  json j = {{"id", id},
            {"model", "m/x"},
            {"status", status},
            {"output", output},
            {"error", nullptr},
            {"urls",
             {{"get", up.url("/v1/predictions/") + std::string(id)},
              {"cancel", up.url("/v1/predictions/") + std::string(id) + "/cancel"},
              {"stream", up.url("/v1/stream/") + std::string(id)}}}};
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return j.dump();
}

// The cancel requests (Replicate "Cancel a prediction": POST urls.cancel) the upstream received.
std::vector<Request> cancels(const TestUpstream& up) {
  std::vector<Request> out;
  for (const auto& r : up.requests())
    if (r.method == "POST" && r.target.ends_with("/cancel")) out.push_back(r);
  return out;
}

AttemptResult run_image(const TestUpstream& up, const api::ImageRequest& req,
                        api::ImageResponse& out, Clock::duration deadline = 15s,
                        const std::string& model = "black-forest-labs/flux-schnell") {
  auto provider = provider_for(up);
  ReplicateAdapter adapter(provider);
  AttemptResult result;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    ctx.request_id = "req-1";
    ctx.deadline = Clock::now() + deadline;
    Target target{&provider, model};
    result = co_await adapter.generate_image(req, target, ctx, out);
  });
  return result;
}

api::ImageRequest image_request() {
  api::ImageRequest r;
  r.prompt = "a fox";
  r.n = 1;
  r.width = 1024;
  r.height = 1024;
  r.body = json{{"prompt", "a fox"}};
  return r;
}

TEST(ReplicateAdapter, ImagePolledThenFilesFetchedWithoutCredentialsOnOtherHosts) {
  TestUpstream files([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, kPng, "", "image/png"));
  });
  std::atomic<int> polls{0};
  TestUpstream* self = nullptr;
  TestUpstream up([&](Peer& p, const Request& r) -> asio::awaitable<bool> {
    if (r.method == "POST")
      co_return co_await p.write(response(201, prediction(*self, "p1", "starting")));
    const int n = ++polls;
    if (n < 3) co_return co_await p.write(response(200, prediction(*self, "p1", "processing")));
    const json output = json::array({files.url("/out-0.png")});
    const std::string done = prediction(*self, "p1", "succeeded", output);
    co_return co_await p.write(response(200, done));
  });
  self = &up;
  api::ImageResponse out;
  const auto start = Clock::now();
  const auto r = run_image(up, image_request(), out);
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_GE(Clock::now() - start, 400ms);  // 200 ms, then 300 ms between polls
  ASSERT_EQ(out.images.size(), 1u);
  EXPECT_EQ(out.images[0].bytes, kPng);
  EXPECT_EQ(out.images[0].content_type, "image/png");
  EXPECT_EQ(out.images[0].url, files.url("/out-0.png"));
  EXPECT_GT(out.created, 0);

  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].target, "/v1/models/black-forest-labs/flux-schnell/predictions");
  EXPECT_EQ(reqs[0].header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(reqs[0].header("prefer").rfind("wait=", 0), 0u);  // under the 15 s deadline
  EXPECT_EQ(json::parse(reqs[0].body)["input"]["aspect_ratio"], "1:1");
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_EQ(reqs[1].target, "/v1/predictions/p1");
  EXPECT_EQ(reqs[1].header("authorization"), std::string("Bearer ") + kKey);
  const auto file_reqs = files.requests();
  ASSERT_EQ(file_reqs.size(), 1u);
  EXPECT_EQ(file_reqs[0].header("authorization"), "") << "the key went to another host";
  EXPECT_TRUE(cancels(up).empty());  // it finished: nothing to cancel
}

TEST(ReplicateAdapter, WantUrlPassesForeignUrlsThrough) {
  TestUpstream files([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, kPng, "", "image/png"));
  });
  TestUpstream* self = nullptr;
  TestUpstream up([&](Peer& p, const Request&) -> asio::awaitable<bool> {
    const std::string done = prediction(*self, "p2", "succeeded", json(files.url("/x.png")));
    co_return co_await p.write(response(201, done));
  });
  self = &up;
  api::ImageRequest req = image_request();
  req.want_url = true;
  api::ImageResponse out;
  const auto r = run_image(up, req, out);
  ASSERT_TRUE(r.ok) << r.error.message;
  ASSERT_EQ(out.images.size(), 1u);
  EXPECT_EQ(out.images[0].url, files.url("/x.png"));
  EXPECT_TRUE(out.images[0].bytes.empty());
  EXPECT_TRUE(files.requests().empty());
}

TEST(ReplicateAdapter, PollingStopsAtTheDeadline) {
  TestUpstream* self = nullptr;
  TestUpstream up([&](Peer& p, const Request& r) -> asio::awaitable<bool> {
    co_return co_await p.write(
        response(r.method == "POST" ? 201 : 200, prediction(*self, "p3", "processing")));
  });
  self = &up;
  api::ImageResponse out;
  const auto start = Clock::now();
  const auto r = run_image(up, image_request(), out, 1500ms);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.kind, api::ErrorKind::timeout);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_LT(Clock::now() - start, 1600ms);
  EXPECT_GE(up.requests().size(), 3u);
  // Given up on: the prediction is cancelled so that it stops running (and billing).
  const auto c = cancels(up);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].target, "/v1/predictions/p3/cancel");
  EXPECT_EQ(c[0].header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(c[0].header("x-request-id"), "req-1");
}

TEST(ReplicateAdapter, OversizedFileAndFailedPrediction) {
  TestUpstream files([](Peer& p, const Request&) -> asio::awaitable<bool> {
    // Claims more than the 32 MiB limit: refused from the header alone.
    co_return co_await p.write(
        "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 40000000\r\n\r\n");
  });
  TestUpstream* self = nullptr;
  int call = 0;
  TestUpstream up([&](Peer& p, const Request&) -> asio::awaitable<bool> {
    std::string body;
    if (++call == 1) {
      const json output = json::array({files.url("/big.png")});
      body = prediction(*self, "p4", "succeeded", output);
    } else {
      json extra = json::object();
      extra["error"] = std::string("NSFW content detected. key ") + kKey;
      body = prediction(*self, "p5", "failed", nullptr, extra);
    }
    co_return co_await p.write(response(201, body));
  });
  self = &up;
  api::ImageResponse out;
  auto r = run_image(up, image_request(), out);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.code, "upstream_too_large");
  r = run_image(up, image_request(), out);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.status, 502);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_NE(r.error.message.find("NSFW content detected"), std::string::npos);
  EXPECT_EQ(r.error.message.find(kKey), std::string::npos);
}

TEST(ReplicateAdapter, ProblemDetailsAndBadModelId) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        response(429, R"({"detail":"Request was throttled. Expected available in 4 seconds."})",
                 "Retry-After: 4\r\n"));
  });
  api::ImageResponse out;
  auto r = run_image(up, image_request(), out);
  EXPECT_EQ(r.error.kind, api::ErrorKind::rate_limited);
  EXPECT_EQ(r.error.retry_after_s, 4);
  EXPECT_EQ(r.upstream_status, 429);
  r = run_image(up, image_request(), out, 15s, "not-a-model-id");
  EXPECT_EQ(r.error.code, "upstream_bad_model");
  EXPECT_EQ(up.requests().size(), 1u);
}

asio::awaitable<void> run_chat(ReplicateAdapter& adapter, config::ProviderConfig& provider,
                               HttpClient& client, bool stream, CollectingSink& sink,
                               AttemptResult& result) {
  CallContext ctx;
  ctx.http = &client;
  ctx.deadline = Clock::now() + 15s;
  api::ChatRequest req;
  req.stream = stream;
  req.body = json{{"messages", json::array({json{{"role", "user"}, {"content", "hi"}}})}};
  Target target{&provider, "meta/meta-llama-3-8b-instruct"};
  result = co_await adapter.chat(req, target, ctx, sink);
}

TEST(ReplicateAdapter, StreamThenMetrics) {
  TestUpstream* self = nullptr;
  TestUpstream up([&](Peer& p, const Request& r) -> asio::awaitable<bool> {
    if (r.method == "POST")
      co_return co_await p.write(response(201, prediction(*self, "s1", "starting")));
    if (r.target == "/v1/stream/s1") {
      co_await p.write(sse_head());
      co_await p.write(chunk("event: output\nid: 1\ndata: Hel\n\n"));
      co_await p.write(chunk("event: output\nid: 2\ndata: lo\n\n: keep-alive\n\n"));
      co_await p.write(chunk("event: done\ndata: {}\n\n"));
      co_return co_await p.write(kLastChunk);
    }
    json metrics = json::object();
    metrics["metrics"]["input_token_count"] = 3;
    metrics["metrics"]["output_token_count"] = 2;
    const json output = json::array({"Hel", "lo"});
    const std::string done = prediction(*self, "s1", "succeeded", output, metrics);
    co_return co_await p.write(response(200, done));
  });
  self = &up;
  auto provider = provider_for(up);
  ReplicateAdapter adapter(provider);
  CollectingSink sink;
  AttemptResult result;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    co_await run_chat(adapter, provider, client, true, sink, result);
  });
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(sink.text(), "Hello");
  ASSERT_FALSE(sink.events.empty());
  EXPECT_EQ(sink.events.front().type, Type::start);
  EXPECT_EQ(sink.events.back().type, Type::usage);
  EXPECT_EQ(result.usage.prompt_tokens, 3);
  EXPECT_EQ(result.usage.completion_tokens, 2);
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].header("prefer"), "");
  EXPECT_EQ(json::parse(reqs[0].body)["stream"], true);
  EXPECT_EQ(reqs[1].header("accept"), "text/event-stream");
  EXPECT_EQ(reqs[1].header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_TRUE(cancels(up).empty());  // a stream that ended with `done`: nothing to cancel
}

TEST(ReplicateAdapter, StreamErrorAfterCommitAndClientGone) {
  TestUpstream* self = nullptr;
  TestUpstream up([&](Peer& p, const Request& r) -> asio::awaitable<bool> {
    if (r.method == "POST")
      co_return co_await p.write(response(201, prediction(*self, "s2", "starting")));
    co_await p.write(sse_head());
    co_await p.write(chunk("event: output\ndata: a\n\n"));
    co_await p.write(chunk("event: error\ndata: {\"detail\":\"boom\"}\n\n"));
    co_await p.write(chunk("event: done\ndata: {\"reason\":\"error\"}\n\n"));
    co_return co_await p.write(kLastChunk);
  });
  self = &up;
  auto provider = provider_for(up);
  ReplicateAdapter adapter(provider);
  CollectingSink sink;
  AttemptResult result;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    co_await run_chat(adapter, provider, client, true, sink, result);
  });
  EXPECT_FALSE(result.ok);
  ASSERT_FALSE(sink.events.empty());
  EXPECT_EQ(sink.events.back().type, Type::error);  // committed: the client hears of it
  EXPECT_NE(sink.events.back().error.message.find("boom"), std::string::npos);
  EXPECT_TRUE(cancels(up).empty());  // the stream said the prediction ended: nothing to cancel

  CollectingSink gone;
  gone.gone_after = 1;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    co_await run_chat(adapter, provider, client, true, gone, result);
  });
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error.code, "cancelled");
  // The client went away mid-stream: the prediction is cancelled upstream.
  const auto c = cancels(up);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].target, "/v1/predictions/s2/cancel");
}

}  // namespace
}  // namespace infergate::adapters
