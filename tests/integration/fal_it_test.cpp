// End-to-end tests of provider type `fal`: the real `infergate` binary in front of
// infergate-mock-fal, both started as processes on ephemeral loopback ports. Clients speak
// OpenAI's images/generations; the gateway speaks fal's synchronous run API and, for a base URL
// ending in /queue, fal's queue API (submit, poll status_url, read response_url).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "ig-fal-it-key-0123456789";
constexpr const char* kProviderSecret = "fal-key-id:fal_SECRET_value_42";

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

class FalGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new Process();
    mock_->start(
        {MOCK_FAL_BIN, "--port", "0", "--port-file", (dir_->path() / "mock.port").string()},
        dir_->path() / "mock.log");
    mock_port_ = wait_for_port(dir_->path() / "mock.port");
    const fs::path& dir = dir_->path();
    const std::string base = "http://127.0.0.1:" + std::to_string(mock_port_);
    auto provider = [&](const std::string& name, const std::string& url,
                        const std::string& behaviour, const std::string& extra = "") {
      std::string p = "  - name: " + name + "\n    type: fal\n    base_url: " + url +
                      "\n    api_key: ${IT_FAL_KEY}\n"
                      "    timeouts: { connect: 1s, first_byte: 5s, idle: 5s, total: 20s }\n";
      if (!behaviour.empty()) p += "    headers: { x-mock-behaviour: \"" + behaviour + "\" }\n";
      return p + extra;
    };
    const std::string cfg =
        "server:\n  host: 127.0.0.1\n  port: 0\n  port_file: " + (dir / "gw.port").string() +
        "\n  io_threads: 1\nproviders:\n" + provider("fal", base, "") +
        provider("fal-queue", base + "/queue", "polls=3") +
        provider("fal-limited", base, "fail=1000000&fail_status=429&retry_after=7") +
        provider("fal-failing", base, "fail=1000000&fail_status=503") +
        provider("fal-strict", base, "", "    drop_unsupported_params: false\n") +
        R"(models:
  - { name: f-schnell, deployments: [ { provider: fal, model: fal-ai/flux/schnell } ] }
  - { name: f-sdxl, deployments: [ { provider: fal, model: fal-ai/fast-sdxl } ] }
  - { name: f-queue, deployments: [ { provider: fal-queue, model: fal-ai/flux/dev } ] }
  - { name: f-limited, deployments: [ { provider: fal-limited, model: fal-ai/flux/schnell } ] }
  - { name: f-strict, deployments: [ { provider: fal-strict, model: fal-ai/flux/schnell } ] }
  - name: f-fallback
    deployments:
      - { provider: fal-failing, model: fal-ai/flux/schnell }
      - { provider: fal, model: fal-ai/flux/dev }
keys:
  - { id: it, sha256: )" +
        policy::sha256_hex(kKey) + R"(, org: itorg }
orgs: [ { name: itorg } ]
routing: { max_attempts: 3 }
)";
    write_file(dir / "gw.yaml", cfg);
    gw_ = new Process();
    gw_->start({INFERGATE_BIN, "--config", (dir / "gw.yaml").string()}, dir / "gw.log",
               {{"IT_FAL_KEY", kProviderSecret}});
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
  static Response image(const std::string& body) {
    return http_request(gw_port_, "POST", "/v1/images/generations", body, auth());
  }

  static TempDir* dir_;
  static Process* mock_;
  static Process* gw_;
  static int mock_port_;
  static int gw_port_;
};
TempDir* FalGatewayTest::dir_ = nullptr;
Process* FalGatewayTest::mock_ = nullptr;
Process* FalGatewayTest::gw_ = nullptr;
int FalGatewayTest::mock_port_ = 0;
int FalGatewayTest::gw_port_ = 0;

TEST(FalCli, CheckConfigAcceptsFalProviders) {
  TempDir d;
  write_file(d.path() / "c.yaml", R"(
providers:
  - { name: f, preset: fal }
  - { name: fq, type: fal, base_url: "https://queue.fal.run", api_key: "${FAL_KEY}" }
models:
  - { name: m, deployments: [ { provider: f, model: fal-ai/flux/schnell } ] }
)");
  Process p;
  p.start({INFERGATE_BIN, "--check-config", (d.path() / "c.yaml").string()}, d.path() / "out.log",
          {{"FAL_KEY", "x"}});
  EXPECT_EQ(p.wait(20s), 0) << p.log();
}

