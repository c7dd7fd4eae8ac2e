// End-to-end tests of the real `infergate` binary in front of the mock OpenAI provider, both
// started as processes on ephemeral loopback ports.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "ig-it-key-0123456789";         // limited to some models
constexpr const char* kAllKey = "ig-it-all-key-0123456789";  // every model
constexpr const char* kProviderSecret = "sk-provider-SECRET-value-42";

std::string chat_body(const std::string& model, bool stream = false,
                      const std::string& extra = "") {
  std::string b =
      R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hello there gateway"}])";
  if (stream) b += R"(,"stream":true)";
  b += extra;
  b += "}";
  return b;
}

std::vector<std::pair<std::string, std::string>> auth(const char* key = kKey) {
  return {{"Authorization", std::string("Bearer ") + key}};
}

class Gateway {
 public:
  // Starts the mock (once) and a gateway with `server_extra` merged into the server section.
  void start(const fs::path& dir, int mock_port,
             const std::string& server_timeouts =
                 "{ request_read: 2s, idle: 5s, request: 20s, "
                 "shutdown_grace: 5s }") {
    dir_ = dir;
    const int dead = free_port();
    const std::string cfg = R"(
server:
  host: 127.0.0.1
  port: 0
  port_file: )" + (dir / "gw.port").string() +
                            R"(
  io_threads: 2
  access_log: )" + (dir / "access.log").string() +
                            R"(
  limits: { max_header_bytes: 8KiB, max_body_bytes: 64KiB, max_requests_per_connection: 50 }
  timeouts: )" + server_timeouts +
                            R"(
providers:
  - name: mock
    type: openai
    base_url: http://127.0.0.1:)" +
                            std::to_string(mock_port) +
                            R"(/v1
    api_key: ${IT_PROVIDER_KEY}
    headers: { X-Extra-Header: extra-value }
    timeouts: { connect: 1s, first_byte: 1500ms, idle: 1500ms, total: 15s }
  - name: dead
    type: openai
    base_url: http://127.0.0.1:)" +
                            std::to_string(dead) +
                            R"(/v1
    timeouts: { connect: 1s }
models:
  - { name: chat, owned_by: it, deployments: [ { provider: mock, model: mock-chat } ] }
  - name: fallback
    deployments: [ { provider: dead, model: x }, { provider: mock, model: mock-chat } ]
  - name: flaky
    deployments: [ { provider: mock, model: "flaky?fail=1" }, { provider: mock, model: mock-chat } ]
  - name: ratelimited
    deployments: [ { provider: mock, model: "rl?fail=1000000&fail_status=429&retry_after=7" } ]
  - { name: down, deployments: [ { provider: dead, model: x } ] }
  - { name: stall, deployments: [ { provider: mock, model: "s?stall=1" } ] }
  - { name: broken-stream, deployments: [ { provider: mock, model: "b?reset_after=3&tokens=10" } ] }
  - name: cut-after-role
    deployments: [ { provider: mock, model: "c?reset_after=0&tokens=5" }, { provider: mock, model: mock-chat } ]
  - { name: slow-stream, deployments: [ { provider: mock, model: "ss?tokens=400&token_delay_ms=20" } ] }
  - { name: slow, deployments: [ { provider: mock, model: "slow?latency_ms=700" } ] }
  - { name: badkey, deployments: [ { provider: mock, model: "k?fail=1000000&fail_status=401" } ] }
  - { name: badreq, deployments: [ { provider: mock, model: "k?fail=1000000&fail_status=400" }, { provider: mock, model: mock-chat } ] }
  - { name: tools, deployments: [ { provider: mock, model: "t?tool_call=1" } ] }
  - { name: malformed, deployments: [ { provider: mock, model: "m?malformed=1" } ] }
  - { name: secret-model, deployments: [ { provider: mock, model: mock-chat } ] }
