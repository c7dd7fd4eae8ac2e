// The OpenAI dialect's non-chat routes: /v1/completions, /v1/embeddings, /v1/images/generations.
#include <bit>
#include <cstring>

#include <gtest/gtest.h>

#include "infergate/api/openai.hpp"

namespace infergate::api::openai {
namespace {

using nlohmann::json;

std::string decode_b64(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = val(c);
    EXPECT_GE(v, 0) << "not base64: " << c;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// --- base64 -------------------------------------------------------------------------------

TEST(OpenAiBase64, Rfc4648Vectors) {
  // RFC 4648 section 10 test vectors.
  const std::pair<const char*, const char*> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, want] : cases) {
    std::string out;
    append_base64(out, in);
    EXPECT_EQ(out, want) << in;
  }
  std::string out;
  append_base64(out, std::string_view("\xff\xfe\x00", 3));
  EXPECT_EQ(out, "//4A");
}

// --- completions ----------------------------------------------------------------------------

TEST(OpenAiCompletions, ParsesPromptShapesAndMarksKind) {
  for (const char* prompt :
       {R"("Say this is a test")", R"(["a","b"])", R"([1,2,3])", R"([[1,2],[3]])", R"("")"}) {
    ChatRequest req;
    Error err;
    const std::string body = std::string(R"({"model":"gpt-3.5-turbo-instruct","prompt":)") +
                             prompt + R"(,"max_tokens":7,"temperature":0})";
    ASSERT_TRUE(parse_completion_request(body, req, err)) << prompt << ": " << err.message;
    EXPECT_EQ(req.kind, ChatRequest::Kind::text_completion);
    EXPECT_EQ(req.model, "gpt-3.5-turbo-instruct");
    EXPECT_FALSE(req.stream);
    EXPECT_EQ(req.body["max_tokens"], 7);
  }
  ChatRequest req;
  Error err;
  ASSERT_TRUE(parse_completion_request(
      R"({"model":"m","prompt":"x","stream":true,"stream_options":{"include_usage":true},
          "echo":true,"logprobs":2,"suffix":"s","seed":4,"stop":["\n"],"user":"u","n":2})",
      req, err))
      << err.message;
  EXPECT_TRUE(req.stream);
  EXPECT_TRUE(req.include_usage);
}

struct BadCase {
  const char* body;
  const char* param;
};

TEST(OpenAiCompletions, RejectsBadFieldsNamingThem) {
  const BadCase cases[] = {
      {R"({"prompt":"x"})", "model"},
      {R"({"model":"m"})", "prompt"},
      {R"({"model":"m","prompt":5})", "prompt"},
      {R"({"model":"m","prompt":[]})", "prompt"},
      {R"({"model":"m","prompt":["a",1]})", "prompt[1]"},
      {R"({"model":"m","prompt":[[1],[]]})", "prompt[1]"},
      {R"({"model":"m","prompt":[-1]})", "prompt"},
      {R"({"model":"m","prompt":"x","max_tokens":-1})", "max_tokens"},
      {R"({"model":"m","prompt":"x","temperature":3})", "temperature"},
      {R"({"model":"m","prompt":"x","n":0})", "n"},
      {R"({"model":"m","prompt":"x","logprobs":6})", "logprobs"},
      {R"({"model":"m","prompt":"x","echo":"yes"})", "echo"},
      {R"({"model":"m","prompt":"x","suffix":1})", "suffix"},
      {R"({"model":"m","prompt":"x","stream_options":{}})", "stream_options"},
      {R"({"model":"m","prompt":"x","stop":[1]})", "stop"},
      {R"({"model":"m","prompt":"x","n":3,"best_of":2})", "best_of"},
      {R"({"model":"m","prompt":"x","stream":true,"best_of":2})", "best_of"},
      {R"({"model":"m","prompt":"x","seed":1.5})", "seed"},
  };
  for (const auto& c : cases) {
    ChatRequest req;
    Error err;
    EXPECT_FALSE(parse_completion_request(c.body, req, err)) << c.body;
    EXPECT_EQ(err.status, 400) << c.body;
    EXPECT_EQ(err.param, c.param) << c.body;
  }
  std::string many = R"({"model":"m","prompt":[)";
  for (std::size_t i = 0; i <= kMaxPrompts; ++i) many += i ? ",\"p\"" : "\"p\"";
  many += "]}";
  ChatRequest req;
  Error err;
  EXPECT_FALSE(parse_completion_request(many, req, err));
  EXPECT_EQ(err.param, "prompt");
}