TEST_F(FalGatewayTest, SyncRunWithDataUris) {
  http_request(mock_port_, "POST", "/_mock/reset");
  auto r = image(R"({"model":"f-schnell","prompt":"a city","n":2,"size":"1024x576","seed":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  ASSERT_EQ(j["data"].size(), 2u) << r.body;
  const std::string a = b64decode(j["data"][0]["b64_json"].get<std::string>());
  EXPECT_EQ(png_dims(a), (std::pair<int, int>{16, 9}));  // landscape_16_9 drawn at 1/64
  EXPECT_NE(a, b64decode(j["data"][1]["b64_json"].get<std::string>()));
  auto last = last_upstream_request();
  EXPECT_EQ(last["target"], "/fal-ai/flux/schnell");
  EXPECT_EQ(last["queue"], false);
  EXPECT_EQ(last["headers"]["authorization"], std::string("Key ") + kProviderSecret);
  EXPECT_EQ(last["body"]["image_size"], "landscape_16_9");
  EXPECT_EQ(last["body"]["num_images"], 2);
  EXPECT_EQ(last["body"]["seed"], 5);
  EXPECT_EQ(last["body"]["sync_mode"], true);
  EXPECT_EQ(mock_stats()["file_fetches"], 0);  // data URIs: nothing to download
  EXPECT_EQ(last.dump().find(kKey), std::string::npos);
}

TEST_F(FalGatewayTest, UrlsPassedThroughOrFetched) {
  http_request(mock_port_, "POST", "/_mock/reset");
  auto r = image(
      R"({"model":"f-sdxl","prompt":"a castle","size":"640x480","negative_prompt":"fog","response_format":"url"})");
  ASSERT_EQ(r.status, 200) << r.body;
  // The client asked for URLs: fal's URL is passed through (no sync_mode, nothing downloaded).
  const std::string url = json::parse(r.body)["data"][0]["url"].get<std::string>();
  const std::string prefix = "http://127.0.0.1:" + std::to_string(mock_port_);
  ASSERT_EQ(url.rfind(prefix + "/files/", 0), 0u) << url;
  auto last = last_upstream_request();
  EXPECT_FALSE(last["body"].contains("sync_mode"));
  EXPECT_EQ(last["body"]["negative_prompt"], "fog");
  EXPECT_EQ(last["body"]["image_size"], (json{{"width", 640}, {"height", 480}}));
  EXPECT_EQ(mock_stats()["file_fetches"], 0);
  EXPECT_EQ(png_dims(http_request(mock_port_, "GET", url.substr(prefix.size())).body),
            (std::pair<int, int>{10, 7}));

  // b64_json: the same model's URL answer is downloaded by the gateway.
  http_request(mock_port_, "POST", "/_mock/reset");
  r = image(R"({"model":"f-sdxl","prompt":"a castle","size":"640x480"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(png_dims(b64decode(json::parse(r.body)["data"][0]["b64_json"].get<std::string>())),
            (std::pair<int, int>{10, 7}));
  EXPECT_EQ(last_upstream_request()["body"]["sync_mode"], true);
}

TEST_F(FalGatewayTest, QueueApi) {
  http_request(mock_port_, "POST", "/_mock/reset");
  auto r =
      image(R"({"model":"f-queue","prompt":"a lake","size":"1024x1024","guidance_scale":3.5})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(png_dims(b64decode(json::parse(r.body)["data"][0]["b64_json"].get<std::string>())),
            (std::pair<int, int>{16, 16}));
  auto last = last_upstream_request();
  EXPECT_EQ(last["target"], "/queue/fal-ai/flux/dev");
  EXPECT_EQ(last["body"]["guidance_scale"], 3.5);
  auto stats = mock_stats();
  EXPECT_EQ(stats["submits"], 1);
  EXPECT_EQ(stats["status_polls"], 4);  // three unfinished answers, then COMPLETED
  EXPECT_EQ(stats["results"], 1);
}

TEST_F(FalGatewayTest, ErrorsMapToOpenAiStatuses) {
  // fal's 422 validation error (num_images <= 4) -> 400 naming the field.
  auto r = image(R"({"model":"f-schnell","prompt":"x","n":6})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("num_images"), std::string::npos) << r.body;
  r = image(R"({"model":"f-limited","prompt":"x"})");
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.body.find(kProviderSecret), std::string::npos);
  r = image(R"({"model":"f-fallback","prompt":"x"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_upstream_request()["target"], "/fal-ai/flux/dev");
}

TEST_F(FalGatewayTest, UnsupportedParamsDroppedOrRejected) {
  auto r = image(R"({"model":"f-schnell","prompt":"x","guidance_scale":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.header("x-infergate-dropped-params").find("guidance_scale"), std::string::npos);
  EXPECT_FALSE(last_upstream_request()["body"].contains("guidance_scale"));
  r = image(R"({"model":"f-strict","prompt":"x","guidance_scale":2})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("guidance_scale"), std::string::npos) << r.body;
}

TEST_F(FalGatewayTest, ChatIsNotFals) {
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("f-schnell"), auth());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("unsupported_operation"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace infergate::it
