// End to end: the Hugging Face routes of the real `infergate` binary in front of the mock OpenAI
// provider. The gateway's providers carry HF provider names (together, groq, hf-inference,
// fal-ai, replicate) but all speak the OpenAI wire format to the mock: what is under test is the
// client-facing HF dialect (paths, bodies, answers, errors), not the fal/Replicate adapters.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::it {
namespace {

using nlohmann::json;

constexpr const char* kKey = "hf_it_key_0123456789";     // every model
constexpr const char* kOther = "hf_it_other_012345678";  // chat only
constexpr const char* kPng = "\x89PNG\r\n\x1a\n";

std::vector<std::pair<std::string, std::string>> auth(const char* key = kKey) {
  return {{"Authorization", std::string("Bearer ") + key}, {"Content-Type", "application/json"}};
}

std::string chat_body(const std::string& model, bool stream = false) {
  std::string b =
      R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hello from hf"}])";
  if (stream) b += R"(,"stream":true)";
  return b + "}";
}

void expect_hf_error(const Response& r, int status, const std::string& needle = "") {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  ASSERT_TRUE(j["error"].is_string()) << r.body;  // what @huggingface/inference reads
  if (!needle.empty()) {
    EXPECT_NE(j["error"].get<std::string>().find(needle), std::string::npos) << r.body;
  }
}

// "http://127.0.0.1:PORT/path" -> "/path".
std::string path_of(const std::string& url) {
  const auto p = url.find('/', url.find("://") + 3);
  return p == std::string::npos ? "/" : url.substr(p);
}

class HfTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new Process();
    mock_->start({MOCK_BIN, "--port", "0", "--port-file", (dir_->path() / "mock.port").string(),
                  "--threads", "1"},
                 dir_->path() / "mock.log");
    mock_port_ = wait_for_port(dir_->path() / "mock.port");
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_port_) + "/v1";
    const std::string dead = "http://127.0.0.1:" + std::to_string(free_port()) + "/v1";
    const std::string cfg = R"(
server:
  host: 127.0.0.1
  port: 0
  port_file: )" + (dir_->path() / "gw.port").string() +
                            R"(
  io_threads: 2
  access_log: )" + (dir_->path() / "access.log").string() +
                            R"(
  timeouts: { request: 20s, shutdown_grace: 2s }
providers:
  - { name: groq, type: openai, base_url: )" +
                            mock + R"( }
  - { name: tg, type: openai, preset: together, api_key: "", base_url: )" +
                            mock + R"( }
  - { name: hf-inference, type: openai, base_url: )" +
                            mock + R"( }
  - { name: fal-ai, type: openai, base_url: )" +
                            mock + R"( }
  - { name: replicate, type: openai, base_url: )" +
                            mock + R"( }
  - { name: mock, type: openai, base_url: )" +
                            mock + R"( }
  - { name: dead, type: openai, base_url: )" +
                            dead + R"(, timeouts: { connect: 1s } }
models:
  - name: meta-llama/Llama-3.1-8B-Instruct
    deployments:
      - { provider: groq, model: groq-llama }
      - { provider: tg, model: together-llama }
      - { provider: mock, model: mock-llama }
      - { provider: hf-inference, model: hf-llama }
  - name: "odd:groq"
    deployments: [ { provider: tg, model: odd-upstream } ]
  - name: BAAI/bge-small-en
    deployments: [ { provider: hf-inference, model: mock-embed } ]
  - name: black-forest-labs/FLUX.1-schnell
    deployments:
      - { provider: fal-ai, model: fal-ai/flux/schnell }
      - { provider: replicate, model: black-forest-labs/flux-schnell }
      - { provider: hf-inference, model: mock-image }
  - name: speedy
    deployments:
      - { provider: mock, model: "slow?latency_ms=300" }
      - { provider: mock, model: quick }
  - name: down-embed
    deployments: [ { provider: dead, model: x-embed } ]
keys:
  - { id: hf-key, sha256: )" +
                            policy::sha256_hex(kKey) +
                            R"(, org: o }
  - { id: other-key, sha256: )" +
                            policy::sha256_hex(kOther) +
                            R"(, org: o, models: [meta-llama/Llama-3.1-8B-Instruct] }
