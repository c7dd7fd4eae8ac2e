// The replicate codec against golden fixtures in the shapes of Replicate's HTTP API reference
// (testdata/README.md names the doc section of each), and the media helpers.
#include "replicate_codec.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "infergate/adapters/http_client.hpp"
#include "infergate/adapters/sse.hpp"
#include "media.hpp"

namespace infergate::adapters::replicate {
namespace {

using json = nlohmann::json;
using Type = api::Event::Type;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(REPLICATE_TESTDATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

ModelRef model(std::string_view id) {
  ModelRef m;
  EXPECT_TRUE(parse_model(id, m)) << id;
  return m;
}

TEST(ReplicateModel, ParsesOwnerNameAndVersion) {
  ModelRef m;
  ASSERT_TRUE(parse_model("black-forest-labs/flux-schnell", m));
  EXPECT_EQ(m.owner, "black-forest-labs");
  EXPECT_EQ(m.name, "flux-schnell");
  EXPECT_EQ(m.version, "");
  EXPECT_EQ(create_path(m), "/models/black-forest-labs/flux-schnell/predictions");
  ASSERT_TRUE(
      parse_model("stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd4", m));
  EXPECT_EQ(m.version, "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd4");
  EXPECT_EQ(create_path(m), "/predictions");
  for (std::string_view bad :
       {"", "flux", "/x", "a/", "a/b:", "a/b/c", "a/b?x=1", "a/b:ver-1", "a b/c", "a/b%2F"}) {
    EXPECT_FALSE(parse_model(bad, m)) << bad;
  }
}

TEST(ReplicateModel, ImageFamilies) {
  EXPECT_EQ(image_family(model("black-forest-labs/flux-schnell")), ImageFamily::flux_schnell);
  EXPECT_EQ(image_family(model("black-forest-labs/flux-dev")), ImageFamily::flux);
  EXPECT_EQ(image_family(model("black-forest-labs/FLUX-1.1-pro")), ImageFamily::flux);
  EXPECT_EQ(image_family(model("stability-ai/sdxl")), ImageFamily::generic);
  EXPECT_EQ(aspect_ratio_for(1024, 1024), "1:1");
  EXPECT_EQ(aspect_ratio_for(1024, 576), "16:9");
  EXPECT_EQ(aspect_ratio_for(768, 1024), "3:4");
  EXPECT_EQ(aspect_ratio_for(1000, 333), "");
  EXPECT_EQ(aspect_ratio_for(0, 10), "");
}

TEST(ReplicateCodec, ImageRequestFlux) {
  api::ImageRequest r;
  r.prompt = "a red fox in the snow";
  r.n = 2;
  r.width = 1024;
  r.height = 576;
  r.seed = 42;
  r.steps = 4;
  r.body = json{{"model", "img"}, {"prompt", r.prompt}, {"size", "1024x576"}, {"user", "u"}};
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(
      encode_image_request(r, model("black-forest-labs/flux-schnell"), true, out, dropped, err))
      << err.message;
  EXPECT_EQ(json::parse(out), json::parse(fixture("request_image_flux.replicate.json")));
  EXPECT_TRUE(dropped.empty());
}

TEST(ReplicateCodec, ImageRequestSdxlPinnedVersion) {
  api::ImageRequest r;
  r.prompt = "an astronaut riding a rainbow unicorn";
  r.width = 768;
  r.height = 512;
  r.seed = 7;
  r.steps = 25;
  r.guidance_scale = 7.5;
  r.negative_prompt = "blurry";
  r.body = json{{"prompt", r.prompt}};
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(encode_image_request(
      r,
      model("stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"),
      true, out, dropped, err));
  EXPECT_EQ(json::parse(out), json::parse(fixture("request_image_sdxl.replicate.json")));
}

TEST(ReplicateCodec, ImageRequestUnsupportedFieldsDroppedOrRejected) {
  api::ImageRequest r;
  r.prompt = "p";
  r.width = 1000;  // not a FLUX aspect ratio
  r.height = 333;
  r.negative_prompt = "no";
  r.guidance_scale = 3.5;
  r.body = json{{"prompt", "p"}, {"quality", "hd"}, {"output_format", "jpeg"}};
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(
      encode_image_request(r, model("black-forest-labs/flux-schnell"), true, out, dropped, err));
  EXPECT_EQ(dropped,
            (std::vector<std::string>{"size", "guidance_scale", "negative_prompt", "quality"}));
  const json in = json::parse(out)["input"];
  EXPECT_FALSE(in.contains("aspect_ratio"));
  EXPECT_FALSE(in.contains("guidance"));
  EXPECT_FALSE(in.contains("negative_prompt"));
  EXPECT_EQ(in["output_format"], "jpg");

  // flux-dev takes guidance.
  out.clear();
  dropped.clear();
  ASSERT_TRUE(
      encode_image_request(r, model("black-forest-labs/flux-dev"), true, out, dropped, err));
  EXPECT_EQ(json::parse(out)["input"]["guidance"], 3.5);

  out.clear();
  dropped.clear();
  EXPECT_FALSE(
      encode_image_request(r, model("black-forest-labs/flux-schnell"), false, out, dropped, err));
  EXPECT_EQ(err.kind, api::ErrorKind::invalid_request);
  EXPECT_EQ(err.param, "size");
  EXPECT_NE(err.message.find("negative_prompt"), std::string::npos) << err.message;
  EXPECT_FALSE(err.retryable);

  r = api::ImageRequest{};
  EXPECT_FALSE(encode_image_request(r, model("a/b"), true, out, dropped, err));
  EXPECT_EQ(err.param, "prompt");
}

TEST(ReplicateCodec, ChatRequestFlattened) {
  api::ChatRequest r;
  r.body = json::parse(fixture("request_chat.openai.json"));
  r.stream = true;
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(
      encode_chat_request(r, model("meta/meta-llama-3-70b-instruct"), true, out, dropped, err))
      << err.message;
  EXPECT_EQ(json::parse(out), json::parse(fixture("request_chat.replicate.json")));
  EXPECT_TRUE(dropped.empty());
  EXPECT_EQ(requested_max_tokens(r), 50);
}

TEST(ReplicateCodec, ChatSingleUserTurnIsThePromptAndLlama2TakesMaxNewTokens) {
  api::ChatRequest r;
  r.body = json{{"messages", json::array({json{{"role", "user"}, {"content", "hi there"}}})},
                {"max_tokens", 9}};
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(encode_chat_request(r, model("meta/llama-2-7b-chat"), true, out, dropped, err));
  const json j = json::parse(out);
  EXPECT_EQ(j["input"]["prompt"], "hi there");
  EXPECT_EQ(j["input"]["max_new_tokens"], 9);
  EXPECT_FALSE(j["input"].contains("max_tokens"));
  EXPECT_FALSE(j.contains("stream"));
  EXPECT_FALSE(j.contains("version"));
}

TEST(ReplicateCodec, ChatUnsupportedDroppedOrRejected) {
  api::ChatRequest r;
  r.body = json{
      {"messages",
       json::array(
           {json{{"role", "user"},
                 {"content", json::array({json{{"type", "text"}, {"text", "what is this"}},
                                          json{{"type", "image_url"},
                                               {"image_url", {{"url", "https://x/y.png"}}}}})}},
            json{{"role", "assistant"},
                 {"content", nullptr},
                 {"tool_calls", json::array({json{{"id", "c1"}}})}},
            json{{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "42"}}})},
      {"tools", json::array({json{{"type", "function"}}})},
      {"logit_bias", json{{"1", 2}}},
      {"n", 2},
      {"stop", "a,b"}};
  std::string out;
  std::vector<std::string> dropped;
  api::Error err;
  ASSERT_TRUE(
      encode_chat_request(r, model("meta/meta-llama-3-8b-instruct"), true, out, dropped, err));
  EXPECT_EQ(dropped, (std::vector<std::string>{"logit_bias", "image_url", "tool_calls", "n", "stop",
                                               "tools"}));
  EXPECT_EQ(json::parse(out)["input"]["prompt"], "what is this");
  dropped.clear();
  out.clear();
  EXPECT_FALSE(
      encode_chat_request(r, model("meta/meta-llama-3-8b-instruct"), false, out, dropped, err));
  EXPECT_EQ(err.kind, api::ErrorKind::invalid_request);
  EXPECT_FALSE(err.retryable);
  EXPECT_NE(err.message.find("tools"), std::string::npos);

  r.body = json{{"messages", json::array({json{{"role", "system"}, {"content", "only"}}})}};
  EXPECT_FALSE(encode_chat_request(r, model("a/b"), true, out, dropped, err));
  EXPECT_EQ(err.param, "messages");
  r.body = json{{"messages", json::array({json{{"role", "user"}, {"content", "x"}}})},
                {"temperature", "hot"}};
  EXPECT_FALSE(encode_chat_request(r, model("a/b"), true, out, dropped, err));
  EXPECT_EQ(err.param, "temperature");
}

TEST(ReplicateCodec, Headers) {
  config::ProviderConfig p;
  p.api_key = "r8_secret_key_123456";
  p.headers = {{"X-Team", "a"}};
  std::vector<std::pair<std::string, std::string>> h;
  auto add = [&h](std::string_view k, std::string_view v) { h.emplace_back(k, v); };
  request_headers(p, 60, "req-1", add);
  EXPECT_EQ(h, (std::vector<std::pair<std::string, std::string>>{
                   {"Authorization", "Bearer r8_secret_key_123456"},
                   {"X-Team", "a"},
                   {"Content-Type", "application/json"},
                   {"Accept", "application/json"},
                   {"Prefer", "wait"},
                   {"x-request-id", "req-1"}}));
  h.clear();
  request_headers(p, 12, "", add);
  EXPECT_EQ(h[4], (std::pair<std::string, std::string>{"Prefer", "wait=12"}));
  h.clear();
  p.headers = {{"authorization", "Token other"}};
  request_headers(p, 0, "", add);
  EXPECT_EQ(h.front(), (std::pair<std::string, std::string>{"authorization", "Token other"}));
  for (const auto& [k, v] : h) EXPECT_NE(k, "Prefer");
}

TEST(ReplicateCodec, ImagePrediction) {
  Prediction p;
  api::Error err;
  ASSERT_TRUE(parse_prediction(fixture("prediction_image_succeeded.json"), p, err));
  EXPECT_EQ(p.id, "q6zxbmfn2drm80cm5s9rts3wbc");
  EXPECT_EQ(p.status, Status::succeeded);
  EXPECT_TRUE(terminal(p.status));
  EXPECT_EQ(p.get_url, "https://api.replicate.com/v1/predictions/q6zxbmfn2drm80cm5s9rts3wbc");
  EXPECT_FALSE(p.usage.reported);
  std::vector<std::string> files;
  ASSERT_TRUE(output_files(p.output, files));
  EXPECT_EQ(files, (std::vector<std::string>{"https://replicate.delivery/xezq/abc123/out-0.png",
                                             "https://replicate.delivery/xezq/abc123/out-1.png"}));
  // A single-file model answers a string.
  ASSERT_TRUE(output_files(json("data:image/png;base64,iVBORw0KGgo="), files));
  EXPECT_EQ(files.size(), 1u);
  EXPECT_FALSE(output_files(json::array(), files));
  EXPECT_FALSE(output_files(json::array({1, 2}), files));
  EXPECT_FALSE(output_files(json(nullptr), files));
  json many = json::array();
  for (int i = 0; i <= kMaxOutputFiles; ++i) many.push_back("https://x/" + std::to_string(i));
  EXPECT_FALSE(output_files(many, files));
}

TEST(ReplicateCodec, TextPredictionEvents) {
  Prediction p;
  api::Error err;
  ASSERT_TRUE(parse_prediction(fixture("prediction_text_succeeded.json"), p, err));
  EXPECT_TRUE(p.usage.reported);
  EXPECT_EQ(p.usage.prompt_tokens, 18);
  EXPECT_EQ(p.usage.completion_tokens, 7);
  std::vector<api::Event> ev;
  chat_events(p, "meta/meta-llama-3-8b-instruct", 1700000000, -1, ev);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].type, Type::start);
  EXPECT_EQ(ev[0].text, "gm3qorzdhgbfurvjtvhg6dckhu");
  EXPECT_EQ(ev[0].created, 1700000000);
  EXPECT_EQ(ev[1].type, Type::text);
  EXPECT_EQ(ev[1].text, "Hello! How can I help?");
  EXPECT_EQ(ev[2].type, Type::finish);
  EXPECT_EQ(ev[2].finish, api::FinishReason::stop);
  EXPECT_EQ(ev[3].type, Type::usage);
  EXPECT_EQ(ev[3].usage.completion_tokens, 7);
  // Exactly max_tokens tokens: cut by the limit.
  ev.clear();
  chat_events(p, "m", 0, 7, ev);
  EXPECT_EQ(ev[2].finish, api::FinishReason::length);
}

TEST(ReplicateCodec, StartingAndFailedPredictions) {
  Prediction p;
  api::Error err;
  ASSERT_TRUE(parse_prediction(fixture("prediction_starting.json"), p, err));
  EXPECT_EQ(p.status, Status::starting);
  EXPECT_FALSE(terminal(p.status));
  EXPECT_EQ(p.stream_url,
            "https://streaming.api.replicate.com/v1/predictions/fuwwvjtbdmroc4xifxdcwqtdfq");
  EXPECT_TRUE(p.output.is_null());

  ASSERT_TRUE(parse_prediction(fixture("prediction_failed.json"), p, err));
  EXPECT_EQ(p.status, Status::failed);
  const api::Error e = prediction_error(p, "r8_key_not_in_message");
  EXPECT_EQ(e.kind, api::ErrorKind::upstream);
  EXPECT_EQ(e.status, 502);
  EXPECT_TRUE(e.retryable);
  EXPECT_NE(e.message.find("NSFW content detected"), std::string::npos);

  // The secret never comes back, even if the upstream quotes it.
  p.error = "bad token r8_SECRETSECRET in header";
  EXPECT_EQ(prediction_error(p, "r8_SECRETSECRET").message.find("r8_SECRETSECRET"),
            std::string::npos);

  for (std::string_view bad : {"", "[]", "{}", R"({"id":"x","status":"weird"})", "nope"}) {
    EXPECT_FALSE(parse_prediction(bad, p, err)) << bad;
    EXPECT_EQ(err.kind, api::ErrorKind::upstream);
    EXPECT_TRUE(err.retryable);
  }
}

TEST(ReplicateCodec, OutputText) {
  std::string t;
  EXPECT_TRUE(output_text(json::array({"a", " b"}), t));
  EXPECT_EQ(t, "a b");
  EXPECT_TRUE(output_text(json("whole"), t));
  EXPECT_EQ(t, "whole");
  EXPECT_TRUE(output_text(json(nullptr), t));
  EXPECT_EQ(t, "");
  EXPECT_FALSE(output_text(json::array({"a", 1}), t));
  EXPECT_FALSE(output_text(json{{"k", "v"}}, t));
}

std::vector<api::Event> decode_stream(const std::string& bytes, StreamDecoder::Status& last) {
  StreamDecoder dec("meta/llama", "pid", 5, "r8_secret_key");
  SseParser parser;
  SseEvent ev;
  std::vector<api::Event> out;
  last = StreamDecoder::Status::ok;
  // One byte at a time: the decoder must not care how the stream is cut.
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    parser.feed(std::string_view(bytes).substr(i, 1));
    while (parser.next(ev)) last = dec.decode(ev.type, ev.data, out);
  }
  return out;
}