keys:
  - id: it-key
    sha256: )" + policy::sha256_hex(kKey) +
                            R"(
    org: itorg
    models: [chat, fallback, flaky, ratelimited, down, stall, broken-stream, slow-stream, slow, badkey, badreq, tools, malformed]
  - { id: all-key, sha256: )" +
                            policy::sha256_hex(kAllKey) + R"(, org: itorg }
orgs: [ { name: itorg } ]
routing: { max_attempts: 3 }
)";
    write_file(dir / "gw.yaml", cfg);
    fs::remove(dir / "gw.port");
    proc_.start({INFERGATE_BIN, "--config", (dir / "gw.yaml").string()}, dir / "gw.log",
                {{"IT_PROVIDER_KEY", kProviderSecret}});
    port_ = wait_for_port(dir / "gw.port");
  }
  int port() const { return port_; }
  Process& proc() { return proc_; }
  std::string access_log() const { return read_file(dir_ / "access.log"); }

 private:
  fs::path dir_;
  Process proc_;
  int port_ = 0;
};

class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new Process();
    mock_->start({MOCK_BIN, "--port", "0", "--port-file", (dir_->path() / "mock.port").string(),
                  "--threads", "1"},
                 dir_->path() / "mock.log");
    mock_port_ = wait_for_port(dir_->path() / "mock.port");
    gw_ = new Gateway();
    gw_->start(dir_->path(), mock_port_);
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete mock_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_GT(mock_port_, 0) << "mock did not start";
    ASSERT_GT(gw_->port(), 0) << "gateway did not start: " << gw_->proc().log();
  }
  static json mock_get(const std::string& path) {
    auto r = http_request(mock_port_, "GET", path);
    return json::parse(r.body, nullptr, false);
  }
  static void mock_reset() { http_request(mock_port_, "POST", "/_mock/reset"); }
  int port() const { return gw_->port(); }

  static TempDir* dir_;
  static Process* mock_;
  static Gateway* gw_;
  static int mock_port_;
};
TempDir* GatewayTest::dir_ = nullptr;
Process* GatewayTest::mock_ = nullptr;
Gateway* GatewayTest::gw_ = nullptr;
int GatewayTest::mock_port_ = 0;

void expect_openai_error(const Response& r, int status, const std::string& type) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_EQ(j["error"]["type"], type) << r.body;
  EXPECT_TRUE(j["error"].contains("param"));
  EXPECT_TRUE(j["error"].contains("code"));
}

