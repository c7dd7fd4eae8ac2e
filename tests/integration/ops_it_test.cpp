// End-to-end tests of OpenAI's non-chat routes — POST /v1/embeddings, /v1/images/generations and
// /v1/completions (plain and streamed) — through the real `infergate` binary in front of the mock
// OpenAI provider, both started as processes on ephemeral loopback ports.
#include <gtest/gtest.h>

#include <bit>
#include <sstream>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "ig-ops-it-key-0123456789";
constexpr const char* kProviderSecret = "sk-provider-OPS-secret-77";

std::vector<std::pair<std::string, std::string>> auth() {
  return {{"Authorization", std::string("Bearer ") + kKey}};
}

std::string decode_b64(const std::string& in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+') v = 62;
    if (c == '/') v = 63;
    if (v < 0) break;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::vector<float> floats_of(const std::string& raw) {
  std::vector<float> v(raw.size() / 4);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t bits = 0;
    for (int b = 0; b < 4; ++b)
      bits |= std::uint32_t{static_cast<unsigned char>(raw[i * 4 + static_cast<std::size_t>(b)])}
              << (8 * b);
    v[i] = std::bit_cast<float>(bits);
  }
  return v;
}

void expect_error(const Response& r, int status, const std::string& param,
                  const std::string& code = {}) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
  EXPECT_TRUE(j["error"]["type"].is_string()) << r.body;
  if (!param.empty()) {
    EXPECT_EQ(j["error"]["param"], param) << r.body;
  }
  if (!code.empty()) {
    EXPECT_EQ(j["error"]["code"], code) << r.body;
  }
  EXPECT_EQ(r.body.find(kProviderSecret), std::string::npos);
}

class OpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const auto& dir = dir_->path();
    mock_ = new Process();
    mock_->start(
        {MOCK_BIN, "--port", "0", "--port-file", (dir / "mock.port").string(), "--threads", "1"},
        dir / "mock.log");
    mock_port_ = wait_for_port(dir / "mock.port");
    const int dead = free_port();
    const std::string mock_url = "http://127.0.0.1:" + std::to_string(mock_port_) + "/v1";
    const std::string dead_url = "http://127.0.0.1:" + std::to_string(dead) + "/v1";
    const std::string cfg = R"(
server:
  host: 127.0.0.1
  port: 0
  port_file: )" + (dir / "gw.port").string() +
                            R"(
  io_threads: 2
  access_log: )" + (dir / "access.log").string() +
                            R"(
  limits: { max_body_bytes: 64KiB }
  timeouts: { request_read: 2s, idle: 5s, request: 3s, shutdown_grace: 2s }
providers:
  - { name: mock, type: openai, base_url: ")" +
                            mock_url + R"(", api_key: "${OPS_PROVIDER_KEY}" }
  - { name: dead, type: openai, base_url: ")" +
                            dead_url + R"(", timeouts: { connect: 1s } }
  - { name: claude, type: anthropic, base_url: ")" +
                            dead_url + R"(", api_key: "${OPS_PROVIDER_KEY}" }
models:
  - { name: embed, deployments: [ { provider: mock, model: emb-up } ] }
  - name: embed-fallback
    deployments:
      - { provider: dead, model: x }
      - { provider: mock, model: "emb-fail?fail=1000000&fail_status=500" }
      - { provider: mock, model: emb-up }
  - { name: embed-stall, deployments: [ { provider: mock, model: "emb-stall?stall=1" } ] }
  - { name: image, deployments: [ { provider: mock, model: img-up } ] }
  - { name: image-b64, deployments: [ { provider: mock, model: "img-b64?b64_only=1" } ] }
  - { name: image-fallback, deployments: [ { provider: dead, model: x }, { provider: mock, model: img-up } ] }
  - { name: instruct, deployments: [ { provider: mock, model: inst-up } ] }
  - name: instruct-fallback
    deployments:
      - { provider: mock, model: "inst-fail?fail=1000000&fail_status=503" }
      - { provider: mock, model: inst-up }
  - { name: instruct-slow, deployments: [ { provider: mock, model: "inst-slow?tokens=400&token_delay_ms=20" } ] }
  - { name: claude-only, deployments: [ { provider: claude, model: claude-x } ] }
  - { name: claude-then-mock, deployments: [ { provider: claude, model: claude-x }, { provider: mock, model: emb-up } ] }
  - { name: hidden, deployments: [ { provider: mock, model: emb-up } ] }
keys:
  - id: ops-key
    sha256: )" + policy::sha256_hex(kKey) +
                            R"(
    org: opsorg
    models: [embed, embed-fallback, embed-stall, image, image-b64, image-fallback, instruct, instruct-fallback, instruct-slow, claude-only, claude-then-mock]
