// End to end: the real `infergate` binary with a `type: bedrock` provider in front of
// infergate-mock-bedrock, which verifies every request's SigV4 signature on its own.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "ig-bedrock-it-key-0123456789";
constexpr const char* kAwsKeyId = "AKIDEXAMPLEINTEGRATION";
constexpr const char* kAwsSecret = "it-secret/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kAwsToken = "it-session-token-0123456789";

std::vector<std::pair<std::string, std::string>> auth() {
  return {{"Authorization", std::string("Bearer ") + kKey}};
}

std::string chat_body(const std::string& model, bool stream, const std::string& extra = "") {
  std::string b = R"({"model":")" + model +
                  R"(","messages":[{"role":"system","content":"be brief"},)"
                  R"({"role":"user","content":"hello bedrock"}])";
  if (stream) b += R"(,"stream":true,"stream_options":{"include_usage":true})";
  return b + extra + "}";
}

class BedrockIt : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const fs::path d = dir_->path();
    mock_ = new Process();
    mock_->start({MOCK_BEDROCK_BIN, "--port", "0", "--port-file", (d / "mock.port").string(),
                  "--region", "eu-west-3"},
                 d / "mock.log",
                 {{"MOCK_AWS_ACCESS_KEY_ID", kAwsKeyId},
                  {"MOCK_AWS_SECRET_ACCESS_KEY", kAwsSecret},
                  {"MOCK_AWS_SESSION_TOKEN", kAwsToken}});
    mock_port_ = wait_for_port(d / "mock.port");
    const std::string cfg = R"(
server:
  host: 127.0.0.1
  port: 0
  port_file: )" + (d / "gw.port").string() +
                            R"(
  io_threads: 1
  access_log: )" + (d / "access.log").string() +
                            R"(
providers:
  - name: bedrock
    type: bedrock
    base_url: http://127.0.0.1:)" +
                            std::to_string(mock_port_) + R"(
    aws:
      region: eu-west-3
      access_key_id: ${IT_AWS_ACCESS_KEY_ID}
      secret_access_key: ${IT_AWS_SECRET_ACCESS_KEY}
      session_token: ${IT_AWS_SESSION_TOKEN}
    timeouts: { connect: 1s, first_byte: 3s, idle: 3s, total: 15s }
  - name: bedrock-wrong-key
    type: bedrock
    base_url: http://127.0.0.1:)" +
                            std::to_string(mock_port_) + R"(
    aws:
      region: eu-west-3
      access_key_id: ${IT_AWS_ACCESS_KEY_ID}
      secret_access_key: ${IT_AWS_WRONG_SECRET}
      session_token: ${IT_AWS_SESSION_TOKEN}
models:
  - { name: claude, deployments: [ { provider: bedrock, model: "mock.text-v1:0" } ] }
  - { name: claude-tools, deployments: [ { provider: bedrock, model: "mock.tools-v1:0" } ] }
  - { name: throttled, deployments: [ { provider: bedrock, model: "mock.throttle-v1:0" } ] }
  - { name: badsig, deployments: [ { provider: bedrock-wrong-key, model: "mock.text-v1:0" } ] }
keys:
  - { id: it-key, sha256: )" +
                            policy::sha256_hex(kKey) + R"(, org: itorg }
orgs: [ { name: itorg } ]
)";
    write_file(d / "gw.yaml", cfg);
    gw_ = new Process();
    gw_->start({INFERGATE_BIN, "--config", (d / "gw.yaml").string()}, d / "gw.log",
               {{"IT_AWS_ACCESS_KEY_ID", kAwsKeyId},
                {"IT_AWS_SECRET_ACCESS_KEY", kAwsSecret},
                {"IT_AWS_WRONG_SECRET", "not-the-secret-0123456789"},
                {"IT_AWS_SESSION_TOKEN", kAwsToken}});
    gw_port_ = wait_for_port(d / "gw.port");
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
  static json last_request() {
    return json::parse(http_request(mock_port_, "GET", "/_mock/last_request").body, nullptr, false);
  }

  static TempDir* dir_;
  static Process* mock_;
  static Process* gw_;
  static int mock_port_;
  static int gw_port_;
};
TempDir* BedrockIt::dir_ = nullptr;
Process* BedrockIt::mock_ = nullptr;
Process* BedrockIt::gw_ = nullptr;
int BedrockIt::mock_port_ = 0;
int BedrockIt::gw_port_ = 0;

TEST_F(BedrockIt, PlainChatIsSignedAndTranslated) {
  auto r =
      http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("claude", false), auth());
  ASSERT_EQ(r.status, 200) << r.body << "\n" << gw_->log();
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "claude");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "mock bedrock says: hello bedrock");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);

  const json last = last_request();
  EXPECT_EQ(last["signature_ok"], true);
  EXPECT_EQ(last["target"], "/model/mock.text-v1%3A0/converse");
  EXPECT_EQ(last["model"], "mock.text-v1:0");
  EXPECT_EQ(last["body"]["system"][0]["text"], "be brief");
  EXPECT_EQ(last["body"]["messages"][0]["content"][0]["text"], "hello bedrock");
}

