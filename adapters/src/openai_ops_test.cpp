// The OpenAI adapter's non-chat operations: legacy completions (/completions), embeddings
// (/embeddings) and images (/images/generations), codec golden tests and the upstream calls.
#include <bit>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "infergate/adapters/openai_adapter.hpp"
#include "infergate/adapters/openai_codec.hpp"
#include "test_upstream.hpp"

namespace infergate::adapters {
namespace {

using namespace testing;
using Clock = std::chrono::steady_clock;
using Type = api::Event::Type;
using json = nlohmann::json;

constexpr const char* kKey = "sk-ops-SECRET-0123456789";

// A valid 1x1 PNG (8-bit greyscale), 67 bytes.
const std::string kPng = std::string(
    "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00"
    "\x3a\x7e\x9b\x55\x00\x00\x00\x0aIDAT\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01\x48\xaf\xa4"
    "\x71\x00\x00\x00\x00IEND\xae\x42\x60\x82",
    67);

std::string b64(std::string_view bytes) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    for (int s : {18, 12, 6, 0}) out += k[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t v = std::uint32_t{p[i]} << 16;
    if (i + 1 < bytes.size()) v |= std::uint32_t{p[i + 1]} << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string floats_b64(const std::vector<float>& v) {
  std::string raw;
  for (float f : v) {
    const auto bits = std::bit_cast<std::uint32_t>(f);
    for (int b = 0; b < 4; ++b) raw += static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return b64(raw);
}

// --- codec ----------------------------------------------------------------------------------

// OpenAI API reference "Completions > The completion object".
constexpr const char* kTextCompletion = R"({
  "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", "object": "text_completion", "created": 1589478378,
  "model": "gpt-3.5-turbo-instruct",
  "system_fingerprint": "fp_44709d6fcb",
  "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": null,
               "finish_reason": "length"}],
  "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})";

TEST(OpenAiOpsCodec, DecodesTextCompletionObject) {
  std::vector<api::Event> ev;
  api::Error err;
  ASSERT_TRUE(openai::decode_completion(kTextCompletion, ev, err)) << err.message;
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].type, Type::start);
  EXPECT_EQ(ev[0].text, "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7");
  EXPECT_EQ(ev[1].type, Type::text);
  EXPECT_EQ(ev[1].text, "\n\nThis is indeed a test");
  EXPECT_EQ(ev[2].type, Type::finish);
  EXPECT_EQ(ev[2].finish, api::FinishReason::length);
  EXPECT_EQ(ev[3].type, Type::usage);
  EXPECT_EQ(ev[3].usage.completion_tokens, 7);
}

// OpenAI API reference "Completions > Create completion" (streaming example): each chunk is a
// text_completion object whose choices[].text is the new text.
TEST(OpenAiOpsCodec, DecodesTextCompletionChunks) {
  openai::ChunkDecoder d;
  std::vector<api::Event> ev;
  const char* chunks[] = {
      R"({"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,"choices":[{"text":"This","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct","system_fingerprint":"fp_44709d6fcb"})",
      R"({"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}],"model":"gpt-3.5-turbo-instruct"})",
      R"({"id":"cmpl-7iA7iJjj8V2zOkCGvWF2hAkDWBQZe","object":"text_completion","created":1690759702,"choices":[],"model":"gpt-3.5-turbo-instruct","usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}})"};
  for (const char* c : chunks) EXPECT_EQ(d.decode(c, ev), openai::ChunkDecoder::Status::ok);
  EXPECT_EQ(d.decode("[DONE]", ev), openai::ChunkDecoder::Status::done);
  std::vector<Type> types;
  for (const auto& e : ev) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<Type>{Type::start, Type::text, Type::finish, Type::usage}));
  EXPECT_EQ(ev[1].text, "This");
  EXPECT_EQ(ev[3].usage.prompt_tokens, 4);
}

TEST(OpenAiOpsCodec, EncodesEmbeddingsAskingForFloat) {
  api::EmbeddingsRequest r;
  r.body = json::parse(
      R"({"model":"public","input":["a","b"],"encoding_format":"base64","dimensions":8,"user":"u"})");
  std::string out;
  openai::encode_embeddings_body(r, "text-embedding-3-small", out);
  const json j = json::parse(out);
  EXPECT_EQ(j["model"], "text-embedding-3-small");
  EXPECT_EQ(j["encoding_format"], "float");
  EXPECT_EQ(j["dimensions"], 8);
  EXPECT_EQ(j["input"], json::parse(R"(["a","b"])"));
  EXPECT_EQ(j["user"], "u");
}

