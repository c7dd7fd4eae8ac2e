// End-to-end tests of the real `infergate` binary with a provider of type `anthropic` in front of
// the mock Anthropic provider (infergate-mock-anthropic), both started as processes on ephemeral
// loopback ports. Clients speak OpenAI's chat/completions; the gateway speaks the Messages API.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "ig-anthropic-it-key-0123456789";
constexpr const char* kProviderSecret = "sk-ant-provider-SECRET-value-42";
constexpr const char* kNarrowKey = "ig-anthropic-it-narrow-key-987654";

std::string chat_body(const std::string& model, bool stream = false,
                      const std::string& extra = "") {
  std::string b = R"({"model":")" + model +
                  R"(","messages":[{"role":"system","content":"Be brief."},)"
                  R"({"role":"user","content":"hello there gateway"}])";
  if (stream) b += R"(,"stream":true)";
  b += extra;
  b += "}";
  return b;
}

std::vector<std::pair<std::string, std::string>> auth() {
  return {{"Authorization", std::string("Bearer ") + kKey}};
}

class AnthropicIt : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new Process();
    mock_->start(
        {MOCK_ANTHROPIC_BIN, "--port", "0", "--port-file", (dir_->path() / "mock.port").string()},
        dir_->path() / "mock.log");
    mock_port_ = wait_for_port(dir_->path() / "mock.port");
    const std::string cfg = R"(
server:
  host: 127.0.0.1
  port: 0
  port_file: )" + (dir_->path() / "gw.port").string() +
                            R"(
  io_threads: 2
  access_log: ""
providers:
  - name: claude
    type: anthropic
    base_url: http://127.0.0.1:)" +
                            std::to_string(mock_port_) +
                            R"(/v1
    api_key: ${IT_ANTHROPIC_KEY}
    timeouts: { connect: 1s, first_byte: 3s, idle: 3s, total: 15s }
  - name: oai-only
    type: openai
    base_url: http://127.0.0.1:9/v1
    api_key: ${IT_ANTHROPIC_KEY}
  - name: claude-strict
    type: anthropic
    base_url: http://127.0.0.1:)" +
                            std::to_string(mock_port_) +
                            R"(/v1
    api_key: ${IT_ANTHROPIC_KEY}
    drop_unsupported_params: false
models:
  - { name: claude, deployments: [ { provider: claude, model: claude-sonnet-4 } ] }
  - { name: claude-tools, deployments: [ { provider: claude, model: "t?tool_call=1" } ] }
  - name: claude-fallback
    deployments: [ { provider: claude, model: "down?fail=1000000&fail_status=529" }, { provider: claude, model: claude-ok } ]
  - { name: claude-limited, deployments: [ { provider: claude, model: "rl?fail=1000000&fail_status=429&retry_after=9" } ] }
  - { name: claude-broken, deployments: [ { provider: claude, model: "b?reset_after=3&tokens=10" } ] }
  - { name: claude-strict, deployments: [ { provider: claude-strict, model: claude-sonnet-4 } ] }
  - { name: gpt-only, deployments: [ { provider: oai-only, model: gpt-4o } ] }
  - name: gpt-then-claude
    deployments: [ { provider: oai-only, model: gpt-4o }, { provider: claude, model: claude-sonnet-4 } ]
keys:
  - { id: it-key, sha256: )" +
                            policy::sha256_hex(kKey) +
                            R"(, org: itorg }
  - { id: it-narrow, sha256: )" +
                            policy::sha256_hex(kNarrowKey) +
                            R"(, org: itorg, models: [ claude ] }
orgs: [ { name: itorg } ]
routing: { max_attempts: 3 }
)";
    write_file(dir_->path() / "gw.yaml", cfg);
    gw_ = new Process();
    gw_->start({INFERGATE_BIN, "--config", (dir_->path() / "gw.yaml").string()},
               dir_->path() / "gw.log", {{"IT_ANTHROPIC_KEY", kProviderSecret}});
    gw_port_ = wait_for_port(dir_->path() / "gw.port");
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
  static json mock_get(const std::string& path) {
    return json::parse(http_request(mock_port_, "GET", path).body, nullptr, false);
  }
  static Response chat(const std::string& body) {
    return http_request(gw_port_, "POST", "/v1/chat/completions", body, auth());
  }

  static TempDir* dir_;
  static Process* mock_;
  static Process* gw_;
  static int mock_port_;
  static int gw_port_;
};
TempDir* AnthropicIt::dir_ = nullptr;
Process* AnthropicIt::mock_ = nullptr;
Process* AnthropicIt::gw_ = nullptr;
int AnthropicIt::mock_port_ = 0;
int AnthropicIt::gw_port_ = 0;