orgs: [ { name: o } ]
routing: { max_attempts: 3 }
)";
    write_file(dir_->path() / "gw.yaml", cfg);
    gw_ = new Process();
    gw_->start({INFERGATE_BIN, "--config", (dir_->path() / "gw.yaml").string()},
               dir_->path() / "gw.log");
    port_ = wait_for_port(dir_->path() / "gw.port");
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete mock_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_GT(mock_port_, 0) << "mock did not start";
    ASSERT_GT(port_, 0) << "gateway did not start: " << gw_->log();
  }
  static json last_upstream_body() {
    auto r = http_request(mock_port_, "GET", "/_mock/last_request");
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) return {};
    return j["body"].is_string() ? json::parse(j["body"].get<std::string>(), nullptr, false)
                                 : j["body"];
  }
  static Response post(const std::string& target, const std::string& body, const char* key = kKey) {
    return http_request(port_, "POST", target, body, auth(key));
  }

  static TempDir* dir_;
  static Process* mock_;
  static Process* gw_;
  static int mock_port_;
  static int port_;
};
TempDir* HfTest::dir_ = nullptr;
Process* HfTest::mock_ = nullptr;
Process* HfTest::gw_ = nullptr;
int HfTest::mock_port_ = 0;
int HfTest::port_ = 0;

TEST_F(HfTest, HubMappingFromTheCatalog) {
  auto r = http_request(port_, "GET",
                        "/api/models/meta-llama/Llama-3.1-8B-Instruct?expand[]="
                        "inferenceProviderMapping",
                        "", auth());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["id"], "meta-llama/Llama-3.1-8B-Instruct");
  const auto& m = j["inferenceProviderMapping"];
  ASSERT_EQ(m.size(), 3u) << r.body;  // "mock" has no HF name
  EXPECT_EQ(m[0]["provider"], "groq");
  EXPECT_EQ(m[0]["providerId"], "groq-llama");
  EXPECT_EQ(m[1]["provider"], "together");  // the preset's name
  EXPECT_EQ(m[1]["providerId"], "together-llama");
  EXPECT_EQ(m[1]["task"], "conversational");
  EXPECT_EQ(m[1]["status"], "live");
  EXPECT_EQ(m[2]["provider"], "hf-inference");

  auto img = json::parse(
      http_request(port_, "GET", "/api/models/black-forest-labs/FLUX.1-schnell", "", auth()).body);
  EXPECT_EQ(img["inferenceProviderMapping"][0]["provider"], "fal-ai");
  EXPECT_EQ(img["inferenceProviderMapping"][0]["task"], "text-to-image");
  auto emb =
      json::parse(http_request(port_, "GET", "/api/models/BAAI/bge-small-en", "", auth()).body);
  EXPECT_EQ(emb["inferenceProviderMapping"][0]["task"], "feature-extraction");

  expect_hf_error(http_request(port_, "GET", "/api/models/nope/nope", "", auth()), 404, "nope");
  expect_hf_error(http_request(port_, "GET", "/api/models/BAAI/bge-small-en", "", auth(kOther)),
                  404);
  expect_hf_error(http_request(port_, "GET", "/api/models/BAAI/bge-small-en"), 401);
  expect_hf_error(http_request(port_, "POST", "/api/models/BAAI/bge-small-en", "{}", auth()), 405);
}

TEST_F(HfTest, ChatOnAPerProviderPathUsesThatDeployment) {
  auto r = post("/together/v1/chat/completions", chat_body("together-llama"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(j["usage"].is_object());
  EXPECT_EQ(last_upstream_body()["model"], "together-llama");

  // The YAML name works too, and a public model name is restricted to that provider.
  ASSERT_EQ(post("/tg/v1/chat/completions", chat_body("together-llama")).status, 200);
  ASSERT_EQ(post("/groq/v1/chat/completions", chat_body("meta-llama/Llama-3.1-8B-Instruct")).status,
            200);
  EXPECT_EQ(last_upstream_body()["model"], "groq-llama");

  // A provider id another provider serves is not this provider's.
  r = post("/groq/v1/chat/completions", chat_body("together-llama"));
  EXPECT_EQ(r.status, 404) << r.body;
  r = post("/nosuch/v1/chat/completions", chat_body("together-llama"));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("nosuch"), std::string::npos);
}

TEST_F(HfTest, ChatStreamOnAPerProviderPath) {
  auto r = post("/together/v1/chat/completions", chat_body("together-llama", true));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events.front())["object"], "chat.completion.chunk");
}