// OpenAI API reference "Embeddings > Create embeddings" (response example).
TEST(OpenAiOpsCodec, DecodesEmbeddingsFloatAndBase64InIndexOrder) {
  const std::string body = R"({"object":"list","data":[
      {"object":"embedding","embedding":")" +
                           floats_b64({1.5f, -2.0f}) + R"(","index":1},
      {"object":"embedding","embedding":[0.0023064255,-0.009327292,0.015797347],"index":0}],
      "model":"text-embedding-ada-002","usage":{"prompt_tokens":8,"total_tokens":8}})";
  api::EmbeddingsResponse r;
  api::Error err;
  ASSERT_TRUE(openai::decode_embeddings(body, 2, r, err)) << err.message;
  ASSERT_EQ(r.data.size(), 2u);
  EXPECT_EQ(r.data[0], (std::vector<float>{0.0023064255f, -0.009327292f, 0.015797347f}));
  EXPECT_EQ(r.data[1], (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(r.model, "text-embedding-ada-002");
  EXPECT_EQ(r.usage.prompt_tokens, 8);
}

TEST(OpenAiOpsCodec, RejectsMalformedEmbeddings) {
  const char* bad[] = {
      "not json",
      R"({"object":"list"})",
      R"({"data":[{"embedding":[1],"index":0}]})",  // 1 vector for 2 inputs
      R"({"data":[{"embedding":[1],"index":0},{"embedding":[2],"index":0}]})",  // duplicate
      R"({"data":[{"embedding":[1],"index":0},{"embedding":[2],"index":7}]})",  // out of range
      R"({"data":[{"embedding":[1],"index":0},{"embedding":["x"],"index":1}]})",
      R"({"data":[{"embedding":[1],"index":0},{"embedding":"AAA","index":1}]})",  // not float32
      R"({"data":[{"embedding":[1],"index":0},{"index":1}]})",
  };
  for (const char* b : bad) {
    api::EmbeddingsResponse r;
    api::Error err;
    EXPECT_FALSE(openai::decode_embeddings(b, 2, r, err)) << b;
    EXPECT_EQ(err.status, 502) << b;
    EXPECT_TRUE(err.retryable) << b;
  }
  api::EmbeddingsResponse r;
  api::Error err;
  EXPECT_FALSE(openai::decode_embeddings(
      R"({"error":{"message":"bad key sk-ops-SECRET-0123456789","type":"invalid_request_error"}})",
      1, r, err, kKey));
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.message.find(kKey), std::string::npos);
}

// OpenAI API reference "Images > The image generation response" (b64_json and url shapes;
// gpt-image-1's usage object).
TEST(OpenAiOpsCodec, DecodesImages) {
  const std::string body = R"({"created":1713833628,"data":[{"b64_json":")" + b64(kPng) +
                           R"(","revised_prompt":"an otter"},{"url":"https://cdn.example/a.png"}],
      "usage":{"total_tokens":100,"input_tokens":50,"output_tokens":50,
               "input_tokens_details":{"text_tokens":10,"image_tokens":40}}})";
  api::ImageResponse r;
  api::Error err;
  ASSERT_TRUE(openai::decode_images(body, 2, r, err)) << err.message;
  EXPECT_EQ(r.created, 1713833628);
  ASSERT_EQ(r.images.size(), 2u);
  EXPECT_EQ(r.images[0].bytes, kPng);
  EXPECT_EQ(r.images[0].content_type, "image/png");
  EXPECT_EQ(r.images[0].revised_prompt, "an otter");
  EXPECT_EQ(r.images[1].url, "https://cdn.example/a.png");
  EXPECT_TRUE(r.images[1].bytes.empty());
  EXPECT_TRUE(r.usage.reported);
  EXPECT_EQ(r.usage.prompt_tokens, 50);
  EXPECT_EQ(r.usage.completion_tokens, 50);

  for (const char* b : {R"({"data":[]})", R"({"data":[{}]})", R"({"data":[{"b64_json":"@@@"}]})",
                        R"({"data":[{"url":"u"},{"url":"u"},{"url":"u"}]})", "[]"}) {
    api::ImageResponse bad;
    EXPECT_FALSE(openai::decode_images(b, 2, bad, err)) << b;
    EXPECT_EQ(err.status, 502) << b;
  }
}