// The text_completion object, OpenAI API reference "Completions > The completion object":
// {"id","object":"text_completion","created","model","choices":[{"text","index","logprobs",
// "finish_reason"}],"usage":{"prompt_tokens","completion_tokens","total_tokens"}}.
TEST(OpenAiCompletions, RendersTextCompletionObject) {
  ResponseBuilder b;
  Event start;
  start.type = Event::Type::start;
  start.text = "cmpl-up";
  start.created = 1700000000;
  b.add(start);
  Event t;
  t.type = Event::Type::text;
  t.text = "\n\nThis is indeed a test";
  b.add(t);
  Event f;
  f.type = Event::Type::finish;
  f.finish = FinishReason::length;
  b.add(f);
  Event u;
  u.type = Event::Type::usage;
  u.usage.prompt_tokens = 5;
  u.usage.completion_tokens = 7;
  b.add(u);
  const json j = json::parse(render_text_completion(b.response(), "public"));
  EXPECT_EQ(j, json::parse(R"({"id":"cmpl-up","object":"text_completion","created":1700000000,
    "model":"public","choices":[{"text":"\n\nThis is indeed a test","index":0,"logprobs":null,
    "finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})"));
}

std::vector<json> sse_payloads(const std::string& s, bool& done) {
  std::vector<json> out;
  done = false;
  std::size_t pos = 0;
  while ((pos = s.find("data: ", pos)) != std::string::npos) {
    const auto end = s.find("\n\n", pos);
    const std::string data = s.substr(pos + 6, end - pos - 6);
    if (data == "[DONE]") {
      done = true;
    } else {
      out.push_back(json::parse(data));
    }
    pos = end;
  }
  return out;
}

TEST(OpenAiCompletions, StreamChunksAreTextCompletionObjects) {
  for (bool include_usage : {false, true}) {
    TextCompletionStreamWriter w("public", "cmpl-gw", 42, include_usage);
    std::string out;
    Event start;
    start.type = Event::Type::start;
    w.append(start, out);
    EXPECT_TRUE(out.empty()) << "no role chunk in the legacy stream";
    for (const char* piece : {"Hel", "", "lo"}) {
      Event t;
      t.type = Event::Type::text;
      t.text = piece;
      w.append(t, out);
    }
    Event tc;
    tc.type = Event::Type::tool_call;
    w.append(tc, out);
    Event f;
    f.type = Event::Type::finish;
    f.finish = FinishReason::stop;
    w.append(f, out);
    Event u;
    u.type = Event::Type::usage;
    u.usage.prompt_tokens = 2;
    u.usage.completion_tokens = 2;
    w.append(u, out);
    w.append_done(out);
    bool done = false;
    const auto chunks = sse_payloads(out, done);
    EXPECT_TRUE(done);
    ASSERT_EQ(chunks.size(), include_usage ? 4u : 3u) << out;
    for (const auto& c : chunks) {
      EXPECT_EQ(c["object"], "text_completion");
      EXPECT_EQ(c["id"], "cmpl-gw");
      EXPECT_EQ(c["created"], 42);
      EXPECT_EQ(c["model"], "public");
    }
    EXPECT_EQ(chunks[0]["choices"][0],
              json::parse(R"({"text":"Hel","index":0,"logprobs":null,"finish_reason":null})"));
    EXPECT_EQ(chunks[1]["choices"][0]["text"], "lo");
    EXPECT_EQ(chunks[2]["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(chunks[2]["choices"][0]["text"], "");
    if (include_usage) {
      EXPECT_TRUE(chunks[3]["choices"].empty());
      EXPECT_EQ(chunks[3]["usage"]["total_tokens"], 4);
    }
  }
}

// --- embeddings -----------------------------------------------------------------------------

TEST(OpenAiEmbeddings, ParsesInputShapes) {
  struct Case {
    const char* input;
    std::size_t texts;
    std::size_t count;
  };
  const Case cases[] = {{R"("The food was delicious")", 1, 1},
                        {R"(["a","b","c"])", 3, 3},
                        {R"([1,2,3])", 0, 1},
                        {R"([[1,2],[3]])", 0, 2}};
  for (const auto& c : cases) {
    EmbeddingsRequest req;
    Error err;
    const std::string body = std::string(R"({"model":"text-embedding-3-small","input":)") +
                             c.input + R"(,"encoding_format":"float","dimensions":8,"user":"u"})";
    ASSERT_TRUE(parse_embeddings_request(body, req, err)) << c.input << ": " << err.message;
    EXPECT_EQ(req.model, "text-embedding-3-small");
    EXPECT_EQ(req.inputs.size(), c.texts) << c.input;
    EXPECT_EQ(embedding_input_count(req.body), c.count) << c.input;
    EXPECT_EQ(req.dimensions, 8);
    EXPECT_FALSE(req.base64);
  }
  EmbeddingsRequest req;
  Error err;
  ASSERT_TRUE(parse_embeddings_request(R"({"model":"m","input":"x","encoding_format":"base64"})",
                                       req, err));
  EXPECT_TRUE(req.base64);
  EXPECT_FALSE(req.dimensions.has_value());
  EXPECT_EQ(req.inputs, std::vector<std::string>{"x"});
}

TEST(OpenAiEmbeddings, RejectsBadFieldsNamingThem) {
  const BadCase cases[] = {
      {R"({"input":"x"})", "model"},
      {R"({"model":"m"})", "input"},
      {R"({"model":"m","input":""})", "input"},
      {R"({"model":"m","input":[]})", "input"},
      {R"({"model":"m","input":["a",""]})", "input[1]"},
      {R"({"model":"m","input":[{"a":1}]})", "input[0]"},
      {R"({"model":"m","input":[[1],"a"]})", "input[1]"},
      {R"({"model":"m","input":[1,"a"]})", "input"},
      {R"({"model":"m","input":"x","encoding_format":"int8"})", "encoding_format"},
      {R"({"model":"m","input":"x","dimensions":0})", "dimensions"},
      {R"({"model":"m","input":"x","dimensions":100000})", "dimensions"},
      {R"({"model":"m","input":"x","dimensions":"8"})", "dimensions"},
      {R"({"model":"m","input":"x","user":5})", "user"},
  };
  for (const auto& c : cases) {
    EmbeddingsRequest req;
    Error err;
    EXPECT_FALSE(parse_embeddings_request(c.body, req, err)) << c.body;
    EXPECT_EQ(err.status, 400) << c.body;
    EXPECT_EQ(err.param, c.param) << c.body;
  }
  std::string many = R"({"model":"m","input":[)";
  for (std::size_t i = 0; i <= kMaxEmbeddingInputs; ++i) many += i ? ",\"p\"" : "\"p\"";
  many += "]}";
  EmbeddingsRequest req;
  Error err;
  EXPECT_FALSE(parse_embeddings_request(many, req, err));
  EXPECT_EQ(err.param, "input");
  EXPECT_FALSE(parse_embeddings_request("{not json", req, err));
  EXPECT_EQ(err.code, "invalid_json");
}

// OpenAI API reference "Embeddings > The embedding object" / create response:
// {"object":"list","data":[{"object":"embedding","embedding":[...],"index":0}],
//  "model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}.
TEST(OpenAiEmbeddings, RendersFloatAndBase64) {
  EmbeddingsResponse r;
  r.data = {{0.5f, -1.25f, 3.0f}, {0.1f}};
  r.usage.prompt_tokens = 8;
  const json f = json::parse(render_embeddings(r, "public", false));
  EXPECT_EQ(f, json::parse(R"({"object":"list","data":[
      {"object":"embedding","index":0,"embedding":[0.5,-1.25,3.0]},
      {"object":"embedding","index":1,"embedding":[0.1]}],
      "model":"public","usage":{"prompt_tokens":8,"total_tokens":8}})"));
  // 0.1f must round-trip exactly as float32.
  EXPECT_EQ(f["data"][1]["embedding"][0].get<float>(), 0.1f);

  const json b = json::parse(render_embeddings(r, "public", true));
  ASSERT_TRUE(b["data"][0]["embedding"].is_string());
  const std::string raw = decode_b64(b["data"][0]["embedding"].get<std::string>());
  ASSERT_EQ(raw.size(), 12u);
  // Little-endian float32, as the SDKs decode it (Float32Array over the bytes).
  EXPECT_EQ(raw.substr(0, 4), std::string("\x00\x00\x00\x3f", 4));  // 0.5f
  float v[3];
  for (int i = 0; i < 3; ++i) {
    std::uint32_t bits = 0;
    for (int k = 0; k < 4; ++k)
      bits |= std::uint32_t{static_cast<unsigned char>(raw[static_cast<std::size_t>(i * 4 + k)])}
              << (8 * k);
    v[i] = std::bit_cast<float>(bits);
  }
  EXPECT_EQ(v[0], 0.5f);
  EXPECT_EQ(v[1], -1.25f);
  EXPECT_EQ(v[2], 3.0f);
}

// --- images ---------------------------------------------------------------------------------

TEST(OpenAiImages, ParsesFields) {
  ImageRequest req;
  Error err;
  ASSERT_TRUE(parse_image_request(
      R"({"model":"dall-e-3","prompt":"A cute baby sea otter","n":2,"size":"1024x768",
          "response_format":"url","quality":"hd","style":"vivid","user":"u",
          "negative_prompt":"blurry","seed":7,"num_inference_steps":4,"guidance_scale":3.5})",
      req, err))
      << err.message;
  EXPECT_EQ(req.model, "dall-e-3");
  EXPECT_EQ(req.prompt, "A cute baby sea otter");
  EXPECT_EQ(req.n, 2);
  EXPECT_EQ(req.width, 1024);
  EXPECT_EQ(req.height, 768);
  EXPECT_TRUE(req.want_url);
  EXPECT_EQ(req.negative_prompt, "blurry");
  EXPECT_EQ(req.seed, 7);
  EXPECT_EQ(req.steps, 4);
  EXPECT_EQ(req.guidance_scale, 3.5);
  EXPECT_EQ(req.body["quality"], "hd");

  ImageRequest d;
  ASSERT_TRUE(parse_image_request(R"({"model":"m","prompt":"p","size":"auto"})", d, err));
  EXPECT_EQ(d.n, 1);
  EXPECT_EQ(d.width, 0);
  EXPECT_FALSE(d.want_url);
}

TEST(OpenAiImages, RejectsBadFieldsNamingThem) {
  const BadCase cases[] = {
      {R"({"prompt":"p"})", "model"},
      {R"({"model":"m"})", "prompt"},
      {R"({"model":"m","prompt":""})", "prompt"},
      {R"({"model":"m","prompt":3})", "prompt"},
      {R"({"model":"m","prompt":"p","n":0})", "n"},
      {R"({"model":"m","prompt":"p","n":11})", "n"},
      {R"({"model":"m","prompt":"p","size":"big"})", "size"},
      {R"({"model":"m","prompt":"p","size":"1024x"})", "size"},
      {R"({"model":"m","prompt":"p","size":"99999x10"})", "size"},
      {R"({"model":"m","prompt":"p","size":"0x10"})", "size"},
      {R"({"model":"m","prompt":"p","response_format":"png"})", "response_format"},
      {R"({"model":"m","prompt":"p","quality":1})", "quality"},
      {R"({"model":"m","prompt":"p","style":false})", "style"},
      {R"({"model":"m","prompt":"p","num_inference_steps":0})", "num_inference_steps"},
      {R"({"model":"m","prompt":"p","guidance_scale":1000})", "guidance_scale"},
  };
  for (const auto& c : cases) {
    ImageRequest req;
    Error err;
    EXPECT_FALSE(parse_image_request(c.body, req, err)) << c.body;
    EXPECT_EQ(err.status, 400) << c.body;
    EXPECT_EQ(err.param, c.param) << c.body;
  }
  ImageRequest req;
  Error err;
  const std::string long_prompt =
      R"({"model":"m","prompt":")" + std::string(kMaxImagePromptBytes + 1, 'a') + "\"}";
  EXPECT_FALSE(parse_image_request(long_prompt, req, err));
  EXPECT_EQ(err.param, "prompt");
}

