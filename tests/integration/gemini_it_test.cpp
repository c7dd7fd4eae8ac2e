// End-to-end tests of provider type `gemini`: the real `infergate` binary in front of
// infergate-mock-gemini, both started as processes on ephemeral loopback ports. Clients speak
// OpenAI's chat/completions; the gateway speaks Gemini's generateContent upstream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "ig-gemini-it-key-0123456789";
constexpr const char* kProviderSecret = "AIzaSy-gemini-SECRET-value-42";

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

class GeminiGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new Process();
    mock_->start(
        {MOCK_GEMINI_BIN, "--port", "0", "--port-file", (dir_->path() / "mock.port").string()},
        dir_->path() / "mock.log");
    mock_port_ = wait_for_port(dir_->path() / "mock.port");
    const int dead = free_port();
    const fs::path& dir = dir_->path();
    const std::string cfg = R"(
server:
  host: 127.0.0.1
  port: 0
  port_file: )" + (dir / "gw.port").string() +
                            R"(
  io_threads: 1
providers:
  - name: gem
    type: gemini
    base_url: http://127.0.0.1:)" +
                            std::to_string(mock_port_) + R"(/v1beta
    api_key: ${IT_GEMINI_KEY}
    timeouts: { connect: 1s, first_byte: 3s, idle: 3s, total: 15s }
  - name: gem-dead
    type: gemini
    base_url: http://127.0.0.1:)" +
                            std::to_string(dead) + R"(/v1beta
    api_key: ${IT_GEMINI_KEY}
    timeouts: { connect: 1s }
  - name: gem-strict
    type: gemini
    base_url: http://127.0.0.1:)" +
                            std::to_string(mock_port_) + R"(/v1beta
    api_key: ${IT_GEMINI_KEY}
    drop_unsupported_params: false
models:
  - { name: g-chat, deployments: [ { provider: gem, model: gemini-mock } ] }
  - { name: g-tools, deployments: [ { provider: gem, model: "gemini-mock?tool_call=1" } ] }
  - { name: g-broken, deployments: [ { provider: gem, model: "gemini-mock?reset_after=2&tokens=6" } ] }
  - { name: g-strict, deployments: [ { provider: gem-strict, model: gemini-mock } ] }
  - name: g-fallback
    deployments:
      - { provider: gem-dead, model: gemini-mock }
      - { provider: gem, model: "gemini-mock?fail=1000000&fail_status=503" }
      - { provider: gem, model: "gemini-mock?tokens=4" }
  - { name: g-limited, deployments: [ { provider: gem, model: "gemini-mock?fail=1000000&fail_status=429&retry_after=9" } ] }
keys:
  - { id: it, sha256: )" + policy::sha256_hex(kKey) +
                            R"(, org: itorg }
orgs: [ { name: itorg } ]
routing: { max_attempts: 3 }
)";
    write_file(dir / "gw.yaml", cfg);
    gw_ = new Process();
    gw_->start({INFERGATE_BIN, "--config", (dir / "gw.yaml").string()}, dir / "gw.log",
               {{"IT_GEMINI_KEY", kProviderSecret}});
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

  static TempDir* dir_;
  static Process* mock_;
  static Process* gw_;
  static int mock_port_;
  static int gw_port_;
};
TempDir* GeminiGatewayTest::dir_ = nullptr;
Process* GeminiGatewayTest::mock_ = nullptr;
Process* GeminiGatewayTest::gw_ = nullptr;
int GeminiGatewayTest::mock_port_ = 0;
int GeminiGatewayTest::gw_port_ = 0;

TEST(GeminiCli, CheckConfigAcceptsGeminiProviders) {
  TempDir d;
  write_file(d.path() / "c.yaml", R"(
providers:
  - { name: g, type: gemini, api_key: "${GEMINI_API_KEY}" }
models:
  - { name: m, deployments: [ { provider: g, model: gemini-2.5-flash } ] }
)");
  Process p;
  p.start({INFERGATE_BIN, "--check-config", (d.path() / "c.yaml").string()}, d.path() / "out.log",
          {{"GEMINI_API_KEY", "x"}});
  EXPECT_EQ(p.wait(20s), 0) << p.log();
}

TEST_F(GeminiGatewayTest, ChatNonStreaming) {
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("g-chat"), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "g-chat");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);  // "Be brief." + "hello there gateway"
  EXPECT_EQ(j["usage"]["completion_tokens"], 8);

  // What went upstream: Gemini's path, key header and body shape.
  auto last = last_upstream_request();
  ASSERT_TRUE(last.is_object());
  EXPECT_EQ(last["target"], "/v1beta/models/gemini-mock:generateContent");
  EXPECT_EQ(last["headers"]["x-goog-api-key"], kProviderSecret);
  EXPECT_FALSE(last["headers"].contains("authorization"));
  EXPECT_EQ(last["body"]["systemInstruction"]["parts"][0]["text"], "Be brief.");
  EXPECT_EQ(last["body"]["contents"][0]["role"], "user");
  EXPECT_EQ(last["body"]["contents"][0]["parts"][0]["text"], "hello there gateway");
  EXPECT_EQ(last.dump().find(kKey), std::string::npos) << "the client's key never goes upstream";
}

TEST_F(GeminiGatewayTest, ChatStreaming) {
  auto r =
      http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("g-chat", true), auth());
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
  EXPECT_EQ(last_upstream_request()["target"],
            "/v1beta/models/gemini-mock:streamGenerateContent?alt=sse");
}