TEST(OpenAiOpsCodec, Base64DecodingAndSniffing) {
  std::string out;
  EXPECT_TRUE(openai::decode_base64("Zm9vYmFy", out, 100));
  EXPECT_EQ(out, "foobar");
  EXPECT_TRUE(openai::decode_base64("Zm9vYg==", out, 100));
  EXPECT_EQ(out, "foob");
  EXPECT_TRUE(openai::decode_base64("Zm9vYg", out, 100));  // unpadded
  EXPECT_EQ(out, "foob");
  EXPECT_TRUE(openai::decode_base64("_-8", out, 100));  // URL-safe alphabet
  EXPECT_EQ(out, "\xff\xef");
  EXPECT_FALSE(openai::decode_base64("Zm9v YmFy", out, 100));
  EXPECT_FALSE(openai::decode_base64("Z", out, 100));
  EXPECT_FALSE(openai::decode_base64("Zm9vYmFy", out, 5));  // over the limit
  EXPECT_EQ(openai::sniff_image_type(kPng), "image/png");
  EXPECT_EQ(openai::sniff_image_type("\xff\xd8\xff\xe0"), "image/jpeg");
  EXPECT_EQ(openai::sniff_image_type(std::string_view("RIFF\x10\x00\x00\x00WEBPVP8 ", 16)),
            "image/webp");
  EXPECT_EQ(openai::sniff_image_type("??", "image/x"), "image/x");
}

// --- adapter against a scripted upstream -----------------------------------------------------

class NullSink : public api::EventSink {
 public:
  std::vector<api::Event> events;
  asio::awaitable<bool> on_event(api::Event ev) override {
    events.push_back(std::move(ev));
    co_return true;
  }
  bool committed() const override { return false; }
};

config::ProviderConfig provider_for(const TestUpstream& up) {
  config::ProviderConfig p;
  p.name = "test";
  p.type = "openai";
  p.base_url = up.url("/v1");
  p.api_key = kKey;
  p.connect_timeout = 2s;
  p.first_byte_timeout = 5s;
  p.idle_timeout = 5s;
  p.total_timeout = 15s;
  return p;
}

template <class Fn>
AttemptResult run_op(const config::ProviderConfig& provider, Fn fn) {
  OpenAiAdapter adapter(provider);
  AttemptResult result;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    CallContext ctx;
    ctx.http = &client;
    ctx.request_id = "req-ops";
    ctx.deadline = Clock::now() + 20s;
    Target target{&provider, "upstream-model"};
    result = co_await fn(adapter, target, ctx);
  });
  return result;
}

TEST(OpenAiOpsAdapter, TextCompletionPostsToCompletions) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(200, kTextCompletion));
  });
  const auto provider = provider_for(up);
  api::ChatRequest req;
  req.kind = api::ChatRequest::Kind::text_completion;
  req.model = "public";
  req.body = json::parse(R"({"model":"public","prompt":"Say this is a test","max_tokens":7})");
  NullSink sink;
  const auto r = run_op(provider, [&](OpenAiAdapter& a, const Target& t, CallContext& ctx) {
    return a.chat(req, t, ctx, sink);
  });
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.usage.prompt_tokens, 5);
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/completions");
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["model"], "upstream-model");
  EXPECT_EQ(body["prompt"], "Say this is a test");
  ASSERT_EQ(sink.events.size(), 4u);
  EXPECT_EQ(sink.events[1].text, "\n\nThis is indeed a test");
}

TEST(OpenAiOpsAdapter, EmbedPostsFloatRequestAndDecodes) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        200,
        R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,0.5]}],"model":"upstream-model","usage":{"prompt_tokens":3,"total_tokens":3}})"));
  });
  const auto provider = provider_for(up);
  api::EmbeddingsRequest req;
  req.model = "public";
  req.inputs = {"hello there world"};
  req.body =
      json::parse(R"({"model":"public","input":"hello there world","encoding_format":"base64"})");
  api::EmbeddingsResponse out;
  const auto r = run_op(provider, [&](OpenAiAdapter& a, const Target& t, CallContext& ctx) {
    return a.embed(req, t, ctx, out);
  });
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.usage.prompt_tokens, 3);
  ASSERT_EQ(out.data.size(), 1u);
  EXPECT_EQ(out.data[0], (std::vector<float>{0.25f, 0.5f}));
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/embeddings");
  EXPECT_EQ(reqs[0].header("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(reqs[0].header("x-request-id"), "req-ops");
  const json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["model"], "upstream-model");
  EXPECT_EQ(body["encoding_format"], "float");
}

TEST(OpenAiOpsAdapter, EmbedMapsUpstreamErrorsWithoutTheKey) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(response(
        429,
        R"({"error":{"message":"Rate limit for sk-ops-SECRET-0123456789","type":"requests","code":"rate_limit_exceeded"}})",
        "Retry-After: 9\r\n"));
  });
  const auto provider = provider_for(up);
  api::EmbeddingsRequest req;
  req.inputs = {"x"};
  req.body = json::parse(R"({"model":"public","input":"x"})");
  api::EmbeddingsResponse out;
  const auto r = run_op(provider, [&](OpenAiAdapter& a, const Target& t, CallContext& ctx) {
    return a.embed(req, t, ctx, out);
  });
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.status, 429);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.retry_after_s, 9);
  EXPECT_EQ(r.error.message.find(kKey), std::string::npos);
  EXPECT_EQ(r.upstream_status, 429);
}

