// End-to-end tests of provider type `replicate`: the real `infergate` binary in front of
// infergate-mock-replicate, both started as processes on ephemeral loopback ports. Clients speak
// OpenAI's chat/completions and images/generations; the gateway speaks Replicate's predictions
// API upstream (Prefer: wait, polling urls.get, the SSE at urls.stream, fetching output files).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "ig-replicate-it-key-0123456789";
constexpr const char* kProviderSecret = "r8_replicate_SECRET_value_42";

std::string chat_body(const std::string& model, bool stream = false,
                      const std::string& extra = "") {
  std::string b = R"({"model":")" + model +
                  R"(","messages":[{"role":"system","content":"Be brief."},)" +
                  R"({"role":"user","content":"hello there gateway"}])";
  if (stream) b += R"(,"stream":true,"stream_options":{"include_usage":true})";
  return b + extra + "}";
}

std::vector<std::pair<std::string, std::string>> auth() {
  return {{"Authorization", std::string("Bearer ") + kKey}};
}

std::string b64decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int acc = 0, bits = 0;
  for (char c : in) {
    const int v = val(c);
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// Width and height from a PNG's IHDR; {0, 0} when it is not a PNG.
std::pair<int, int> png_dims(const std::string& png) {
  if (png.size() < 24 || png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) != 0 ||
      png.compare(12, 4, "IHDR") != 0)
    return {0, 0};
  auto be = [&](std::size_t at) {
    return (static_cast<unsigned char>(png[at]) << 24) |
           (static_cast<unsigned char>(png[at + 1]) << 16) |
           (static_cast<unsigned char>(png[at + 2]) << 8) | static_cast<unsigned char>(png[at + 3]);
  };
  return {be(16), be(20)};
}

class ReplicateGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new Process();
    mock_->start(
        {MOCK_REPLICATE_BIN, "--port", "0", "--port-file", (dir_->path() / "mock.port").string()},
        dir_->path() / "mock.log");
    mock_port_ = wait_for_port(dir_->path() / "mock.port");
    const int dead = free_port();
    const fs::path& dir = dir_->path();
    const std::string base = "http://127.0.0.1:" + std::to_string(mock_port_) + "/v1";
    auto provider = [&](const std::string& name, const std::string& behaviour,
                        const std::string& extra = "") {
      std::string p = "  - name: " + name + "\n    type: replicate\n    base_url: " + base +
                      "\n    api_key: ${IT_REPLICATE_KEY}\n"
                      "    timeouts: { connect: 1s, first_byte: 5s, idle: 5s, total: 20s }\n";
      if (!behaviour.empty()) p += "    headers: { x-mock-behaviour: \"" + behaviour + "\" }\n";
      return p + extra;
    };
    const std::string cfg =
        "server:\n  host: 127.0.0.1\n  port: 0\n  port_file: " + (dir / "gw.port").string() +
        "\n  io_threads: 1\nproviders:\n" + provider("rep", "") + provider("rep-poll", "polls=2") +
        provider("rep-data", "data_uri=1") +
        provider("rep-failing", "fail=1000000&fail_status=503") +
        provider("rep-limited", "fail=1000000&fail_status=429&retry_after=9") +
        provider("rep-predfail", "prediction_fail=1") +
        provider("rep-strict", "", "    drop_unsupported_params: false\n") +
        "  - name: rep-slow\n    type: replicate\n    base_url: " + base +
        "\n    api_key: ${IT_REPLICATE_KEY}\n    headers: { x-mock-behaviour: \"polls=1000\" }\n"
        "    timeouts: { connect: 1s, first_byte: 5s, idle: 5s, total: 2s }\n" +
        "  - name: rep-dead\n    type: replicate\n    base_url: http://127.0.0.1:" +
        std::to_string(dead) +
        "/v1\n    api_key: ${IT_REPLICATE_KEY}\n    timeouts: { connect: 1s }\n" +
        R"(models:
  - { name: r-chat, deployments: [ { provider: rep, model: meta/meta-llama-3-8b-instruct } ] }
  - { name: r-chat-poll, deployments: [ { provider: rep-poll, model: meta/meta-llama-3-8b-instruct } ] }
  - { name: r-strict, deployments: [ { provider: rep-strict, model: meta/meta-llama-3-8b-instruct } ] }
  - { name: r-chat-slow, deployments: [ { provider: rep-slow, model: meta/meta-llama-3-8b-instruct } ] }
  - { name: r-limited, deployments: [ { provider: rep-limited, model: meta/meta-llama-3-8b-instruct } ] }
  - name: r-fallback
    deployments:
      - { provider: rep-dead, model: meta/meta-llama-3-8b-instruct }
      - { provider: rep-failing, model: meta/meta-llama-3-8b-instruct }
      - { provider: rep, model: meta/llama-fallback }
  - { name: r-flux, deployments: [ { provider: rep, model: black-forest-labs/flux-schnell } ] }
  - { name: r-flux-poll, deployments: [ { provider: rep-poll, model: black-forest-labs/flux-schnell } ] }
  - { name: r-sdxl-data, deployments: [ { provider: rep-data, model: stability-ai/sdxl } ] }
  - { name: r-flux-fail, deployments: [ { provider: rep-predfail, model: black-forest-labs/flux-schnell } ] }