TEST(ReplicateCodec, StreamText) {
  StreamDecoder::Status last;
  auto ev = decode_stream(fixture("stream_text.sse"), last);
  EXPECT_EQ(last, StreamDecoder::Status::done);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].type, Type::start);
  EXPECT_EQ(ev[0].text, "pid");
  std::string text;
  for (const auto& e : ev)
    if (e.type == Type::text) text += e.text;
  EXPECT_EQ(text, "Once upon a time...\nThe end");
  EXPECT_EQ(ev.back().type, Type::finish);
  EXPECT_EQ(ev.back().finish, api::FinishReason::stop);
}

TEST(ReplicateCodec, StreamError) {
  StreamDecoder::Status last;
  auto ev = decode_stream(fixture("stream_error.sse"), last);
  // Decoding stops mattering at the error; the adapter stops at the first error event.
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev[1].text, "Partial");
  EXPECT_EQ(ev[2].type, Type::error);
  EXPECT_NE(ev[2].error.message.find("CUDA out of memory"), std::string::npos);
  EXPECT_EQ(ev[2].error.status, 502);

  StreamDecoder dec("m", "id", 0, "");
  std::vector<api::Event> out;
  EXPECT_EQ(dec.decode("done", R"({"reason":"canceled"})", out), StreamDecoder::Status::error);
  EXPECT_NE(out.back().error.message.find("canceled"), std::string::npos);
  EXPECT_EQ(dec.decode("ping", "", out), StreamDecoder::Status::ok);
}