TEST_F(BedrockIt, StreamedChat) {
  auto r =
      http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("claude", true), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.header("content-type").find("text/event-stream"), std::string::npos);
  const auto data = sse_data(r.body);
  ASSERT_FALSE(data.empty());
  EXPECT_EQ(data.back(), "[DONE]");
  std::string text, finish;
  bool usage = false;
  for (const auto& d : data) {
    if (d == "[DONE]") continue;
    auto j = json::parse(d);
    if (j.contains("usage") && j["usage"].is_object()) {
      usage = true;
      EXPECT_EQ(j["usage"]["completion_tokens"], 5);
    }
    if (!j["choices"].empty()) {
      const auto& c = j["choices"][0];
      if (c["delta"].contains("content") && c["delta"]["content"].is_string())
        text += c["delta"]["content"].get<std::string>();
      if (c["finish_reason"].is_string()) finish = c["finish_reason"];
    }
  }
  EXPECT_EQ(text, "mock bedrock says: hello bedrock");
  EXPECT_EQ(finish, "stop");
  EXPECT_TRUE(usage);
  const json last = last_request();
  EXPECT_EQ(last["signature_ok"], true);
  EXPECT_EQ(last["target"], "/model/mock.text-v1%3A0/converse-stream");
}

TEST_F(BedrockIt, StreamedToolCall) {
  const std::string tools =
      R"(,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"auto")";
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions",
                        chat_body("claude-tools", true, tools), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  std::string args, name, id, finish;
  for (const auto& d : sse_data(r.body)) {
    if (d == "[DONE]") continue;
    auto j = json::parse(d);
    if (j["choices"].empty()) continue;
    const auto& c = j["choices"][0];
    if (c["delta"].contains("tool_calls"))
      for (const auto& tc : c["delta"]["tool_calls"]) {
        if (tc.contains("id")) id = tc["id"];
        if (tc["function"].contains("name")) name = tc["function"]["name"];
        if (tc["function"].contains("arguments"))
          args += tc["function"]["arguments"].get<std::string>();
      }
    if (c["finish_reason"].is_string()) finish = c["finish_reason"];
  }
  EXPECT_EQ(id, "tooluse_mock1");
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(json::parse(args), json({{"city", "Paris"}, {"unit", "celsius"}}));
  EXPECT_EQ(finish, "tool_calls");
  const json last = last_request();
  EXPECT_EQ(last["signature_ok"], true);
  EXPECT_EQ(last["body"]["toolConfig"]["tools"][0]["toolSpec"]["name"], "get_weather");
  EXPECT_EQ(last["body"]["toolConfig"]["toolChoice"], json({{"auto", json::object()}}));
}

TEST_F(BedrockIt, PlainToolCall) {
  const std::string tools =
      R"(,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}])";
  auto r = http_request(gw_port_, "POST", "/v1/chat/completions",
                        chat_body("claude-tools", false, tools), auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  const auto& calls = j["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 1u) << r.body;
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(calls[0]["function"]["arguments"].get<std::string>())["city"], "Paris");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(BedrockIt, ThrottlingIsA429) {
  auto r =
      http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("throttled", false), auth());
  EXPECT_EQ(r.status, 429) << r.body;
}

TEST_F(BedrockIt, WrongSecretIsRejectedByTheMockAndNeverLeaks) {
  auto r =
      http_request(gw_port_, "POST", "/v1/chat/completions", chat_body("badsig", false), auth());
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(last_request()["signature_ok"], false);
  EXPECT_EQ(r.body.find("not-the-secret"), std::string::npos);
  EXPECT_EQ(gw_->log().find(kAwsSecret), std::string::npos);
  EXPECT_EQ(gw_->log().find("not-the-secret"), std::string::npos);
}

// Anthropic's POST /v1/messages/count_tokens served by a bedrock deployment: CountTokens
// (POST /model/{modelId}/count-tokens), SigV4-signed and checked by the mock.
TEST_F(BedrockIt, CountTokens) {
  const std::string body = R"({"model":"claude","system":"You are a scientist",
    "messages":[{"role":"user","content":"Hello, Claude"}],
    "tools":[{"name":"get_weather","description":"Get the current weather in a given location",
              "input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}]})";
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"x-api-key", kKey}, {"anthropic-version", "2023-06-01"}};
  auto r = http_request(gw_port_, "POST", "/v1/messages/count_tokens", body, headers);
  ASSERT_EQ(r.status, 200) << r.body;
  // The mock's count: system 4 words + message (2 words + 1) + toolSpec (1 + 8 words).
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"input_tokens":16})"));
  const json last = last_request();
  EXPECT_EQ(last["target"], "/model/mock.text-v1%3A0/count-tokens");
  EXPECT_EQ(last["signature_ok"], true);
  const json& converse = last["body"]["input"]["converse"];
  EXPECT_EQ(converse["system"][0]["text"], "You are a scientist");
  EXPECT_EQ(converse["toolConfig"]["tools"][0]["toolSpec"]["name"], "get_weather");
  EXPECT_FALSE(converse.contains("inferenceConfig"));

  std::string throttled = body;
  throttled.replace(throttled.find("\"claude\""), 8, "\"throttled\"");
  r = http_request(gw_port_, "POST", "/v1/messages/count_tokens", throttled, headers);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "rate_limit_error");
}

}  // namespace
}  // namespace infergate::it