TEST_F(HfTest, ChatOnTheHfInferenceModelPath) {
  // HFInferenceConversationalTask: {router}/hf-inference/models/{providerId}/v1/chat/completions,
  // body model = providerId.
  auto r = post("/hf-inference/models/hf-llama/v1/chat/completions", chat_body("hf-llama"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_upstream_body()["model"], "hf-llama");
  // The public name restricted to hf-inference is the same deployment.
  r = post("/hf-inference/models/meta-llama/Llama-3.1-8B-Instruct/v1/chat/completions",
           chat_body("meta-llama/Llama-3.1-8B-Instruct"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_upstream_body()["model"], "hf-llama");
  // Inference Endpoints style: the path names the model, whatever the body says.
  r = post("/models/meta-llama/Llama-3.1-8B-Instruct/v1/chat/completions",
           chat_body("http://endpoint.example/"));
  ASSERT_EQ(r.status, 200) << r.body;
}

TEST_F(HfTest, ModelSuffixesOnV1Chat) {
  ASSERT_EQ(
      post("/v1/chat/completions", chat_body("meta-llama/Llama-3.1-8B-Instruct:together")).status,
      200);
  EXPECT_EQ(last_upstream_body()["model"], "together-llama");
  ASSERT_EQ(post("/v1/chat/completions", chat_body("meta-llama/Llama-3.1-8B-Instruct:mock")).status,
            200);
  EXPECT_EQ(last_upstream_body()["model"], "mock-llama");
  for (const char* policy : {":fastest", ":cheapest", ":preferred"}) {
    ASSERT_EQ(post("/v1/chat/completions",
                   chat_body(std::string("meta-llama/Llama-3.1-8B-Instruct") + policy))
                  .status,
              200)
        << policy;
  }
  // A literal public name with a colon wins over suffix parsing.
  ASSERT_EQ(post("/v1/chat/completions", chat_body("odd:groq")).status, 200);
  EXPECT_EQ(last_upstream_body()["model"], "odd-upstream");
  auto r = post("/v1/chat/completions", chat_body("meta-llama/Llama-3.1-8B-Instruct:nosuch"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("nosuch"), std::string::npos);
  // The Anthropic route parses the same suffixes.
  r = http_request(
      port_, "POST", "/v1/messages",
      R"({"model":"meta-llama/Llama-3.1-8B-Instruct:together","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})",
      auth());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_upstream_body()["model"], "together-llama");
}

TEST_F(HfTest, FastestPrefersTheLowerObservedLatency) {
  // Unobserved deployments are tried first, once each; then the lower estimate wins.
  std::vector<std::string> upstream;
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(post("/v1/chat/completions", chat_body("speedy:fastest")).status, 200);
    upstream.push_back(last_upstream_body()["model"]);
  }
  EXPECT_EQ(upstream, (std::vector<std::string>{"slow?latency_ms=300", "quick", "quick", "quick"}));
  // The plain name keeps the configured order.
  ASSERT_EQ(post("/v1/chat/completions", chat_body("speedy")).status, 200);
  EXPECT_EQ(last_upstream_body()["model"], "slow?latency_ms=300");
}