// OpenAI API reference "Images > The image generation response":
// {"created":1713833628,"data":[{"b64_json":"..."}],"usage":{...}}, or data[].url.
TEST(OpenAiImages, RendersBytesUrlsAndDataUrls) {
  ImageResponse r;
  r.created = 1713833628;
  GeneratedImage a;
  a.bytes = std::string("\x89PNG\r\n\x1a\n", 8);
  a.content_type = "image/png";
  a.revised_prompt = "an otter";
  GeneratedImage b;
  b.url = "https://cdn.example/img.png";
  r.images = {a, b};

  const json j = json::parse(render_images(r, /*want_url=*/false));
  EXPECT_EQ(j["created"], 1713833628);
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["b64_json"], "iVBORw0KGgo=");
  EXPECT_EQ(j["data"][0]["revised_prompt"], "an otter");
  EXPECT_EQ(j["data"][1]["url"], "https://cdn.example/img.png");
  EXPECT_FALSE(j.contains("usage"));

  r.usage.reported = true;
  r.usage.prompt_tokens = 10;
  r.usage.completion_tokens = 20;
  const json u = json::parse(render_images(r, /*want_url=*/true));
  EXPECT_EQ(u["data"][0]["url"], "data:image/png;base64,iVBORw0KGgo=");
  EXPECT_FALSE(u["data"][0].contains("b64_json"));
  EXPECT_EQ(u["data"][1]["url"], "https://cdn.example/img.png");
  EXPECT_EQ(u["usage"]["total_tokens"], 30);
}

}  // namespace
}  // namespace infergate::api::openai
