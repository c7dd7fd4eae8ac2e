// The fal adapter against scripted loopback upstreams speaking fal's Model API: synchronous run
// with data URIs, the queue (submit, status polling, result), errors, credentials kept off CDN
// hosts.
#include "fal_adapter.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../src/test_upstream.hpp"
#include "media.hpp"

namespace infergate::adapters {
namespace {

using namespace testing;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr const char* kKey = "fal-id:fal-SECRET-0123456789";
const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + "fake";

config::ProviderConfig provider_for(const TestUpstream& up, std::string_view path = "") {
  config::ProviderConfig p;
  p.name = "fal";
  p.type = "fal";
  p.base_url = up.url(path);
  p.api_key = kKey;
  p.connect_timeout = 2s;
  p.first_byte_timeout = 5s;
  p.idle_timeout = 5s;
  p.total_timeout = 15s;
  return p;
}

api::ImageRequest image_request(bool want_url = false) {
  api::ImageRequest r;
  r.prompt = "a lake";
  r.n = 1;
  r.width = 1024;
  r.height = 768;
  r.want_url = want_url;
  r.body = json{{"prompt", "a lake"}};
  return r;
}

AttemptResult run_image(config::ProviderConfig& provider, const api::ImageRequest& req,
                        api::ImageResponse& out, const std::string& model = "fal-ai/flux/dev") {
  FalAdapter adapter(provider);
  AttemptResult result;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    ctx.deadline = Clock::now() + 15s;
    Target target{&provider, model};
    result = co_await adapter.generate_image(req, target, ctx, out);
  });
  return result;
}

std::string result_body(const std::string& url) {
  return json{
      {"images",
       json::array(
           {json{{"url", url}, {"width", 1024}, {"height", 768}, {"content_type", "image/png"}}})},
      {"seed", 1},
      {"has_nsfw_concepts", json::array({false})},
      {"timings", {{"inference", 0.1}}},
      {"prompt", "a lake"}}
      .dump();
}

TEST(FalAdapter, SyncRunWithDataUri) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    const std::string body = result_body("data:image/png;base64," + media::encode_base64(kPng));
    co_return co_await p.write(response(200, body));
  });
  auto provider = provider_for(up);
  api::ImageResponse out;
  const auto r = run_image(provider, image_request(), out);
  ASSERT_TRUE(r.ok) << r.error.message;
  ASSERT_EQ(out.images.size(), 1u);
  EXPECT_EQ(out.images[0].bytes, kPng);
  EXPECT_EQ(out.images[0].content_type, "image/png");
  EXPECT_EQ(out.images[0].url, "");
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/fal-ai/flux/dev");
  EXPECT_EQ(reqs[0].header("authorization"), std::string("Key ") + kKey);
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["image_size"], "landscape_4_3");
  EXPECT_EQ(body["sync_mode"], true);
}

TEST(FalAdapter, QueueSubmitPollResultAndCdnFetchWithoutKey) {
  TestUpstream cdn([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, kPng, "", "image/png"));
  });
  TestUpstream* self = nullptr;
  int polls = 0;
  TestUpstream up([&](Peer& p, const Request& r) -> asio::awaitable<bool> {
    const std::string root = self->url("/queue/fal-ai/flux/requests/q1");
    if (r.method == "POST") {
      json submit = json::object();
      submit["request_id"] = "q1";
      submit["status_url"] = root + "/status";
      submit["response_url"] = root;
      submit["cancel_url"] = root + "/cancel";
      const std::string body = submit.dump();
      co_return co_await p.write(response(200, body));
    }
    if (r.target == "/queue/fal-ai/flux/requests/q1/status") {
      if (++polls < 3)
        co_return co_await p.write(response(202, R"({"status":"IN_QUEUE","queue_position":0})"));
      co_return co_await p.write(response(200, R"({"status":"COMPLETED","logs":null})"));
    }
    const std::string body = result_body(cdn.url("/files/a.png"));
    co_return co_await p.write(response(200, body));
  });
  self = &up;
  auto provider = provider_for(up, "/queue");
  api::ImageResponse out;
  const auto r = run_image(provider, image_request(), out);
  ASSERT_TRUE(r.ok) << r.error.message;
  ASSERT_EQ(out.images.size(), 1u);
  EXPECT_EQ(out.images[0].bytes, kPng);
  EXPECT_EQ(out.images[0].url, cdn.url("/files/a.png"));
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 5u);  // submit, 3 status, result
  EXPECT_EQ(reqs[0].target, "/queue/fal-ai/flux/dev");
  EXPECT_EQ(reqs[1].header("authorization"), std::string("Key ") + kKey);
  EXPECT_EQ(reqs[4].target, "/queue/fal-ai/flux/requests/q1");
  ASSERT_EQ(cdn.requests().size(), 1u);
  EXPECT_EQ(cdn.requests()[0].header("authorization"), "");
}

TEST(FalAdapter, WantUrlPassesCdnUrlsThrough) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, result_body("https://v3.fal.media/files/x.png")));
  });
  auto provider = provider_for(up);
  api::ImageResponse out;
  const auto r = run_image(provider, image_request(true), out);
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(out.images[0].url, "https://v3.fal.media/files/x.png");
  EXPECT_TRUE(out.images[0].bytes.empty());
  EXPECT_EQ(out.images[0].content_type, "image/png");
  EXPECT_FALSE(json::parse(up.requests()[0].body).contains("sync_mode"));
}

TEST(FalAdapter, ErrorsAndChat) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        422,
        R"({"detail":[{"loc":["body","num_images"],"msg":"ensure this value is less than or equal to 4","type":"value_error.number.not_le"}]})"));
  });
  auto provider = provider_for(up);
  api::ImageResponse out;
  auto r = run_image(provider, image_request(), out);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.status, 400);
  EXPECT_NE(r.error.message.find("body.num_images"), std::string::npos);
  r = run_image(provider, image_request(), out, "bad model id");
  EXPECT_EQ(r.error.code, "upstream_bad_model");

  FalAdapter adapter(provider);
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    api::ChatRequest req;
    class NullSink : public api::EventSink {
     public:
      asio::awaitable<bool> on_event(api::Event) override { co_return true; }
      bool committed() const override { return false; }
    } sink;
    Target target{&provider, "fal-ai/flux/dev"};
    r = co_await adapter.chat(req, target, ctx, sink);
  });
  EXPECT_EQ(r.error.code, "unsupported_operation");
  EXPECT_TRUE(r.error.retryable);
}

}  // namespace
}  // namespace infergate::adapters