TEST_F(GatewayTest, HealthAndReadiness) {
  EXPECT_EQ(http_request(port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(port(), "GET", "/readyz").status, 200);
}

TEST_F(GatewayTest, ChatNonStreaming) {
  auto r = http_request(port(), "POST", "/v1/chat/completions", chat_body("chat"), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_FALSE(r.header("x-request-id").empty());
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "chat");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_FALSE(j["choices"][0]["message"]["content"].get<std::string>().empty());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_GT(j["usage"]["completion_tokens"].get<int>(), 0);
}

TEST_F(GatewayTest, UpstreamRequestIsRewrittenAndPassesUnknownFieldsThrough) {
  auto r = http_request(
      port(), "POST", "/v1/chat/completions",
      chat_body(
          "chat", false,
          R"(,"response_format":{"type":"json_object"},"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"logit_bias":{"42":1})"),
      auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto last = mock_get("/_mock/last_request");
  ASSERT_TRUE(last.is_object());
  auto body =
      last["body"].is_string() ? json::parse(last["body"].get<std::string>()) : last["body"];
  EXPECT_EQ(body["model"], "mock-chat");
  EXPECT_EQ(body["response_format"]["type"], "json_object");
  EXPECT_EQ(body["tools"][0]["function"]["name"], "f");
  EXPECT_EQ(body["logit_bias"]["42"], 1);
  const std::string headers = last["headers"].dump();
  EXPECT_NE(headers.find(kProviderSecret), std::string::npos) << "provider key must be sent";
  EXPECT_NE(headers.find("extra-value"), std::string::npos);
  // The client's gateway key never travels upstream.
  EXPECT_EQ(headers.find(kKey), std::string::npos);
}

TEST_F(GatewayTest, ChatStreaming) {
  auto r =
      http_request(port(), "POST", "/v1/chat/completions",
                   chat_body("chat", true, R"(,"stream_options":{"include_usage":true})"), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 4u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  bool saw_usage = false, saw_finish = false;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto j = json::parse(events[i]);
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    EXPECT_EQ(j["model"], "chat");
    if (j.contains("usage") && j["usage"].is_object()) {
      saw_usage = true;
      EXPECT_TRUE(j["choices"].empty());
      EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
      continue;
    }
    auto& c = j["choices"][0];
    if (c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) saw_finish = true;
  }
  EXPECT_FALSE(text.empty());
  EXPECT_TRUE(saw_finish);
  EXPECT_TRUE(saw_usage);
  // The gateway always asks the upstream for usage (billing), whatever the client asked.
  auto r2 = http_request(port(), "POST", "/v1/chat/completions", chat_body("chat", true), auth());
  for (const auto& e : sse_data(r2.body)) {
    if (e != "[DONE]") {
      EXPECT_FALSE(json::parse(e).contains("usage")) << e;
    }
  }
  auto last = mock_get("/_mock/last_request");
  auto body =
      last["body"].is_string() ? json::parse(last["body"].get<std::string>()) : last["body"];
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
}

TEST_F(GatewayTest, StreamEventsAreRelayedAsTheyArrive) {
  // 400 tokens 20 ms apart: the first event must reach us long before the stream ends (8 s).
  RawConn c(port());
  ASSERT_TRUE(c.connected());
  const std::string body = chat_body("slow-stream", true);
  const auto t0 = std::chrono::steady_clock::now();
  c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
         std::string(kKey) + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
  c.read_until("tok1", 5s);
  const auto first = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(first, 2s);
  EXPECT_NE(c.data().find("tok1"), std::string::npos);
  // Leave mid-stream: the gateway must cancel the upstream call promptly.
  mock_reset();
  c.close();
  bool cancelled = false;
  for (int i = 0; i < 100 && !cancelled; ++i) {
    std::this_thread::sleep_for(20ms);
    auto stats = mock_get("/_mock/stats");
    cancelled = stats.value("abandoned_streams", 0) > 0 || stats.value("cancelled", 0) > 0;
    if (i == 99) ADD_FAILURE() << "upstream not cancelled: " << stats.dump();
  }
}

TEST_F(GatewayTest, BrokenUpstreamStreamEndsWithErrorEvent) {
  auto r = http_request(port(), "POST", "/v1/chat/completions", chat_body("broken-stream", true),
                        auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto events = sse_data(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back(), "[DONE]") << "a broken stream must not look successful";
  auto j = json::parse(events.back());
  ASSERT_TRUE(j.contains("error")) << events.back();
  EXPECT_TRUE(j["error"]["message"].is_string());
}

TEST_F(GatewayTest, StreamCutAfterTheRoleChunkFallsBackCleanly) {
  // The first upstream sends its headers and role chunk, then resets before any token: nothing
  // but that announcement came, so the gateway has sent nothing yet and the next deployment
  // answers. The client sees one clean stream.
  auto r = http_request(port(), "POST", "/v1/chat/completions", chat_body("cut-after-role", true),
                        auth(kAllKey));
  ASSERT_EQ(r.status, 200) << r.body;
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 3u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  int role_chunks = 0;
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto j = json::parse(events[i]);
    ASSERT_FALSE(j.contains("error")) << events[i];
    const auto& delta = j["choices"][0]["delta"];
    if (delta.contains("role")) ++role_chunks;
    if (delta.contains("content") && delta["content"].is_string())
      text += delta["content"].get<std::string>();
  }
  EXPECT_EQ(role_chunks, 1) << r.body;
  EXPECT_FALSE(text.empty());
}

TEST_F(GatewayTest, AuthenticationErrors) {
  expect_openai_error(http_request(port(), "POST", "/v1/chat/completions", chat_body("chat")), 401,
                      "authentication_error");
  auto r =
      http_request(port(), "POST", "/v1/chat/completions", chat_body("chat"), auth("ig-wrong-key"));
  expect_openai_error(r, 401, "authentication_error");
  EXPECT_EQ(r.body.find("ig-wrong-key"), std::string::npos) << "never echo a key";
  // Alternative headers.
  EXPECT_EQ(
      http_request(port(), "POST", "/v1/chat/completions", chat_body("chat"), {{"api-key", kKey}})
          .status,
      200);
  EXPECT_EQ(
      http_request(port(), "POST", "/v1/chat/completions", chat_body("chat"), {{"x-api-key", kKey}})
          .status,
      200);
  // A key limited to some models cannot use (or discover) others.
  expect_openai_error(
      http_request(port(), "POST", "/v1/chat/completions", chat_body("secret-model"), auth()), 404,
      "invalid_request_error");
  EXPECT_EQ(
      http_request(port(), "POST", "/v1/chat/completions", chat_body("secret-model"), auth(kAllKey))
          .status,
      200);
}

TEST_F(GatewayTest, RequestErrorsUseOpenAiShape) {
  auto r = http_request(port(), "POST", "/v1/chat/completions", "{not json", auth());
  expect_openai_error(r, 400, "invalid_request_error");
  r = http_request(port(), "POST", "/v1/chat/completions", R"({"model":"chat","messages":"x"})",
                   auth());
  expect_openai_error(r, 400, "invalid_request_error");
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "messages");
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("no-such-model"), auth());
  expect_openai_error(r, 404, "invalid_request_error");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "model_not_found");
  r = http_request(port(), "GET", "/v1/chat/completions", "", auth());
  expect_openai_error(r, 405, "invalid_request_error");
  EXPECT_EQ(r.header("allow"), "POST");
  r = http_request(port(), "GET", "/v1/nothing-here", "", auth());
  expect_openai_error(r, 404, "invalid_request_error");
  r = http_request(port(), "POST", "/v1/chat/completions",
                   chat_body("chat", false, ",\"pad\":\"" + std::string(70000, 'x') + "\""),
                   auth());
  expect_openai_error(r, 413, "invalid_request_error");
  r = http_request(port(), "GET", "/healthz", "", {{"X-Big", std::string(9000, 'y')}});
  EXPECT_EQ(r.status, 431);
}