TEST(ReplicateCodec, HttpErrors) {
  api::Error e = map_http_error(422, fixture("error_422.json"), "", "k");
  EXPECT_EQ(e.kind, api::ErrorKind::invalid_request);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.message,
            "Input validation failed: - input.num_outputs: Must be less than or equal to 4");
  EXPECT_FALSE(e.retryable);

  e = map_http_error(429, fixture("error_429.json"), "7", "k");
  EXPECT_EQ(e.kind, api::ErrorKind::rate_limited);
  EXPECT_EQ(e.retry_after_s, 7);
  EXPECT_TRUE(e.retryable);

  e = map_http_error(401, fixture("error_401.json"), "", "k");
  EXPECT_EQ(e.status, 502);
  EXPECT_EQ(e.code, "upstream_auth_failed");
  EXPECT_EQ(e.message.find("authentication token"), std::string::npos);

  e = map_http_error(
      404,
      R"({"title":"Not found","detail":"The requested resource could not be found.","status":404})",
      "", "k");
  EXPECT_EQ(e.kind, api::ErrorKind::not_found);
  EXPECT_NE(e.message.find("could not be found"), std::string::npos);

  e = map_http_error(503, "<html>", "", "k");
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.status, 502);
}

// --- media ---------------------------------------------------------------------------------

