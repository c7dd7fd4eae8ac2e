// The fal codec against golden fixtures in the shapes of fal's documentation (testdata/README.md
// names the doc section of each).
#include "fal_codec.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace infergate::adapters::fal {
namespace {

using json = nlohmann::json;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(FAL_TESTDATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(FalCodec, ModelIdsAndQueueMode) {
  EXPECT_TRUE(valid_model_id("fal-ai/flux/schnell"));
  EXPECT_TRUE(valid_model_id("fal-ai/fast-sdxl"));
  EXPECT_TRUE(valid_model_id("my-org/my_app.v2/sub"));
  for (std::string_view bad : {"", "flux", "fal-ai/", "/fal-ai/x", "fal-ai//x", "fal-ai/../x",
                               "fal-ai/x?y=1", "fal-ai/x y", "fal-ai/x#f", "a/b/c/d/e/f/g/h/i"})
    EXPECT_FALSE(valid_model_id(bad)) << bad;
  EXPECT_TRUE(queue_mode("queue.fal.run", ""));
  EXPECT_TRUE(queue_mode("QUEUE.fal.run", ""));
  EXPECT_FALSE(queue_mode("fal.run", ""));
  EXPECT_FALSE(queue_mode("queue", ""));
  EXPECT_TRUE(queue_mode("127.0.0.1", "/queue"));
  EXPECT_TRUE(queue_mode("proxy.corp", "/fal/queue/"));
  EXPECT_FALSE(queue_mode("proxy.corp", "/fal/queues"));
}

TEST(FalCodec, ImageSizes) {
  EXPECT_EQ(image_size_for(1024, 1024), "square_hd");
  EXPECT_EQ(image_size_for(512, 512), "square");
  EXPECT_EQ(image_size_for(768, 1024), "portrait_4_3");
  EXPECT_EQ(image_size_for(576, 1024), "portrait_16_9");
  EXPECT_EQ(image_size_for(1024, 768), "landscape_4_3");
  EXPECT_EQ(image_size_for(1024, 576), "landscape_16_9");
  EXPECT_EQ(image_size_for(640, 480), (json{{"width", 640}, {"height", 480}}));
}

TEST(FalCodec, FluxSchnellRequest) {
  api::ImageRequest r;
  r.prompt = "a futuristic cityscape at sunset";
  r.n = 2;
  r.width = 1024;
  r.height = 576;
  r.seed = 271828;
  r.steps = 4;
  r.body = json{{"prompt", r.prompt}, {"output_format", "png"}, {"user", "u"}};
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(encode_image_request(r, "fal-ai/flux/schnell", true, true, out, dropped, err))
      << err.message;
  EXPECT_EQ(json::parse(out), json::parse(fixture("request_flux_schnell.fal.json")));
  EXPECT_TRUE(dropped.empty());
}

TEST(FalCodec, FastSdxlRequest) {
  api::ImageRequest r;
  r.prompt = "an isometric castle";
  r.width = 640;
  r.height = 480;
  r.guidance_scale = 7.5;
  r.negative_prompt = "text, watermark";
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(encode_image_request(r, "fal-ai/fast-sdxl", false, true, out, dropped, err));
  EXPECT_EQ(json::parse(out), json::parse(fixture("request_fast_sdxl.fal.json")));
}

TEST(FalCodec, UnsupportedDroppedOrRejected) {
  api::ImageRequest r;
  r.prompt = "p";
  r.guidance_scale = 3;
  r.negative_prompt = "n";
  r.body = json{{"style", "vivid"}, {"output_format", "webp"}};
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(encode_image_request(r, "fal-ai/flux/schnell", true, true, out, dropped, err));
  EXPECT_EQ(dropped, (std::vector<std::string>{"guidance_scale", "negative_prompt", "output_format",
                                               "style"}));
  const json in = json::parse(out);
  EXPECT_FALSE(in.contains("guidance_scale"));
  EXPECT_FALSE(in.contains("negative_prompt"));
  EXPECT_FALSE(in.contains("image_size"));
  out.clear();
  dropped.clear();
  EXPECT_FALSE(encode_image_request(r, "fal-ai/flux/schnell", true, false, out, dropped, err));
  EXPECT_EQ(err.kind, api::ErrorKind::invalid_request);
  EXPECT_EQ(err.param, "guidance_scale");
  EXPECT_FALSE(err.retryable);
  // flux/dev takes guidance.
  r.negative_prompt.clear();
  r.body = json::object();
  out.clear();
  ASSERT_TRUE(encode_image_request(r, "fal-ai/flux/dev", true, false, out, dropped, err));
  EXPECT_EQ(json::parse(out)["guidance_scale"], 3);
  r.body = json{{"output_format", "gif"}};
  EXPECT_FALSE(encode_image_request(r, "fal-ai/flux/dev", true, true, out, dropped, err));
  EXPECT_EQ(err.param, "output_format");
}

TEST(FalCodec, Headers) {
  config::ProviderConfig p;
  p.api_key = "fal-key-id:fal-key-secret";
  std::vector<std::pair<std::string, std::string>> h;
  request_headers(p, "rid", [&h](std::string_view k, std::string_view v) { h.emplace_back(k, v); });
  EXPECT_EQ(h, (std::vector<std::pair<std::string, std::string>>{
                   {"Authorization", "Key fal-key-id:fal-key-secret"},
                   {"Content-Type", "application/json"},
                   {"Accept", "application/json"},
                   {"x-request-id", "rid"}}));
}

TEST(FalCodec, Results) {
  Result r;
  api::Error err;
  ASSERT_TRUE(parse_result(fixture("result_flux_schnell.json"), r, err));
  ASSERT_EQ(r.images.size(), 2u);
  EXPECT_EQ(r.images[0].url, "https://v3.fal.media/files/lion/Yq8ZK1f3mWj4T2cQ9xGkP.png");
  EXPECT_EQ(r.images[0].width, 1024);
  EXPECT_EQ(r.images[0].height, 576);
  EXPECT_EQ(r.images[0].content_type, "image/png");
  EXPECT_EQ(r.nsfw, (std::vector<bool>{false, false}));
  EXPECT_TRUE(r.has_seed);
  EXPECT_EQ(r.seed, 271828);
  ASSERT_TRUE(parse_result(fixture("result_sync_mode.json"), r, err));
  EXPECT_EQ(r.images[0].url.rfind("data:image/png;base64,", 0), 0u);
  for (std::string_view bad :
       {"", "{}", R"({"images":[]})", R"({"images":[{"width":1}]})", R"({"images":"x"})"}) {
    EXPECT_FALSE(parse_result(bad, r, err)) << bad;
    EXPECT_EQ(err.status, 502);
    EXPECT_TRUE(err.retryable);
  }
}

TEST(FalCodec, Queue) {
  QueueSubmit s;
  api::Error err;
  ASSERT_TRUE(parse_submit(fixture("queue_submit.json"), s, err));
  EXPECT_EQ(s.request_id, "80e732af-660e-45cd-bd63-580e4f2a94cc");
  EXPECT_EQ(
      s.status_url,
      "https://queue.fal.run/fal-ai/flux/requests/80e732af-660e-45cd-bd63-580e4f2a94cc/status");
  EXPECT_EQ(s.response_url,
            "https://queue.fal.run/fal-ai/flux/requests/80e732af-660e-45cd-bd63-580e4f2a94cc");
  EXPECT_FALSE(parse_submit(R"({"request_id":"x"})", s, err));
  QueueState st;
  ASSERT_TRUE(parse_status(fixture("queue_status_in_queue.json"), st, err));
  EXPECT_EQ(st.status, QueueStatus::in_queue);
  ASSERT_TRUE(parse_status(R"({"status":"IN_PROGRESS","logs":[]})", st, err));
  EXPECT_EQ(st.status, QueueStatus::in_progress);
  ASSERT_TRUE(parse_status(fixture("queue_status_completed.json"), st, err));
  EXPECT_EQ(st.status, QueueStatus::completed);
  EXPECT_FALSE(parse_status(R"({"status":"DONE"})", st, err));
}

TEST(FalCodec, Errors) {
  api::Error e = map_http_error(422, fixture("error_422_validation.json"), "", "k");
  EXPECT_EQ(e.kind, api::ErrorKind::invalid_request);
  EXPECT_EQ(e.message, "body.num_images: ensure this value is less than or equal to 4");
  EXPECT_FALSE(e.retryable);
  e = map_http_error(504, fixture("error_request_timeout.json"), "", "k");
  EXPECT_EQ(e.status, 502);
  EXPECT_TRUE(e.retryable);
  e = map_http_error(429, R"({"detail":"Too many requests"})", "3", "k");
  EXPECT_EQ(e.kind, api::ErrorKind::rate_limited);
  EXPECT_EQ(e.retry_after_s, 3);
  e = map_http_error(401, R"({"detail":"Invalid key fal-secret-123"})", "", "fal-secret-123");
  EXPECT_EQ(e.code, "upstream_auth_failed");
  EXPECT_EQ(e.message.find("fal-secret-123"), std::string::npos);
  e = map_http_error(400, R"({"detail":"bad fal-secret-123 here"})", "", "fal-secret-123");
  EXPECT_EQ(e.message.find("fal-secret-123"), std::string::npos);
  EXPECT_NE(e.message.find("[redacted]"), std::string::npos);
}

}  // namespace
}  // namespace infergate::adapters::fal