TEST_F(GatewayTest, ModelsListShowsWhatTheKeyMayUse) {
  auto r = http_request(port(), "GET", "/v1/models", "", auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  std::vector<std::string> ids;
  for (auto& m : j["data"]) {
    EXPECT_EQ(m["object"], "model");
    ids.push_back(m["id"]);
  }
  EXPECT_NE(std::find(ids.begin(), ids.end(), "chat"), ids.end());
  EXPECT_EQ(std::find(ids.begin(), ids.end(), "secret-model"), ids.end());
  auto one = http_request(port(), "GET", "/v1/models/chat", "", auth());
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["owned_by"], "it");
  EXPECT_EQ(http_request(port(), "GET", "/v1/models/secret-model", "", auth()).status, 404);
  EXPECT_EQ(http_request(port(), "GET", "/v1/models").status, 401);
}

TEST_F(GatewayTest, FallbackOnConnectionRefusedAndServerError) {
  auto r = http_request(port(), "POST", "/v1/chat/completions", chat_body("fallback"), auth());
  EXPECT_EQ(r.status, 200) << r.body;
  mock_reset();
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("flaky"), auth());
  EXPECT_EQ(r.status, 200) << r.body;
  // Streaming falls back too, as long as nothing reached the client.
  mock_reset();
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("flaky", true), auth());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sse_data(r.body).back(), "[DONE]");
}