keys:
  - { id: it, sha256: )" +
        policy::sha256_hex(kKey) + R"(, org: itorg }
orgs: [ { name: itorg } ]
routing: { max_attempts: 3 }
)";
    write_file(dir / "gw.yaml", cfg);
    gw_ = new Process();
    gw_->start({INFERGATE_BIN, "--config", (dir / "gw.yaml").string()}, dir / "gw.log",
               {{"IT_REPLICATE_KEY", kProviderSecret}});
    gw_port_ = wait_for_port(dir / "gw.port");
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete mock_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_GT(mock_port_, 0) << "mock did not start: " << mock_->log();
    ASSERT_GT(gw_port_, 0) << "gateway did not start: " << gw_->log();
  }
  static json last_upstream_request() {
    return json::parse(http_request(mock_port_, "GET", "/_mock/last_request").body, nullptr, false);
  }
  static json mock_stats() {
    return json::parse(http_request(mock_port_, "GET", "/_mock/stats").body, nullptr, false);
  }

  static TempDir* dir_;
  static Process* mock_;
  static Process* gw_;
  static int mock_port_;
  static int gw_port_;
};
TempDir* ReplicateGatewayTest::dir_ = nullptr;
Process* ReplicateGatewayTest::mock_ = nullptr;
Process* ReplicateGatewayTest::gw_ = nullptr;
int ReplicateGatewayTest::mock_port_ = 0;
int ReplicateGatewayTest::gw_port_ = 0;

TEST(ReplicateCli, CheckConfigAcceptsReplicateProviders) {
  TempDir d;
  write_file(d.path() / "c.yaml", R"(
providers:
  - { name: r, preset: replicate }
  - { name: r2, type: replicate, api_key: "${REPLICATE_API_TOKEN}" }
models:
  - { name: m, deployments: [ { provider: r, model: meta/meta-llama-3-8b-instruct } ] }
)");
  Process p;
  p.start({INFERGATE_BIN, "--check-config", (d.path() / "c.yaml").string()}, d.path() / "out.log",
          {{"REPLICATE_API_TOKEN", "x"}});
  EXPECT_EQ(p.wait(20s), 0) << p.log();
}

TEST_F(ReplicateGatewayTest, ChatNonStreaming) {
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-chat"), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "r-chat");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);  // metrics.input_token_count
  EXPECT_EQ(j["usage"]["completion_tokens"], 8);

  auto last = last_upstream_request();
  ASSERT_TRUE(last.is_object());
  EXPECT_EQ(last["target"], "/v1/models/meta/meta-llama-3-8b-instruct/predictions");
  EXPECT_EQ(last["headers"]["authorization"], std::string("Bearer ") + kProviderSecret);
  EXPECT_EQ(last["headers"]["prefer"].get<std::string>().rfind("wait", 0), 0u);
  EXPECT_EQ(last["body"]["input"]["prompt"], "hello there gateway");
  EXPECT_EQ(last["body"]["input"]["system_prompt"], "Be brief.");
  EXPECT_FALSE(last["body"].contains("stream"));
  EXPECT_EQ(last.dump().find(kKey), std::string::npos) << "the client's key never goes upstream";
}

TEST_F(ReplicateGatewayTest, ChatStreamingReadsUrlsStream) {
  http_request(mock_port_, "POST", "/_mock/reset");
  auto r =
      http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-chat", true), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 4u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  bool saw_finish = false, saw_usage = false;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto j = json::parse(events[i]);
    if (j.contains("usage") && j["usage"].is_object()) {
      saw_usage = true;
      EXPECT_EQ(j["usage"]["completion_tokens"], 8);
      EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
      continue;
    }
    auto& c = j["choices"][0];
    if (c["delta"].contains("content") && c["delta"]["content"].is_string())
      text += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) saw_finish = true;
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7");
  EXPECT_TRUE(saw_finish);
  EXPECT_TRUE(saw_usage);
  auto last = last_upstream_request();
  EXPECT_EQ(last["body"]["stream"], true);
  EXPECT_FALSE(last["headers"].contains("prefer"));
  auto stats = mock_stats();
  EXPECT_EQ(stats["streams_completed"], 1);
}