TEST_F(GeminiGatewayTest, ToolCallRoundTrip) {
  const std::string tools =
      R"(,"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather",)"
      R"("parameters":{"type":"object","properties":{"city":{"type":"string"},)"
      R"("unit":{"type":"string"}},"required":["city"],"additionalProperties":false}}}],)"
      R"("tool_choice":"required")";
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions",
                        chat_body("g-tools", false, tools), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  auto& msg = j["choices"][0]["message"];
  ASSERT_EQ(msg["tool_calls"].size(), 1u) << r.body;
  EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json::parse(R"({"city":"Paris","unit":"celsius"})"));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  auto last = last_upstream_request();
  EXPECT_EQ(last["body"]["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
  EXPECT_FALSE(last["body"]["tools"][0]["functionDeclarations"][0]["parameters"].contains(
      "additionalProperties"));

  // The next turn: the call and its result go back as functionCall / functionResponse parts.
  const std::string id = msg["tool_calls"][0]["id"].get<std::string>();
  const json turn2 = {
      {"model", "g-chat"},
      {"messages",
       json::array(
           {json{{"role", "user"}, {"content", "weather in Paris?"}},
            json{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", msg["tool_calls"]}},
            json{{"role", "tool"}, {"tool_call_id", id}, {"content", "{\"temp\":21}"}}})}};
  r = http_request(gw_port_, "POST", "/v1/chat/completions", turn2.dump(), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  last = last_upstream_request();
  const auto& contents = last["body"]["contents"];
  ASSERT_EQ(contents.size(), 3u) << last.dump();
  EXPECT_EQ(contents[1]["role"], "model");
  EXPECT_EQ(contents[1]["parts"][0]["functionCall"]["name"], "get_weather");
  EXPECT_EQ(contents[2]["parts"][0]["functionResponse"]["name"], "get_weather");
  EXPECT_EQ(contents[2]["parts"][0]["functionResponse"]["response"]["temp"], 21);
}

TEST_F(GeminiGatewayTest, StreamedToolCall) {
  auto r =
      http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("g-tools", true), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  std::string args, name, finish;
  for (const auto& e : sse_data(r.body)) {
    if (e == "[DONE]") continue;
    auto j = json::parse(e);
    if (!j.contains("choices") || j["choices"].empty()) continue;
    auto& c = j["choices"][0];
    if (c["delta"].contains("tool_calls")) {
      auto& tc = c["delta"]["tool_calls"][0];
      if (tc["function"].contains("name")) name = tc["function"]["name"];
      if (tc["function"].contains("arguments"))
        args += tc["function"]["arguments"].get<std::string>();
    }
    if (c["finish_reason"].is_string()) finish = c["finish_reason"];
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(json::parse(args), json::parse(R"({"city":"Paris","unit":"celsius"})"));
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(GeminiGatewayTest, FallbackPastDeadAndFailingDeployments) {
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("g-fallback"), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "tok0 tok1 tok2 tok3");
  EXPECT_EQ(last_upstream_request()["model"], "gemini-mock?tokens=4");
}

TEST_F(GeminiGatewayTest, RateLimitedUpstream) {
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("g-limited"), auth());
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.body.find(kProviderSecret), std::string::npos);
}

TEST_F(GeminiGatewayTest, BrokenStreamEndsWithErrorEvent) {
  auto r =
      http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("g-broken", true), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto events = sse_data(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back(), "[DONE]");
  EXPECT_TRUE(json::parse(events.back()).contains("error")) << events.back();
}

TEST_F(GeminiGatewayTest, UnsupportedParamsDroppedOrRejected) {
  const std::string extra = R"(,"logit_bias":{"42":1})";
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("g-chat", false, extra),
                        auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(last_upstream_request()["body"].contains("logit_bias"));
  r = http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("g-strict", false, extra),
                   auth());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("logit_bias"), std::string::npos) << r.body;
}

// Anthropic's POST /v1/messages/count_tokens served by a gemini deployment: models.countTokens
// with a generateContentRequest ("Counting tokens").
TEST_F(GeminiGatewayTest, CountTokens) {
  const std::string body = R"({"model":"g-chat","system":"You are a scientist",
    "messages":[{"role":"user","content":"Hello, Claude"}],
    "tools":[{"name":"get_weather","description":"Get the current weather in a given location",
              "input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}]})";
  auto r = http_request(gw_port_, "POST", "/v1/messages/count_tokens", body,
                        {{"x-api-key", kKey}, {"anthropic-version", "2023-06-01"}});
  ASSERT_EQ(r.status, 200) << r.body;
  // The mock's count: system 4 words + content (2 words + 1) + declaration (1 + 8 words).
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"input_tokens":16})"));
  auto last = last_upstream_request();
  EXPECT_EQ(last["target"], "/v1beta/models/gemini-mock:countTokens");
  EXPECT_EQ(last["headers"]["x-goog-api-key"], kProviderSecret);
  const json& inner = last["body"]["generateContentRequest"];
  EXPECT_EQ(inner["model"], "models/gemini-mock");
  EXPECT_EQ(inner["systemInstruction"]["parts"][0]["text"], "You are a scientist");
  EXPECT_EQ(inner["tools"][0]["functionDeclarations"][0]["name"], "get_weather");
  EXPECT_FALSE(inner.contains("generationConfig"));

  // Past a dead deployment and a failing one, as chat falls back.
  std::string fallback = body;
  fallback.replace(fallback.find("g-chat"), 6, "g-fallback");
  r = http_request(gw_port_, "POST", "/v1/messages/count_tokens", fallback,
                   {{"x-api-key", kKey}, {"anthropic-version", "2023-06-01"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["input_tokens"], 16);
}

}  // namespace
}  // namespace infergate::it