TEST_F(GatewayTest, UpstreamFailuresMapToStatuses) {
  auto r = http_request(port(), "POST", "/v1/chat/completions", chat_body("ratelimited"), auth());
  expect_openai_error(r, 429, "rate_limit_error");
  EXPECT_EQ(r.header("retry-after"), "7");
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("down"), auth());
  expect_openai_error(r, 503, "server_error");
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("stall"), auth());
  expect_openai_error(r, 504, "server_error");
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("malformed"), auth());
  expect_openai_error(r, 502, "server_error");
  // Bad provider credentials are the operator's problem: 502, and the secret never shows.
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("badkey"), auth());
  expect_openai_error(r, 502, "server_error");
  EXPECT_EQ(r.body.find("SECRET"), std::string::npos);
  // A 400 from the provider is the client's problem: no fallback, passed on.
  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("badreq"), auth());
  expect_openai_error(r, 400, "invalid_request_error");
}

TEST_F(GatewayTest, ToolCallsArriveComplete) {
  const std::string tools =
      R"(,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}])";
  auto r = http_request(port(), "POST", "/v1/chat/completions", chat_body("tools", false, tools),
                        auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  auto& call = j["choices"][0]["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>())["city"], "Paris");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");

  r = http_request(port(), "POST", "/v1/chat/completions", chat_body("tools", true, tools), auth());
  ASSERT_EQ(r.status, 200);
  std::string args, name;
  for (const auto& e : sse_data(r.body)) {
    if (e == "[DONE]") continue;
    auto c = json::parse(e);
    if (c["choices"].empty()) continue;
    auto& d = c["choices"][0]["delta"];
    if (!d.contains("tool_calls")) continue;
    auto& tc = d["tool_calls"][0];
    if (tc["function"].contains("name")) name += tc["function"]["name"].get<std::string>();
    if (tc["function"].contains("arguments"))
      args += tc["function"]["arguments"].get<std::string>();
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(json::parse(args)["unit"], "celsius");
}

TEST_F(GatewayTest, KeepAliveServesManyRequestsOnOneConnection) {
  RawConn c(port());
  const std::string body = chat_body("chat");
  const std::string req =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
      std::string(kKey) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  // Two pipelined, then one more.
  c.send(req + req);
  c.read_until("chat.completion", 5s);
  std::string all = c.read_until("\"usage\"", 5s);
  c.send(req);
  for (int i = 0; i < 50; ++i) {
    all = c.read_until("", 100ms);
    std::size_t n = 0, pos = 0;
    while ((pos = all.find("HTTP/1.1 200", pos)) != std::string::npos) ++n, ++pos;
    if (n == 3) break;
  }
  std::size_t n = 0, pos = 0;
  while ((pos = all.find("HTTP/1.1 200", pos)) != std::string::npos) ++n, ++pos;
  EXPECT_EQ(n, 3u) << all;
  EXPECT_FALSE(c.eof());
}

TEST_F(GatewayTest, SlowSenderIsCutOff) {
  RawConn c(port());
  ASSERT_TRUE(c.connected());
  const std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n";
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  for (std::size_t i = 0; i < req.size() && !closed; ++i) {
    c.send(std::string(1, req[i]));
    c.read_until("", 300ms);
    closed = c.eof();
  }
  if (!closed) {
    c.read_until("", 3s);
    closed = c.eof();
  }
  EXPECT_TRUE(closed) << "a one-byte-at-a-time client must be disconnected";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 6s);
}

TEST_F(GatewayTest, AccessLogHasOneJsonLinePerRequestWithoutSecrets) {
  auto r = http_request(
      port(), "POST", "/v1/chat/completions", chat_body("chat"),
      {{"Authorization", std::string("Bearer ") + kKey}, {"x-request-id", "it-log-probe-1"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-request-id"), "it-log-probe-1");
  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = gw_->access_log();
    if (log.find("it-log-probe-1") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  std::istringstream in(log);
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {
    auto j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    if (j.value("request_id", "") != "it-log-probe-1") continue;
    found = true;
    EXPECT_EQ(j["key_id"], "it-key");
    EXPECT_EQ(j["model"], "chat");
    EXPECT_EQ(j["provider"], "mock");
    EXPECT_EQ(j["status"], 200);
    EXPECT_EQ(j["attempts"], 1);
    EXPECT_EQ(j["prompt_tokens"], 3);
    EXPECT_TRUE(j["latency_ms"].is_number());
  }
  EXPECT_TRUE(found) << log;
  EXPECT_EQ(log.find("hello there gateway"), std::string::npos) << "prompts are never logged";
  EXPECT_EQ(log.find(kKey), std::string::npos);
  EXPECT_EQ(log.find(kProviderSecret), std::string::npos);
  EXPECT_EQ(gw_->proc().log().find(kProviderSecret), std::string::npos);
}

TEST_F(GatewayTest, GracefulShutdownDrainsInFlightRequests) {
  TempDir d;
  Gateway g;
  g.start(d.path(), mock_port_);
  ASSERT_GT(g.port(), 0) << g.proc().log();
  Response slow;
  std::thread t([&] {
    slow = http_request(g.port(), "POST", "/v1/chat/completions", chat_body("slow"), auth());
  });
  std::this_thread::sleep_for(250ms);  // the request is in flight (the mock waits 700 ms)
  const int rc = g.proc().stop(SIGTERM, 10s);
  t.join();
  EXPECT_EQ(rc, 0) << g.proc().log();
  EXPECT_EQ(slow.status, 200) << slow.body;
  RawConn after(g.port());
  EXPECT_FALSE(after.connected()) << "a stopped gateway accepts nothing";
}

TEST(GatewayCli, CheckConfigReportsProblemsWithLines) {
  TempDir d;
  write_file(d.path() / "bad.yaml", R"(server:
  port: 99999
providers:
  - name: p
    type: openai
    base_url: ftp://nowhere
models:
  - name: m
    deployments: [ { provider: missing, model: x } ]
)");
  Process p;
  p.start({INFERGATE_BIN, "--check-config", (d.path() / "bad.yaml").string()}, d.path() / "out");
  EXPECT_NE(p.wait(10s), 0);
  const std::string out = p.log();
  EXPECT_NE(out.find("bad.yaml:2"), std::string::npos) << out;
  EXPECT_NE(out.find("base_url"), std::string::npos) << out;
  EXPECT_NE(out.find("missing"), std::string::npos) << out;
}

TEST(GatewayCli, CheckConfigAcceptsTheExamples) {
  for (const char* name : {"quickstart.yaml", "mock.yaml", "full.yaml"}) {
    TempDir d;
    const std::string path = std::string(INFERGATE_SOURCE_DIR) + "/config/examples/" + name;
    // Every ${VAR} the example names gets a dummy value, as an operator's environment would.
    std::vector<std::pair<std::string, std::string>> env;
    const std::string text = read_file(path);
    for (std::size_t pos = 0; (pos = text.find("${", pos)) != std::string::npos; pos += 2) {
      const auto end = text.find('}', pos);
      if (end != std::string::npos) env.emplace_back(text.substr(pos + 2, end - pos - 2), "x");
    }
    Process p;
    p.start({INFERGATE_BIN, "--check-config", path}, d.path() / "out", env);
    EXPECT_EQ(p.wait(10s), 0) << name << ": " << p.log();
  }
}

TEST(GatewayCli, KeysNewPrintsKeyAndHash) {
  TempDir d;
  Process p;
  p.start({INFERGATE_BIN, "keys", "new"}, d.path() / "out");
  ASSERT_EQ(p.wait(10s), 0);
  const std::string out = p.log();
  auto k = out.find("key:    ");
  auto h = out.find("sha256: ");
  ASSERT_NE(k, std::string::npos);
  ASSERT_NE(h, std::string::npos);
  const std::string key = out.substr(k + 8, out.find('\n', k) - k - 8);
  const std::string hash = out.substr(h + 8, 64);
  EXPECT_EQ(policy::sha256_hex(key), hash);
}

}  // namespace
}  // namespace infergate::it