TEST_F(AnthropicIt, CheckConfigAcceptsAnthropicProviders) {
  Process check;
  check.start({INFERGATE_BIN, "--check-config", (dir_->path() / "gw.yaml").string()},
              dir_->path() / "check.log", {{"IT_ANTHROPIC_KEY", kProviderSecret}});
  EXPECT_EQ(check.wait(20s), 0) << check.log();
}

TEST_F(AnthropicIt, PlainChat) {
  auto r = chat(chat_body("claude", false, R"(,"max_tokens":5,"user":"u-1")"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "claude");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "tok0 tok1 tok2 tok3 tok4");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");  // max_tokens cut the 8 tokens
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);              // "Be brief." + 3 words
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);

  // What went upstream: the Messages API, with the provider's key and version.
  auto last = mock_get("/_mock/last_request");
  ASSERT_TRUE(last.is_object());
  EXPECT_EQ(last["target"], "/v1/messages");
  EXPECT_EQ(last["headers"]["x-api-key"], kProviderSecret);
  EXPECT_EQ(last["headers"]["anthropic-version"], "2023-06-01");
  EXPECT_FALSE(last["headers"].contains("authorization"));
  EXPECT_EQ(last["headers"].dump().find(kKey), std::string::npos) << "client key never upstream";
  const auto& body = last["body"];
  EXPECT_EQ(body["model"], "claude-sonnet-4");
  EXPECT_EQ(body["system"], "Be brief.");
  EXPECT_EQ(body["max_tokens"], 5);
  EXPECT_EQ(body["metadata"]["user_id"], "u-1");
  EXPECT_EQ(body["messages"], json::parse(R"([{"role":"user","content":"hello there gateway"}])"));
  EXPECT_EQ(gw_->log().find(kProviderSecret), std::string::npos);
}

TEST_F(AnthropicIt, StreamingChat) {
  auto r = chat(chat_body("claude", true, R"(,"stream_options":{"include_usage":true})"));
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
    if (j.contains("usage") && j["usage"].is_object()) {
      saw_usage = true;
      EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
      EXPECT_EQ(j["usage"]["completion_tokens"], 8);
      continue;
    }
    auto& c = j["choices"][0];
    if (c["delta"].contains("content") && c["delta"]["content"].is_string())
      text += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) {
      saw_finish = true;
      EXPECT_EQ(c["finish_reason"], "stop");
    }
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7");
  EXPECT_TRUE(saw_finish);
  EXPECT_TRUE(saw_usage);
  EXPECT_EQ(mock_get("/_mock/last_request")["body"]["stream"], true);
}

