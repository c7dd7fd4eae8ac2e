// The Hugging Face dialect: routes, request bodies, answers, the result store.
//
// Request fixtures are the exact bodies @huggingface/inference 4.13.30 builds
// (src/providers/*.ts preparePayload, src/lib/makeRequestOptions.ts); answer shapes are what its
// getResponse() checks accept. Reference pages cited beside each fixture.
#include "infergate/api/hf.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace infergate::api::hf {
namespace {

using json = nlohmann::json;

// --- routes --------------------------------------------------------------------------------

TEST(HfMatch, HubModel) {
  // Hub API "Get model info": GET /api/models/{repo_id}?expand[]=inferenceProviderMapping
  // (huggingface.co/docs/inference-providers/hub-api, "Get model status").
  auto r = match("/api/models/meta-llama/Llama-3.1-8B-Instruct?expand[]=inferenceProviderMapping");
  EXPECT_EQ(r.kind, Route::Kind::hub_model);
  EXPECT_EQ(r.model, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(match("/api/models/a%2Fb").model, "a/b");
  EXPECT_EQ(match("/api/other/x").kind, Route::Kind::none);
  EXPECT_EQ(match("/api/models/../x").kind, Route::Kind::none);
  EXPECT_EQ(match("/api/models/a//b").kind, Route::Kind::none);
}

TEST(HfMatch, ChatRoutes) {
  // BaseConversationalTask.makeRoute: "v1/chat/completions" under router.huggingface.co/{provider}.
  auto r = match("/together/v1/chat/completions");
  EXPECT_EQ(r.kind, Route::Kind::chat);
  EXPECT_EQ(r.provider, "together");
  EXPECT_EQ(r.model, "");
  // Cohere's compatibility path and zai's still end in chat/completions.
  EXPECT_EQ(match("/cohere/compatibility/v1/chat/completions").kind, Route::Kind::chat);
  // HFInferenceConversationalTask.makeUrl: {base}/models/{model}/v1/chat/completions.
  r = match("/hf-inference/models/Qwen/Qwen2.5-7B/v1/chat/completions");
  EXPECT_EQ(r.kind, Route::Kind::chat);
  EXPECT_EQ(r.provider, "hf-inference");
  EXPECT_EQ(r.model, "Qwen/Qwen2.5-7B");
}

TEST(HfMatch, TaskRoutes) {
  // HFInferenceTask.makeRoute: models/{model}/pipeline/{task} for feature-extraction.
  auto r = match("/hf-inference/models/BAAI/bge-small-en/pipeline/feature-extraction");
  EXPECT_EQ(r.kind, Route::Kind::pipeline);
  EXPECT_EQ(r.task, Task::feature_extraction);
  EXPECT_EQ(r.model, "BAAI/bge-small-en");
  EXPECT_EQ(match("/hf-inference/models/x/pipeline/sentence-similarity").task,
            Task::feature_extraction);
  EXPECT_EQ(match("/hf-inference/models/x/pipeline/nonsense").kind, Route::Kind::none);
  // models/{model} for the other tasks; Inference Endpoints style at the root.
  r = match("/hf-inference/models/black-forest-labs/FLUX.1-dev");
  EXPECT_EQ(r.kind, Route::Kind::model_task);
  EXPECT_EQ(r.model, "black-forest-labs/FLUX.1-dev");
  r = match("/models/demo-image");
  EXPECT_EQ(r.kind, Route::Kind::model_task);
  EXPECT_EQ(r.provider, "");
  EXPECT_EQ(match("/models/demo-embed/pipeline/feature-extraction").kind, Route::Kind::pipeline);
  EXPECT_EQ(match("/together/v1/embeddings").kind, Route::Kind::embeddings);
  EXPECT_EQ(match("/together/v1/images/generations").kind, Route::Kind::images);
}

TEST(HfMatch, FalRoutes) {
  // FalAiQueueTask.makeRoute: "/{model}?_subdomain=queue" through the router; status and result
  // at {router}/fal-ai{pathname of response_url}[/status]{query}.
  auto r = match("/fal-ai/fal-ai/flux/schnell?_subdomain=queue");
  EXPECT_EQ(r.kind, Route::Kind::fal_submit);
  EXPECT_TRUE(r.queue);
  EXPECT_EQ(r.model, "fal-ai/flux/schnell");
  EXPECT_FALSE(match("/fal-ai/fal-ai/flux/schnell").queue);
  const std::string id(32, 'a');
  r = match("/fal-ai/fal-ai/flux/schnell/requests/" + id + "?_subdomain=queue");
  EXPECT_EQ(r.kind, Route::Kind::fal_result);
  EXPECT_EQ(r.id, id);
  r = match("/fal-ai/fal-ai/flux/schnell/requests/" + id + "/status?_subdomain=queue");
  EXPECT_EQ(r.kind, Route::Kind::fal_status);
  EXPECT_EQ(r.id, id);
  EXPECT_EQ(match("/fal-ai/x/requests/short").kind, Route::Kind::none);
}

TEST(HfMatch, ReplicateAndFiles) {
  // ReplicateTask.makeUrl: {base}/v1/models/{model}/predictions, or /v1/predictions + version.
  auto r = match("/replicate/v1/models/black-forest-labs/flux-schnell/predictions");
  EXPECT_EQ(r.kind, Route::Kind::replicate_predict);
  EXPECT_EQ(r.model, "black-forest-labs/flux-schnell");
  r = match("/replicate/v1/predictions");
  EXPECT_EQ(r.kind, Route::Kind::replicate_predict);
  EXPECT_EQ(r.model, "");
  EXPECT_EQ(match("/hf-files/0123456789abcdef0123456789abcdef").kind, Route::Kind::file);
  EXPECT_EQ(match("/hf-files/xyz").kind, Route::Kind::none);
}

TEST(HfMatch, LeavesOtherPathsAlone) {
  for (const char* p : {"/v1/chat/completions", "/v1/models", "/healthz", "/", "/together",
                        "/Upper/v1/chat/completions", "/a b/v1/chat/completions", "/x/unknown"})
    EXPECT_EQ(match(p).kind, Route::Kind::none) << p;
}

// --- tasks and the Hub mapping ---------------------------------------------------------------

config::Config catalog() {
  config::Config c;
  auto prov = [](std::string name, std::string type, std::string preset = {}) {
    config::ProviderConfig p;
    p.name = std::move(name);
    p.type = std::move(type);
    p.preset = std::move(preset);
    return p;
  };
  c.providers = {prov("together", "openai"), prov("tg2", "openai", "together"),
                 prov("mock", "openai"), prov("fal", "fal"), prov("replicate", "replicate")};
  auto model = [](std::string name, std::vector<config::DeploymentConfig> d) {
    config::ModelConfig m;
    m.name = std::move(name);
    m.deployments = std::move(d);
    return m;
  };
  c.models = {
      model("meta-llama/Llama-3.1-8B-Instruct", {{"mock", "mock-chat"},
                                                 {"together", "meta-llama/Meta-Llama-3.1-8B"},
                                                 {"tg2", "other-id"}}),
      model("flux", {{"fal", "fal-ai/flux/schnell"}, {"replicate", "bfl/flux"}}),
      model("demo-embed", {{"mock", "mock-embed"}}),
      model("demo-image", {{"together", "mock-image"}})};
  return c;
}

TEST(HfTask, Inferred) {
  const auto c = catalog();
  EXPECT_EQ(model_task(c.models[0], c), Task::conversational);
  EXPECT_EQ(model_task(c.models[1], c), Task::text_to_image);  // a fal deployment
  EXPECT_EQ(model_task(c.models[2], c), Task::feature_extraction);
  EXPECT_EQ(model_task(c.models[3], c), Task::text_to_image);
  EXPECT_EQ(task_name(Task::feature_extraction), "feature-extraction");
  EXPECT_EQ(task_from_name("text-to-image"), Task::text_to_image);
  EXPECT_FALSE(task_from_name("summarization"));
}

TEST(HfHub, MappingShape) {
  // InferenceProviderMappingEntry (huggingface.js docs, inference/interfaces/
  // InferenceProviderMappingEntry): provider, providerId, hfModelId, status, task.
  const auto c = catalog();
  const json j = json::parse(render_hub_model(c.models[0], c));
  EXPECT_EQ(j["id"], "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(j["pipeline_tag"], "text-generation");
  const auto& m = j["inferenceProviderMapping"];
  ASSERT_TRUE(m.is_array());
  // "mock" has no HF name; "tg2" is together again: the first together deployment wins.
  ASSERT_EQ(m.size(), 1u) << m.dump();
  EXPECT_EQ(m[0]["provider"], "together");
  EXPECT_EQ(m[0]["providerId"], "meta-llama/Meta-Llama-3.1-8B");
  EXPECT_EQ(m[0]["hfModelId"], "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(m[0]["status"], "live");
  EXPECT_EQ(m[0]["task"], "conversational");
  const json f = json::parse(render_hub_model(c.models[1], c));
  ASSERT_EQ(f["inferenceProviderMapping"].size(), 2u);
  EXPECT_EQ(f["inferenceProviderMapping"][0]["provider"], "fal-ai");
  EXPECT_EQ(f["inferenceProviderMapping"][0]["task"], "text-to-image");
  EXPECT_EQ(f["inferenceProviderMapping"][1]["provider"], "replicate");
  EXPECT_EQ(f["pipeline_tag"], "text-to-image");
}

// --- requests --------------------------------------------------------------------------------

TEST(HfRequest, FeatureExtraction) {
  // HFInferenceTask.preparePayload: the args as given, {"inputs": ...} (+ extra args).
  EmbeddingsRequest r;
  bool single = false;
  Error err;
  ASSERT_TRUE(parse_feature_extraction(R"({"inputs":"That is a happy person"})", "demo-embed", r,
                                       single, err))
      << err.message;
  EXPECT_TRUE(single);
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.body["input"], "That is a happy person");
  EXPECT_EQ(r.body["encoding_format"], "float");
  EXPECT_EQ(r.model, "demo-embed");
  ASSERT_TRUE(
      parse_feature_extraction(R"({"inputs":["a","b"],"dimensions":4})", "m", r, single, err));
  EXPECT_FALSE(single);
  EXPECT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.dimensions, 4);
  EXPECT_EQ(r.body["dimensions"], 4);
  for (const char* bad : {R"({})", R"({"inputs":""})", R"({"inputs":[]})", R"({"inputs":[1]})",
                          R"({"inputs":"x","dimensions":0})", R"([1])", "not json",
                          R"({"inputs":"x","encoding_format":"base64"})"}) {
    EXPECT_FALSE(parse_feature_extraction(bad, "m", r, single, err)) << bad;
    EXPECT_EQ(err.status, 400) << bad;
  }
  std::string many = "{\"inputs\":[";
  for (std::size_t i = 0; i <= kMaxInputs; ++i) many += i ? ",\"x\"" : "\"x\"";
  many += "]}";
  EXPECT_FALSE(parse_feature_extraction(many, "m", r, single, err));
  EXPECT_EQ(err.param, "inputs");
}

TEST(HfRequest, TextToImage) {
  // HF text-to-image task input (huggingface.co/docs/inference-providers/tasks/text-to-image,
  // "API specification"): inputs + parameters {guidance_scale, negative_prompt,
  // num_inference_steps, width, height, scheduler, seed}.
  ImageRequest r;
  Error err;
  ASSERT_TRUE(parse_text_to_image(
      R"({"inputs":"Astronaut riding a horse","parameters":{"negative_prompt":"blurry",)"
      R"("width":512,"height":768,"num_inference_steps":4,"guidance_scale":3.5,"seed":42}})",
      "demo-image", r, err))
      << err.message;
  EXPECT_EQ(r.prompt, "Astronaut riding a horse");
  EXPECT_EQ(r.width, 512);
  EXPECT_EQ(r.height, 768);
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.seed, 42);
  EXPECT_DOUBLE_EQ(*r.guidance_scale, 3.5);
  EXPECT_EQ(r.negative_prompt, "blurry");
  EXPECT_EQ(r.body["size"], "512x768");
  EXPECT_EQ(r.body["response_format"], "b64_json");
  EXPECT_EQ(r.body["model"], "demo-image");
  for (const char* bad : {R"({})", R"({"inputs":""})", R"({"inputs":"x","parameters":{"width":0}})",
                          R"({"inputs":"x","parameters":{"width":9000}})",
                          R"({"inputs":"x","parameters":{"num_inference_steps":1.5}})",
                          R"({"inputs":"x","parameters":{"guidance_scale":"high"}})",
                          R"({"inputs":"x","parameters":[]})"}) {
    EXPECT_FALSE(parse_text_to_image(bad, "m", r, err)) << bad;
    EXPECT_EQ(err.status, 400);
  }
  EXPECT_FALSE(parse_text_to_image(R"({"inputs":"x","parameters":{"width":0}})", "m", r, err));
  EXPECT_EQ(err.param, "parameters.width");
}

TEST(HfRequest, Fal) {
  // FalAITextToImageTask.preparePayload: {...args without inputs/parameters, ...parameters,
  // prompt}. fal model API (fal.ai/models/fal-ai/flux/schnell/api, "Input"): image_size
  // {width,height} or an enum, num_images, seed, num_inference_steps, guidance_scale.
  ImageRequest r;
  Error err;
  ASSERT_TRUE(parse_fal_request(
      R"({"width":256,"height":256,"num_inference_steps":2,"prompt":"a cat","num_images":2})",
      "flux", r, err))
      << err.message;
  EXPECT_EQ(r.prompt, "a cat");
  EXPECT_EQ(r.width, 256);
  EXPECT_EQ(r.n, 2);
  ASSERT_TRUE(parse_fal_request(R"({"prompt":"p","image_size":"landscape_4_3"})", "flux", r, err));
  EXPECT_EQ(r.width, 1024);
  EXPECT_EQ(r.height, 768);
  ASSERT_TRUE(
      parse_fal_request(R"({"prompt":"p","image_size":{"width":64,"height":32}})", "flux", r, err));
  EXPECT_EQ(r.height, 32);
  EXPECT_FALSE(parse_fal_request(R"({"prompt":"p","image_size":"huge"})", "flux", r, err));
  EXPECT_EQ(err.param, "image_size");
  EXPECT_FALSE(parse_fal_request(R"({"prompt":"p","num_images":11})", "flux", r, err));
  EXPECT_FALSE(parse_fal_request(R"({"inputs":"p"})", "flux", r, err));
  EXPECT_EQ(err.param, "prompt");
}

TEST(HfRequest, Replicate) {
  // ReplicateTextToImageTask.preparePayload: {"input": {...parameters, prompt}, "version"?}.
  // Replicate HTTP API "Create a prediction using an official model".
  ImageRequest r;
  std::string version;
  Error err;
  ASSERT_TRUE(parse_replicate_request(
      R"({"input":{"num_inference_steps":4,"prompt":"a dog","guidance":2.5,"seed":7}})", "flux", r,
      &version, err))
      << err.message;
  EXPECT_EQ(r.prompt, "a dog");
  EXPECT_EQ(r.steps, 4);
  EXPECT_DOUBLE_EQ(*r.guidance_scale, 2.5);
  EXPECT_EQ(version, "");
  ASSERT_TRUE(parse_replicate_request(R"({"input":{"prompt":"x"},"version":"abc123"})", "flux", r,
                                      &version, err));
  EXPECT_EQ(version, "abc123");
  EXPECT_FALSE(parse_replicate_request(R"({"prompt":"x"})", "flux", r, &version, err));
  EXPECT_EQ(err.param, "input");
  EXPECT_FALSE(parse_replicate_request(R"({"input":{"prompt":"x","num_outputs":0}})", "flux", r,
                                       &version, err));
  EXPECT_EQ(err.param, "input.num_outputs");
}

TEST(HfRequest, TogetherImages) {
  // TogetherTextToImageTask.preparePayload: {...parameters (num_inference_steps -> steps),
  // prompt, response_format: "base64" | "url", model}.
  ImageRequest r;
  Error err;
  ASSERT_TRUE(parse_together_images(
      R"({"steps":3,"prompt":"p","response_format":"base64","model":"black-forest-labs/FLUX.1-schnell"})",
      r, err))
      << err.message;
  EXPECT_EQ(r.steps, 3);
  EXPECT_FALSE(r.want_url);
  EXPECT_EQ(r.model, "black-forest-labs/FLUX.1-schnell");
  EXPECT_FALSE(parse_together_images(R"({"prompt":"p","response_format":"png"})", r, err));
}

TEST(HfRequest, BodyModel) {
  EXPECT_EQ(body_model(R"({"model":"meta-llama/Meta-Llama-3.1-8B","messages":[]})"),
            "meta-llama/Meta-Llama-3.1-8B");
  EXPECT_EQ(body_model(R"({"model":3})"), "");
  EXPECT_EQ(body_model("garbage"), "");
}

// --- answers ---------------------------------------------------------------------------------

TEST(HfResponse, FeatureExtraction) {
  // HFInferenceFeatureExtractionTask.getResponse accepts nested number arrays up to depth 3.
  EmbeddingsResponse r;
  r.data = {{0.5f, -1.0f, 0.1f}};
  EXPECT_EQ(render_feature_extraction(r, true), "[0.5,-1,0.1]");
  EXPECT_EQ(render_feature_extraction(r, false), "[[0.5,-1,0.1]]");
  r.data.push_back({2.0f});
  const json j = json::parse(render_feature_extraction(r, false));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_FLOAT_EQ(j[0][2].get<float>(), 0.1f);
  r.data = {{std::numeric_limits<float>::quiet_NaN()}};
  EXPECT_EQ(render_feature_extraction(r, true), "[0]");  // still valid JSON
}

TEST(HfResponse, FalQueue) {
  // fal Queue API (docs.fal.ai/model-apis/model-endpoints/queue): submit answers request_id,
  // response_url, status_url, cancel_url; the client reads new URL(response_url).pathname.
  const std::string id(32, 'b');
  const json q = json::parse(render_fal_queued("http://127.0.0.1:8080", "fal-ai/flux/schnell", id));
  EXPECT_EQ(q["request_id"], id);
  EXPECT_EQ(q["status"], "COMPLETED");
  EXPECT_EQ(q["response_url"], "http://127.0.0.1:8080/fal-ai/flux/schnell/requests/" + id);
  EXPECT_EQ(q["status_url"],
            "http://127.0.0.1:8080/fal-ai/flux/schnell/requests/" + id + "/status");
  const json s = json::parse(render_fal_status("http://h", "m", id));
  EXPECT_EQ(s["status"], "COMPLETED");
  ImageRequest req;
  req.prompt = "p";
  req.width = 8;
  req.height = 8;
  req.seed = 5;
  ImageResponse resp;
  resp.images.push_back({"bytes", "image/png", "", ""});
  const json res = json::parse(render_fal_result(req, {"http://h/hf-files/x"}, resp));
  ASSERT_EQ(res["images"].size(), 1u);
  EXPECT_EQ(res["images"][0]["url"], "http://h/hf-files/x");
  EXPECT_EQ(res["images"][0]["content_type"], "image/png");
  EXPECT_EQ(res["images"][0]["width"], 8);
  EXPECT_EQ(res["seed"], 5);
  EXPECT_EQ(res["has_nsfw_concepts"], json::array({false}));
}

TEST(HfResponse, ReplicatePrediction) {
  // Replicate prediction object (replicate.com/docs/reference/http, "Get a prediction").
  ImageRequest req;
  req.prompt = "p";
  const json j = json::parse(render_replicate_prediction(
      "http://h", "abc", "bfl/flux", "", req, {"http://h/hf-files/1"}, 1700000000, 0.25));
  EXPECT_EQ(j["id"], "abc");
  EXPECT_EQ(j["status"], "succeeded");
  EXPECT_EQ(j["output"], json::array({"http://h/hf-files/1"}));
  EXPECT_EQ(j["created_at"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j["urls"]["get"], "http://h/replicate/v1/predictions/abc");
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_TRUE(j["version"].is_null());
}

TEST(HfResponse, TogetherImagesAndErrors) {
  ImageResponse resp;
  resp.images.push_back({"\x89PNG", "image/png", "", ""});
  const json j = json::parse(render_together_images("id1", "m", resp, false, {}));
  EXPECT_EQ(j["data"][0]["b64_json"], "iVBORw==");
  const json u = json::parse(render_together_images("id1", "m", resp, true, {"http://x/y"}));
  EXPECT_EQ(u["data"][0]["url"], "http://x/y");
  const json e = json::parse(error_body(Error::make(ErrorKind::not_found, "no \"such\" model")));
  EXPECT_EQ(e, json({{"error", "no \"such\" model"}}));
}

TEST(HfResponse, SniffAndIds) {
  EXPECT_EQ(sniff_image_type("\x89PNG\r\n\x1a\nrest", "x"), "image/png");
  EXPECT_EQ(sniff_image_type("\xff\xd8\xff\xe0", "x"), "image/jpeg");
  EXPECT_EQ(sniff_image_type("RIFF1234WEBPVP8 ", "x"), "image/webp");
  EXPECT_EQ(sniff_image_type("??", "image/png"), "image/png");
  const auto a = random_id(), b = random_id();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(match("/hf-files/" + a).kind, Route::Kind::file);
}

// --- the store -------------------------------------------------------------------------------

TEST(HfStore, FilesAndResults) {
  ResultStore s;
  const auto f = s.put_file("PNGDATA", "image/png");
  ASSERT_EQ(f.size(), 32u);
  auto got = s.file(f);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->bytes, "PNGDATA");
  EXPECT_EQ(got->content_type, "image/png");
  const auto r = s.put_result("key-a", R"({"images":[]})");
  EXPECT_EQ(s.result(r, "key-a"), R"({"images":[]})");
  EXPECT_FALSE(s.result(r, "key-b"));  // another key cannot read it
  EXPECT_FALSE(s.file(r));             // a result is not a file
  EXPECT_FALSE(s.result(f, "key-a"));  // nor a file a result
  EXPECT_FALSE(s.file(std::string(32, '0')));
}

TEST(HfStore, BoundedByCountBytesAndAge) {
  ResultStore s({/*max_entries=*/2, /*max_bytes=*/10, std::chrono::seconds(60)});
  const auto t0 = ResultStore::Clock::now();
  s.set_now_for_test(t0);
  const auto a = s.put_file("aaaa", "image/png");
  const auto b = s.put_file("bbbb", "image/png");
  const auto c = s.put_file("cccc", "image/png");  // count limit: a goes
  EXPECT_FALSE(s.file(a));
  EXPECT_TRUE(s.file(b));
  EXPECT_TRUE(s.file(c));
  EXPECT_EQ(s.size(), 2u);
  const auto d = s.put_file("dddddddd", "image/png");  // byte limit: b and c go
  EXPECT_FALSE(s.file(b));
  EXPECT_FALSE(s.file(c));
  EXPECT_TRUE(s.file(d));
  EXPECT_EQ(s.bytes(), 8u);
  EXPECT_EQ(s.put_file(std::string(11, 'x'), "image/png"), "");  // alone too large
  s.set_now_for_test(t0 + std::chrono::seconds(61));
  EXPECT_FALSE(s.file(d));  // expired
  s.put_file("e", "image/png");
  EXPECT_EQ(s.size(), 1u);  // the expired one was evicted
}

TEST(HfStore, ConcurrentUse) {
  ResultStore s({64, 1 << 20, std::chrono::seconds(60)});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&s] {
      for (int i = 0; i < 500; ++i) {
        const auto id = s.put_file(std::string(100, 'x'), "image/png");
        (void)s.file(id);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(s.size(), 64u);
  EXPECT_EQ(s.bytes(), s.size() * 100);
}

}  // namespace
}  // namespace infergate::api::hf