orgs: [ { name: opsorg } ]
routing: { max_attempts: 3 }
)";
    write_file(dir / "gw.yaml", cfg);
    gw_ = new Process();
    gw_->start({INFERGATE_BIN, "--config", (dir / "gw.yaml").string()}, dir / "gw.log",
               {{"OPS_PROVIDER_KEY", kProviderSecret}});
    gw_port_ = wait_for_port(dir / "gw.port");
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete mock_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_GT(mock_port_, 0) << "mock did not start";
    ASSERT_GT(gw_port_, 0) << "gateway did not start: " << gw_->log();
  }
  static json mock_get(const std::string& path) {
    return json::parse(http_request(mock_port_, "GET", path).body, nullptr, false);
  }
  static void mock_reset() { http_request(mock_port_, "POST", "/_mock/reset"); }
  static json last_upstream_body() {
    auto last = mock_get("/_mock/last_request");
    return last["body"];
  }
  static Response post(const std::string& path, const std::string& body,
                       std::vector<std::pair<std::string, std::string>> headers = auth()) {
    return http_request(gw_port_, "POST", path, body, headers);
  }
  // The access-log line of request `id` (polled: the log is written by a background thread).
  static json log_line(const std::string& id) {
    for (int i = 0; i < 100; ++i) {
      std::istringstream in(read_file(dir_->path() / "access.log"));
      std::string line;
      while (std::getline(in, line)) {
        auto j = json::parse(line, nullptr, false);
        if (j.is_object() && j.value("request_id", "") == id) return j;
      }
      std::this_thread::sleep_for(20ms);
    }
    return {};
  }
  // Sends `body` on a raw connection, waits `wait`, then hangs up.
  static void post_and_leave(const std::string& path, const std::string& body,
                             const std::string& until, std::chrono::milliseconds wait) {
    RawConn c(gw_port_);
    ASSERT_TRUE(c.connected());
    c.send("POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kKey +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body);
    c.read_until(until, wait);
    c.close();
  }
  // Polls the mock's stats until `pred` holds.
  template <class Pred>
  static bool mock_eventually(Pred pred) {
    for (int i = 0; i < 150; ++i) {
      if (pred(mock_get("/_mock/stats"))) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  static TempDir* dir_;
  static Process* mock_;
  static Process* gw_;
  static int mock_port_;
  static int gw_port_;
};
TempDir* OpsTest::dir_ = nullptr;
Process* OpsTest::mock_ = nullptr;
Process* OpsTest::gw_ = nullptr;
int OpsTest::mock_port_ = 0;
int OpsTest::gw_port_ = 0;

// --- embeddings -----------------------------------------------------------------------------

TEST_F(OpsTest, EmbeddingsFloat) {
  auto r = post(
      "/v1/embeddings",
      R"({"model":"embed","input":["hello there","general kenobi"],"encoding_format":"float"})",
      {{"Authorization", std::string("Bearer ") + kKey},
       {"x-request-id", "ops-embed-1"},
       {"X-HF-Bill-To", "acme"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "embed");
  ASSERT_EQ(j["data"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(j["data"][i]["object"], "embedding");
    EXPECT_EQ(j["data"][i]["index"], i);
    EXPECT_EQ(j["data"][i]["embedding"].size(), 8u);
  }
  EXPECT_NE(j["data"][0]["embedding"], j["data"][1]["embedding"]);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(j["usage"]["total_tokens"], 4);
  const json up = last_upstream_body();
  EXPECT_EQ(up["model"], "emb-up");
  EXPECT_EQ(up["encoding_format"], "float");
  const std::string headers = mock_get("/_mock/last_request")["headers"].dump();
  EXPECT_NE(headers.find(kProviderSecret), std::string::npos) << "provider key must be sent";
  const json line = log_line("ops-embed-1");
  ASSERT_TRUE(line.is_object()) << "no access-log line";
  EXPECT_EQ(line["path"], "/v1/embeddings");
  EXPECT_EQ(line["model"], "embed");
  EXPECT_EQ(line["provider"], "mock");
  EXPECT_EQ(line["status"], 200);
  EXPECT_EQ(line["prompt_tokens"], 4);
}

TEST_F(OpsTest, EmbeddingsBase64IsLittleEndianFloat32OfTheSameVector) {
  auto f = post("/v1/embeddings", R"({"model":"embed","input":"same text","dimensions":16})");
  auto b =
      post("/v1/embeddings",
           R"({"model":"embed","input":"same text","dimensions":16,"encoding_format":"base64"})");
  ASSERT_EQ(f.status, 200) << f.body;
  ASSERT_EQ(b.status, 200) << b.body;
  const auto floats = json::parse(f.body)["data"][0]["embedding"].get<std::vector<float>>();
  ASSERT_EQ(floats.size(), 16u);
  const auto b64 = json::parse(b.body)["data"][0]["embedding"];
  ASSERT_TRUE(b64.is_string()) << b.body;
  EXPECT_EQ(floats_of(decode_b64(b64.get<std::string>())), floats);
  EXPECT_EQ(last_upstream_body()["encoding_format"], "float") << "the gateway asks for floats";
}

TEST_F(OpsTest, EmbeddingsFallBackAcrossFailingDeployments) {
  mock_reset();
  auto r =
      post("/v1/embeddings", R"({"model":"embed-fallback","input":"x"})",
           {{"Authorization", std::string("Bearer ") + kKey}, {"x-request-id", "ops-embed-fb"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["model"], "embed-fallback");
  EXPECT_EQ(mock_get("/_mock/stats")["injected_failures"], 1);
  const json line = log_line("ops-embed-fb");
  ASSERT_TRUE(line.is_object());
  EXPECT_EQ(line["attempts"], 3);
}

TEST_F(OpsTest, EmbeddingsClientDisconnectCancelsTheUpstreamCall) {
  mock_reset();
  post_and_leave("/v1/embeddings", R"({"model":"embed-stall","input":"x"})", "", 300ms);
  EXPECT_TRUE(mock_eventually([](const json& s) {
    return s.value("abandoned_requests", 0) == 1 && s.value("active_requests", 1) == 0;
  })) << mock_get("/_mock/stats").dump();
}

TEST_F(OpsTest, EmbeddingsDeadlineIs504) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = post("/v1/embeddings", R"({"model":"embed-stall","input":"x"})");
  expect_error(r, 504, "", "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 6s);
}

// --- images ---------------------------------------------------------------------------------

TEST_F(OpsTest, ImagesB64Json) {
  auto r = post("/v1/images/generations",
                R"({"model":"image","prompt":"a sea otter","n":2,"size":"1024x1024"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_GT(j["created"].get<std::int64_t>(), 0);
  ASSERT_EQ(j["data"].size(), 2u);
  const std::string png = decode_b64(j["data"][0]["b64_json"].get<std::string>());
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(j["data"][0]["revised_prompt"], "mock: a sea otter");
  EXPECT_EQ(j["usage"]["input_tokens"], 3);
  const json up = last_upstream_body();
  EXPECT_EQ(up["model"], "img-up");
  EXPECT_EQ(up["size"], "1024x1024");
}

TEST_F(OpsTest, ImagesUrlPassesThroughProviderUrls) {
  auto r = post("/v1/images/generations",
                R"({"model":"image","prompt":"otter","response_format":"url"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string url = json::parse(r.body)["data"][0]["url"];
  EXPECT_EQ(url, "http://127.0.0.1:" + std::to_string(mock_port_) + "/_mock/images/tiny.png");
}

TEST_F(OpsTest, ImagesUrlFromProviderBytesIsADataUrl) {
  auto r = post("/v1/images/generations",
                R"({"model":"image-b64","prompt":"otter","response_format":"url"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string url = json::parse(r.body)["data"][0]["url"];
  ASSERT_TRUE(url.starts_with("data:image/png;base64,")) << url;
  EXPECT_EQ(decode_b64(url.substr(22)).substr(1, 3), "PNG");
}

TEST_F(OpsTest, ImagesFallBackFromADeadProvider) {
  auto r = post("/v1/images/generations", R"({"model":"image-fallback","prompt":"otter"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"].size(), 1u);
}

// --- legacy completions ---------------------------------------------------------------------

TEST_F(OpsTest, CompletionsPlain) {
  auto r = post("/v1/completions",
                R"({"model":"instruct","prompt":"Say this is a test","max_tokens":3})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "instruct");
  EXPECT_TRUE(j["id"].get<std::string>().starts_with("cmpl-"));
  EXPECT_EQ(j["choices"][0]["text"], "tok0 tok1 tok2");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  auto last = mock_get("/_mock/last_request");
  EXPECT_EQ(last["target"], "/v1/completions");
  EXPECT_EQ(last["body"]["model"], "inst-up");
  EXPECT_EQ(last["body"]["prompt"], "Say this is a test");
}

TEST_F(OpsTest, CompletionsStream) {
  auto r = post(
      "/v1/completions",
      R"({"model":"instruct","prompt":"hi","stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  const auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 3u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string finish;
  json usage;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto c = json::parse(events[i]);
    EXPECT_EQ(c["object"], "text_completion") << events[i];
    EXPECT_EQ(c["model"], "instruct");
    if (c.contains("usage")) usage = c["usage"];
    if (c["choices"].empty()) continue;
    text += c["choices"][0]["text"].get<std::string>();
    if (c["choices"][0]["finish_reason"].is_string()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(usage["completion_tokens"], 8);
}

TEST_F(OpsTest, CompletionsFallBack) {
  mock_reset();
  auto r = post("/v1/completions", R"({"model":"instruct-fallback","prompt":"x"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(mock_get("/_mock/stats")["injected_failures"], 1);
}

TEST_F(OpsTest, CompletionsStreamClientDisconnectCancelsUpstream) {
  mock_reset();
  post_and_leave("/v1/completions", R"({"model":"instruct-slow","prompt":"x","stream":true})",
                 "tok1", 3s);
  EXPECT_TRUE(mock_eventually([](const json& s) {
    return s.value("abandoned_streams", 0) == 1 && s.value("active_requests", 1) == 0;
  })) << mock_get("/_mock/stats").dump();
}

// --- errors ---------------------------------------------------------------------------------

TEST_F(OpsTest, BadRequestsNameTheField) {
  expect_error(post("/v1/embeddings", R"({"model":"embed"})"), 400, "input");
  expect_error(post("/v1/embeddings", R"({"model":"embed","input":"x","dimensions":0})"), 400,
               "dimensions");
  expect_error(post("/v1/embeddings", R"({"model":"embed","input":"x","encoding_format":"hex"})"),
               400, "encoding_format");
  expect_error(post("/v1/images/generations", R"({"model":"image","prompt":"p","n":11})"), 400,
               "n");
  expect_error(post("/v1/images/generations", R"({"model":"image","prompt":"p","size":"huge"})"),
               400, "size");
  expect_error(post("/v1/completions", R"({"model":"instruct"})"), 400, "prompt");
  expect_error(post("/v1/completions", R"({"model":"instruct","prompt":"x","logprobs":9})"), 400,
               "logprobs");
  expect_error(post("/v1/completions", "{nope"), 400, "", "invalid_json");
  auto get = http_request(gw_port_, "GET", "/v1/embeddings", "", auth());
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.header("allow"), "POST");
}

TEST_F(OpsTest, TooLargeBodyIs413) {
  const std::string big = R"({"model":"embed","input":")" + std::string(70 * 1024, 'a') + "\"}";
  expect_error(post("/v1/embeddings", big), 413, "");
}

TEST_F(OpsTest, UnauthenticatedIs401) {
  for (const char* path : {"/v1/embeddings", "/v1/images/generations", "/v1/completions"}) {
    auto r = post(path, R"({"model":"embed","input":"x","prompt":"x"})", {});
    expect_error(r, 401, "", "invalid_api_key");
    EXPECT_EQ(r.header("www-authenticate"), "Bearer");
    auto wrong = post(path, R"({"model":"embed","input":"x","prompt":"x"})",
                      {{"Authorization", "Bearer ig-wrong-key-000000000000"}});
    expect_error(wrong, 401, "", "invalid_api_key");
  }
}

TEST_F(OpsTest, UnknownOrHiddenModelIs404) {
  expect_error(post("/v1/embeddings", R"({"model":"nope","input":"x"})"), 404, "model");
  expect_error(post("/v1/embeddings", R"({"model":"hidden","input":"x"})"), 404, "model");
  expect_error(post("/v1/images/generations", R"({"model":"nope","prompt":"x"})"), 404, "model");
  expect_error(post("/v1/completions", R"({"model":"nope","prompt":"x"})"), 404, "model");
}

TEST_F(OpsTest, UnsupportedOperationOnAnAnthropicOnlyModel) {
  expect_error(post("/v1/embeddings", R"({"model":"claude-only","input":"x"})"), 400, "model",
               "unsupported_operation");
  expect_error(post("/v1/images/generations", R"({"model":"claude-only","prompt":"x"})"), 400,
               "model", "unsupported_operation");
  expect_error(post("/v1/completions", R"({"model":"claude-only","prompt":"x"})"), 400, "model",
               "unsupported_operation");
  expect_error(post("/v1/completions", R"({"model":"claude-only","prompt":"x","stream":true})"),
               400, "model", "unsupported_operation");
  // A deployment that cannot do it is skipped for the next one.
  auto r = post("/v1/embeddings", R"({"model":"claude-then-mock","input":"x"})");
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace infergate::it