TEST(Media, Base64) {
  std::string out;
  ASSERT_TRUE(media::decode_base64("aGVsbG8gd29ybGQ=", out));
  EXPECT_EQ(out, "hello world");
  ASSERT_TRUE(media::decode_base64("aGVsbG8gd29ybGQ", out));  // padding optional
  EXPECT_EQ(out, "hello world");
  ASSERT_TRUE(media::decode_base64("aGVs\nbG8=", out));
  EXPECT_EQ(out, "hello");
  ASSERT_TRUE(media::decode_base64("-_8", out));  // URL-safe alphabet
  EXPECT_EQ(out, "\xfb\xff");
  EXPECT_FALSE(media::decode_base64("aGVsbG8*", out));
  EXPECT_FALSE(media::decode_base64("a", out));
  EXPECT_FALSE(media::decode_base64("aG=Vs", out));
  EXPECT_FALSE(media::decode_base64("aGVsbG8gd29ybGQ=", out, 4));  // over the limit
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    ASSERT_TRUE(media::decode_base64(media::encode_base64(s), out));
    EXPECT_EQ(out, s);
  }
  EXPECT_EQ(media::encode_base64("ab"), "YWI=");
}

TEST(Media, DataUris) {
  std::string type, bytes;
  ASSERT_TRUE(media::parse_data_uri("data:image/PNG;base64,aGk=", type, bytes));
  EXPECT_EQ(type, "image/png");
  EXPECT_EQ(bytes, "hi");
  ASSERT_TRUE(media::parse_data_uri("data:,a%20b", type, bytes));
  EXPECT_EQ(type, "text/plain");
  EXPECT_EQ(bytes, "a b");
  EXPECT_FALSE(media::parse_data_uri("data:image/png;base64", type, bytes));
  EXPECT_FALSE(media::parse_data_uri("https://x/y.png", type, bytes));
  EXPECT_FALSE(media::parse_data_uri("data:,%zz", type, bytes));
  EXPECT_FALSE(media::parse_data_uri("data:image/png;base64,aGVsbG8=", type, bytes, 3));
}