TEST_F(AnthropicIt, ToolCallStreamedAndWhole) {
  const std::string tools =
      R"(,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"required")";
  auto r = chat(chat_body("claude-tools", true, tools));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string args, name, id, finish;
  for (const auto& e : sse_data(r.body)) {
    if (e == "[DONE]") continue;
    auto c = json::parse(e);
    if (c["choices"].empty()) continue;
    auto& choice = c["choices"][0];
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
    auto& d = choice["delta"];
    if (!d.contains("tool_calls")) continue;
    auto& tc = d["tool_calls"][0];
    EXPECT_EQ(tc["index"], 0);
    if (tc.contains("id")) id += tc["id"].get<std::string>();
    if (tc["function"].contains("name")) name += tc["function"]["name"].get<std::string>();
    if (tc["function"].contains("arguments"))
      args += tc["function"]["arguments"].get<std::string>();
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(id, "toolu_mock_weather_0");
  const json parsed = json::parse(args, nullptr, false);
  EXPECT_EQ(parsed, json::parse(R"({"city":"Paris","unit":"celsius"})")) << args;
  EXPECT_EQ(finish, "tool_calls");
  auto sent = mock_get("/_mock/last_request")["body"];
  EXPECT_EQ(sent["tools"][0]["name"], "get_weather");
  EXPECT_EQ(sent["tools"][0]["input_schema"]["type"], "object");
  EXPECT_EQ(sent["tool_choice"]["type"], "any");

  r = chat(chat_body("claude-tools", false, tools));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  auto& call = j["choices"][0]["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>())["city"], "Paris");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(AnthropicIt, FallbackFromAnOverloadedDeployment) {
  http_request(mock_port_, "POST", "/_mock/reset");
  auto r = chat(chat_body("claude-fallback"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"],
            "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7");
  // Streaming falls back too while nothing reached the client.
  r = chat(chat_body("claude-fallback", true));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sse_data(r.body).back(), "[DONE]");
  EXPECT_GE(mock_get("/_mock/stats")["injected_failures"].get<int>(), 2);
}

TEST_F(AnthropicIt, UpstreamFailuresMapToStatuses) {
  auto r = chat(chat_body("claude-limited"));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.header("retry-after"), "9");
  EXPECT_EQ(r.body.find(kProviderSecret), std::string::npos);

  r = chat(chat_body("claude-broken", true));
  ASSERT_EQ(r.status, 200) << r.body;
  auto events = sse_data(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back(), "[DONE]") << "a broken stream must not look successful";
  EXPECT_TRUE(json::parse(events.back()).contains("error")) << events.back();
}

TEST_F(AnthropicIt, UnsupportedParams) {
  // Dropped by default (and not sent upstream, where Anthropic would reject them).
  auto r = chat(chat_body("claude", false, R"(,"seed":7,"presence_penalty":0.5)"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto sent = mock_get("/_mock/last_request")["body"];
  EXPECT_FALSE(sent.contains("seed"));
  EXPECT_FALSE(sent.contains("presence_penalty"));
  // drop_unsupported_params: false answers 400 naming them.
  r = chat(chat_body("claude-strict", false, R"(,"seed":7)"));
  EXPECT_EQ(r.status, 400) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["error"]["param"], "seed");
}

// ---- POST /v1/messages/count_tokens ("Messages > Count tokens in a Message") ---------------

Response count_tokens(int port, const std::string& body, const std::string& key = kKey) {
  return http_request(port, "POST", "/v1/messages/count_tokens", body,
                      {{"x-api-key", key}, {"anthropic-version", "2023-06-01"}});
}

std::string count_body(const std::string& model) {
  return R"({"model":")" + model + R"(","system":"You are a scientist",
    "messages":[{"role":"user","content":"Hello, Claude"}],
    "tools":[{"name":"get_weather","description":"Get the current weather in a given location",
              "input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}]})";
}

TEST_F(AnthropicIt, CountTokensThroughTheAnthropicProvider) {
  auto r = count_tokens(gw_port_, count_body("claude"));
  ASSERT_EQ(r.status, 200) << r.body;
  // The mock's count: system 4 words + message (2 words + 1) + tool (1 + 8 description words).
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"input_tokens":16})"));
  auto last = mock_get("/_mock/last_request");
  EXPECT_EQ(last["target"], "/v1/messages/count_tokens");
  EXPECT_EQ(last["headers"]["x-api-key"], kProviderSecret);
  EXPECT_EQ(last["body"]["model"], "claude-sonnet-4");
  EXPECT_FALSE(last["body"].contains("max_tokens"));
  EXPECT_FALSE(last["body"].contains("stream"));
  EXPECT_EQ(last["body"]["tools"][0]["name"], "get_weather");

  // Fallback: the first deployment is overloaded, the second counts.
  r = count_tokens(gw_port_, count_body("claude-fallback"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["input_tokens"], 16);
  // A deployment whose provider cannot count is skipped for the next one.
  r = count_tokens(gw_port_, count_body("gpt-then-claude"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["input_tokens"], 16);
  // Upstream failures map as for /v1/messages, in Anthropic's shape.
  r = count_tokens(gw_port_, count_body("claude-limited"));
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "rate_limit_error");
}

TEST_F(AnthropicIt, CountTokensWhenNoProviderCanCount) {
  auto r = count_tokens(gw_port_, count_body("gpt-only"));
  ASSERT_EQ(r.status, 400) << r.body;
  const auto j = json::parse(r.body);
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  const std::string message = j["error"]["message"];
  EXPECT_NE(message.find("gpt-only"), std::string::npos) << message;
  EXPECT_NE(message.find("none of its providers counts tokens"), std::string::npos) << message;
}

TEST_F(AnthropicIt, CountTokensRequestChecks) {
  auto r = http_request(gw_port_, "GET", "/v1/messages/count_tokens", "", auth());
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "POST");
  EXPECT_EQ(json::parse(r.body)["type"], "error");

  r = http_request(gw_port_, "POST", "/v1/messages/count_tokens", count_body("claude"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "authentication_error");

  // The key's model restrictions hold as for /v1/messages.
  EXPECT_EQ(count_tokens(gw_port_, count_body("claude"), kNarrowKey).status, 200);
  r = count_tokens(gw_port_, count_body("claude-fallback"), kNarrowKey);
  EXPECT_NE(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["type"], "error");
  const auto msgs = http_request(gw_port_, "POST", "/v1/messages",
                                 R"({"model":"claude-fallback","max_tokens":5,
                                     "messages":[{"role":"user","content":"x"}]})",
                                 {{"x-api-key", kNarrowKey}});
  EXPECT_EQ(r.status, msgs.status);

  // Validated as a Messages body, without max_tokens.
  r = count_tokens(gw_port_, R"({"model":"claude","messages":[]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error");
  r = count_tokens(gw_port_, R"({"model":"claude","max_tokens":10,"stream":true,
      "messages":[{"role":"user","content":"one two"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["input_tokens"], 3);
}

}  // namespace
}  // namespace infergate::it