TEST_F(HfTest, FeatureExtraction) {
  auto r = post("/hf-inference/models/mock-embed/pipeline/feature-extraction",
                R"({"inputs":"Today is a sunny day"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  ASSERT_TRUE(j.is_array());
  ASSERT_FALSE(j.empty());
  EXPECT_TRUE(j[0].is_number()) << r.body;  // one string in: one vector out
  const auto dims = j.size();

  r = post("/hf-inference/models/mock-embed/pipeline/feature-extraction",
           R"({"inputs":["a b","c d e"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0].size(), dims);
  EXPECT_NE(j[0], j[1]);  // derived from the text

  // The public name works on the endpoint-style route (the task comes from the model).
  r = post("/models/BAAI/bge-small-en", R"({"inputs":"Today is a sunny day"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).size(), dims);

  expect_hf_error(post("/hf-inference/models/mock-embed/pipeline/feature-extraction", "{}"), 400,
                  "inputs");
  expect_hf_error(
      post("/hf-inference/models/unknown/pipeline/feature-extraction", R"({"inputs":"x"})"), 404);
  // No healthy deployment: 502, not 503 (the HF client retries 503 at once, forever).
  expect_hf_error(post("/models/down-embed", R"({"inputs":"x"})"), 502);
}

TEST_F(HfTest, TextToImageReturnsImageBytes) {
  auto r = post("/hf-inference/models/mock-image",
                R"({"inputs":"an astronaut","parameters":{"width":64,"height":64}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "image/png");
  EXPECT_EQ(r.body.substr(0, 8), std::string(kPng, 8));
  r = post("/models/black-forest-labs/FLUX.1-schnell", R"({"inputs":"an astronaut"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.substr(0, 8), std::string(kPng, 8));
  expect_hf_error(post("/models/black-forest-labs/FLUX.1-schnell", R"({"inputs":""})"), 400);
  expect_hf_error(post("/models/meta-llama/Llama-3.1-8B-Instruct", R"({"inputs":"x"})"), 400,
                  "conversational");
}

TEST_F(HfTest, FalQueueSubmitResultAndImage) {
  auto r = post("/fal-ai/fal-ai/flux/schnell?_subdomain=queue",
                R"({"prompt":"a cat","num_inference_steps":2,"width":64,"height":64})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto q = json::parse(r.body);
  ASSERT_TRUE(q["request_id"].is_string());
  EXPECT_EQ(q["status"], "COMPLETED");
  // The client polls {router}/fal-ai{pathname of response_url}[/status]?_subdomain=queue.
  const std::string pathname = path_of(q["response_url"].get<std::string>());
  EXPECT_EQ(pathname, "/fal-ai/flux/schnell/requests/" + q["request_id"].get<std::string>());
  auto st =
      http_request(port_, "GET", "/fal-ai" + pathname + "/status?_subdomain=queue", "", auth());
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(json::parse(st.body)["status"], "COMPLETED");
  auto res = http_request(port_, "GET", "/fal-ai" + pathname + "?_subdomain=queue", "", auth());
  ASSERT_EQ(res.status, 200) << res.body;
  auto j = json::parse(res.body);
  ASSERT_EQ(j["images"].size(), 1u);
  const std::string url = j["images"][0]["url"];
  EXPECT_EQ(url.rfind("http://", 0), 0u) << url;  // the client requires an http(s) URL
  auto img = http_request(port_, "GET", path_of(url));
  ASSERT_EQ(img.status, 200);
  EXPECT_EQ(img.header("content-type"), "image/png");
  EXPECT_EQ(img.body.substr(0, 8), std::string(kPng, 8));

  // Another key cannot read the result; unknown ids are 404.
  expect_hf_error(
      http_request(port_, "GET", "/fal-ai" + pathname + "?_subdomain=queue", "", auth(kOther)),
      404);
  expect_hf_error(http_request(port_, "GET", "/hf-files/0123456789abcdef0123456789abcdef"), 404);

  // Synchronous run (no queue): the result itself.
  r = post("/fal-ai/fal-ai/flux/schnell", R"({"prompt":"a cat","image_size":"square"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["images"][0]["width"], 512);
  expect_hf_error(post("/fal-ai/fal-ai/flux/schnell", R"({"prompt":"a","num_images":99})"), 400,
                  "num_images");
}

TEST_F(HfTest, ReplicatePrediction) {
  auto r =
      http_request(port_, "POST", "/replicate/v1/models/black-forest-labs/flux-schnell/predictions",
                   R"({"input":{"prompt":"a dog","num_inference_steps":2}})",
                   {{"Authorization", std::string("Bearer ") + kKey},
                    {"Prefer", "wait"},
                    {"X-HF-Bill-To", "my-org"}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["status"], "succeeded");
  EXPECT_EQ(j["model"], "black-forest-labs/flux-schnell");
  ASSERT_TRUE(j["output"].is_array());
  auto img = http_request(port_, "GET", path_of(j["output"][0]));
  ASSERT_EQ(img.status, 200);
  EXPECT_EQ(img.body.substr(0, 8), std::string(kPng, 8));
  expect_hf_error(post("/replicate/v1/predictions", R"({"input":{"prompt":"x"},"version":"zz"})"),
                  404, "zz");
}

TEST_F(HfTest, TogetherImagesAndEmbeddings) {
  // TogetherTextToImageTask: /together/v1/images/generations, response_format base64.
  auto r = post("/together/v1/images/generations",
                R"({"prompt":"p","response_format":"base64","model":"mock-image"})");
  // mock-image is on hf-inference, not together: 404 naming it.
  EXPECT_EQ(r.status, 404) << r.body;
  r = post("/hf-inference/v1/images/generations",
           R"({"prompt":"p","response_format":"base64","model":"mock-image"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(json::parse(r.body)["data"][0]["b64_json"].is_string());
  r = post("/hf-inference/v1/embeddings", R"({"input":["a","b"],"model":"mock-embed"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"].size(), 2u);
}

TEST_F(HfTest, AuthAndMethods) {
  expect_hf_error(http_request(port_, "POST", "/models/BAAI/bge-small-en", R"({"inputs":"x"})"),
                  401);
  auto r = http_request(port_, "POST", "/models/BAAI/bge-small-en", R"({"inputs":"x"})",
                        {{"Authorization", "Bearer wrong"}});
  expect_hf_error(r, 401);
  EXPECT_EQ(r.body.find("wrong"), std::string::npos);  // the presented key is never echoed
  expect_hf_error(http_request(port_, "GET", "/models/BAAI/bge-small-en", "", auth()), 405);
  // A key limited to other models cannot use (or probe) this one.
  expect_hf_error(post("/models/BAAI/bge-small-en", R"({"inputs":"x"})", kOther), 404);
}

}  // namespace
}  // namespace infergate::it