TEST(Media, Sniff) {
  EXPECT_EQ(media::sniff_image_type(std::string("\x89PNG\r\n\x1a\n....", 12)), "image/png");
  EXPECT_EQ(media::sniff_image_type("\xFF\xD8\xFF\xE0"), "image/jpeg");
  EXPECT_EQ(media::sniff_image_type("RIFF\x01\x02\x03\x04WEBPVP8 "), "image/webp");
  EXPECT_EQ(media::sniff_image_type("GIF89a..."), "image/gif");
  EXPECT_EQ(media::sniff_image_type("hello"), "");
}

TEST(Media, CredentialsOnlyWhereTheApiLives) {
  auto ep = [](std::string_view url) {
    Endpoint e;
    EXPECT_TRUE(parse_url(url, e)) << url;
    return e;
  };
  const Endpoint api = ep("https://api.replicate.com/v1");
  EXPECT_TRUE(media::credentials_allowed(ep("https://api.replicate.com/v1/predictions/x"), api));
  EXPECT_TRUE(media::credentials_allowed(ep("https://stream.replicate.com/v1/files/x"), api));
  EXPECT_TRUE(media::credentials_allowed(ep("https://streaming.api.replicate.com/v1/p/x"), api));
  EXPECT_FALSE(media::credentials_allowed(ep("https://replicate.delivery/x/out.png"), api));
  EXPECT_FALSE(media::credentials_allowed(ep("http://api.replicate.com/v1"), api));  // downgrade
  EXPECT_FALSE(media::credentials_allowed(ep("https://evilreplicate.com/x"), api));
  EXPECT_FALSE(media::credentials_allowed(ep("https://api.replicate.com:8443/x"), api));
  const Endpoint fal = ep("https://fal.run");
  EXPECT_FALSE(media::credentials_allowed(ep("https://v3.fal.media/files/x.png"), fal));
  EXPECT_FALSE(media::credentials_allowed(ep("https://other.run/x"), fal));
  const Endpoint queue = ep("https://queue.fal.run");
  EXPECT_TRUE(media::credentials_allowed(ep("https://queue.fal.run/fal-ai/x/requests/1"), queue));
  EXPECT_FALSE(media::credentials_allowed(ep("https://fal.media/x"), queue));
  const Endpoint local = ep("http://127.0.0.1:8080/v1");
  EXPECT_TRUE(media::credentials_allowed(ep("http://127.0.0.1:8080/files/1"), local));
  EXPECT_FALSE(media::credentials_allowed(ep("http://127.0.0.1:9090/files/1"), local));
  EXPECT_FALSE(media::credentials_allowed(ep("http://0.0.1:8080/files/1"), local));
}

}  // namespace
}  // namespace infergate::adapters::replicate