TEST(OpenAiOpsAdapter, GenerateImageB64AndUrlFetchedWhenBytesWanted) {
  // The upstream answers with a URL it serves itself; a b64_json client gets the bytes.
  TestUpstream* self = nullptr;
  TestUpstream up([&self](Peer& p, const Request& r) -> asio::awaitable<bool> {
    if (r.method == "GET" && r.target == "/files/img.png") {
      co_return co_await p.write(response(200, kPng, "", "image/png"));
    }
    const std::string body = R"({"created":1700000001,"data":[{"url":")" +
                             self->url("/files/img.png") + R"(","revised_prompt":"rp"}]})";
    co_return co_await p.write(response(200, body));
  });
  self = &up;
  const auto provider = provider_for(up);
  api::ImageRequest req;
  req.model = "public";
  req.prompt = "otter";
  req.body = json::parse(R"({"model":"public","prompt":"otter","response_format":"url"})");
  for (bool want_url : {true, false}) {
    req.want_url = want_url;
    api::ImageResponse out;
    const auto r = run_op(provider, [&](OpenAiAdapter& a, const Target& t, CallContext& ctx) {
      return a.generate_image(req, t, ctx, out);
    });
    ASSERT_TRUE(r.ok) << r.error.message;
    ASSERT_EQ(out.images.size(), 1u);
    EXPECT_EQ(out.created, 1700000001);
    EXPECT_EQ(out.images[0].revised_prompt, "rp");
    EXPECT_EQ(out.images[0].url, up.url("/files/img.png"));
    if (want_url) {
      EXPECT_TRUE(out.images[0].bytes.empty());
    } else {
      EXPECT_EQ(out.images[0].bytes, kPng);
      EXPECT_EQ(out.images[0].content_type, "image/png");
    }
  }
  const auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].target, "/v1/images/generations");
  EXPECT_EQ(json::parse(reqs[0].body)["model"], "upstream-model");
  EXPECT_EQ(reqs[2].method, "GET");
  EXPECT_TRUE(reqs[2].header("authorization").empty()) << "no credentials to the image host";
}

TEST(OpenAiOpsAdapter, GenerateImageDecodesB64Json) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_return co_await p.write(
        response(200, R"({"created":5,"data":[{"b64_json":")" + b64(kPng) + R"("}]})"));
  });
  const auto provider = provider_for(up);
  api::ImageRequest req;
  req.body = json::parse(R"({"model":"public","prompt":"otter"})");
  api::ImageResponse out;
  const auto r = run_op(provider, [&](OpenAiAdapter& a, const Target& t, CallContext& ctx) {
    return a.generate_image(req, t, ctx, out);
  });
  ASSERT_TRUE(r.ok) << r.error.message;
  ASSERT_EQ(out.images.size(), 1u);
  EXPECT_EQ(out.images[0].bytes, kPng);
}

TEST(OpenAiOpsAdapter, ConnectRefusedIsRetryable) {
  config::ProviderConfig p;
  p.name = "dead";
  p.type = "openai";
  {
    TestUpstream gone([](Peer&, const Request&) -> asio::awaitable<bool> { co_return false; });
    p.base_url = gone.url("/v1");
  }
  p.connect_timeout = 1s;
  api::EmbeddingsRequest req;
  req.inputs = {"x"};
  req.body = json::parse(R"({"model":"public","input":"x"})");
  api::EmbeddingsResponse out;
  const auto r = run_op(p, [&](OpenAiAdapter& a, const Target& t, CallContext& ctx) {
    return a.embed(req, t, ctx, out);
  });
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.retryable);
  EXPECT_EQ(r.error.status, 502);
}

TEST(OpenAiOpsAdapter, DefaultOperationsAreUnsupported) {
  // An adapter that only does chat answers the retryable unsupported_operation 400.
  config::ProviderConfig p;
  p.name = "claude";
  p.type = "anthropic";
  const Target t{&p, "m"};
  const auto r = unsupported_operation(t, "embeddings");
  EXPECT_EQ(r.error.status, 400);
  EXPECT_EQ(r.error.code, "unsupported_operation");
  EXPECT_TRUE(r.error.retryable);
  EXPECT_NE(r.error.message.find("claude"), std::string::npos);
}

}  // namespace
}  // namespace infergate::adapters