TEST_F(ReplicateGatewayTest, ChatPredictionThatNeedsPolling) {
  http_request(mock_port_, "POST", "/_mock/reset");
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-chat-poll"), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"],
            "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7");
  EXPECT_EQ(mock_stats()["polls"], 3);  // two unfinished answers, then the finished one
}

// Given up on (the deployment's total timeout passed while the prediction was still running):
// the gateway cancels it upstream (Replicate "Cancel a prediction", POST urls.cancel).
TEST_F(ReplicateGatewayTest, PredictionGivenUpOnIsCancelled) {
  http_request(mock_port_, "POST", "/_mock/reset");
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-chat-slow"), auth());
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_GE(mock_stats()["polls"], 2);
  // Fire-and-forget: it may land just after the answer.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (mock_stats()["cancels"] == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(mock_stats()["cancels"], 1);

  // A prediction that finished is never cancelled.
  http_request(mock_port_, "POST", "/_mock/reset");
  r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-chat-poll"), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(mock_stats()["cancels"], 0);
}

TEST_F(ReplicateGatewayTest, FallbackPastDeadAndFailingDeployments) {
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-fallback"), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_upstream_request()["target"], "/v1/models/meta/llama-fallback/predictions");
}

TEST_F(ReplicateGatewayTest, RateLimitedUpstream) {
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-limited"), auth());
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.body.find(kProviderSecret), std::string::npos);
}

TEST_F(ReplicateGatewayTest, UnsupportedParamsDroppedOrRejected) {
  const std::string extra =
      R"(,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}])";
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-chat", false, extra),
                        auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.header("x-infergate-dropped-params").find("tools"), std::string::npos);
  EXPECT_FALSE(last_upstream_request()["body"]["input"].contains("tools"));
  r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("r-strict", false, extra),
                   auth());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("tools"), std::string::npos) << r.body;
}

// --- images ----------------------------------------------------------------------------------

TEST_F(ReplicateGatewayTest, ImagesFluxFetchesTheOutputFiles) {
  http_request(mock_port_, "POST", "/_mock/reset");
  auto r = http_request(
      gw_port_, "POST", "/v1/images/generations",
      R"({"model":"r-flux","prompt":"a red fox","n":2,"size":"1024x576","seed":9})", auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_TRUE(j["created"].is_number_integer());
  ASSERT_EQ(j["data"].size(), 2u) << r.body;
  const std::string a = b64decode(j["data"][0]["b64_json"].get<std::string>());
  const std::string b = b64decode(j["data"][1]["b64_json"].get<std::string>());
  EXPECT_EQ(png_dims(a), (std::pair<int, int>{32, 18}));  // the mock draws 16:9 as 32x18
  EXPECT_NE(a, b);
  auto last = last_upstream_request();
  EXPECT_EQ(last["target"], "/v1/models/black-forest-labs/flux-schnell/predictions");
  EXPECT_EQ(last["body"]["input"]["aspect_ratio"], "16:9");
  EXPECT_EQ(last["body"]["input"]["num_outputs"], 2);
  EXPECT_EQ(last["body"]["input"]["seed"], 9);
  EXPECT_EQ(mock_stats()["file_fetches"], 2);
}

TEST_F(ReplicateGatewayTest, ImagesPollingAndDataUris) {
  auto r =
      http_request(gw_port_, "POST", "/v1/images/generations",
                   R"({"model":"r-flux-poll","prompt":"a red fox","size":"1024x1024"})", auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(png_dims(b64decode(json::parse(r.body)["data"][0]["b64_json"].get<std::string>())),
            (std::pair<int, int>{2, 2}));
  r = http_request(
      gw_port_, "POST", "/v1/images/generations",
      R"({"model":"r-sdxl-data","prompt":"a castle","size":"768x512","negative_prompt":"fog"})",
      auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(png_dims(b64decode(json::parse(r.body)["data"][0]["b64_json"].get<std::string>())),
            (std::pair<int, int>{12, 8}));
  EXPECT_EQ(last_upstream_request()["body"]["input"]["negative_prompt"], "fog");
}

TEST_F(ReplicateGatewayTest, ImagesFailedPredictionAndBadInput) {
  auto r = http_request(gw_port_, "POST", "/v1/images/generations",
                        R"({"model":"r-flux-fail","prompt":"x"})", auth());
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("prediction failed"), std::string::npos) << r.body;
  // FLUX [schnell] takes at most 4 outputs: Replicate's 422 becomes a 400 naming the field.
  r = http_request(gw_port_, "POST", "/v1/images/generations",
                   R"({"model":"r-flux","prompt":"x","n":6})", auth());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("num_outputs"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace infergate::it
