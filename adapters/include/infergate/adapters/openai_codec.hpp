// The OpenAI chat/completions wire format, upstream side: request encoding, response and stream
// chunk decoding into canonical events, error mapping. Pure functions, no I/O.
//
// Reference: OpenAI API reference, "Chat > Create chat completion" (request body), "The chat
// completion object" and "The chat completion chunk object" (responses), "Error codes".
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/api/chat.hpp"
#include "infergate/api/ops.hpp"
#include "infergate/config/config.hpp"

namespace infergate::adapters::openai {

// Upper bounds for indices from the upstream: a choice or tool-call index beyond them is treated
// as a malformed response (writers index arrays by them).
inline constexpr int kMaxChoices = 128;
inline constexpr int kMaxToolCalls = 1024;

// The paths appended to the provider's base_url.
inline constexpr std::string_view kChatPath = "/chat/completions";
inline constexpr std::string_view kCompletionsPath =
    "/completions";  // ChatRequest::Kind::text_completion
inline constexpr std::string_view kEmbeddingsPath = "/embeddings";
inline constexpr std::string_view kImagesPath = "/images/generations";

// Bounds on non-chat answers from the upstream.
inline constexpr std::size_t kMaxEmbeddingVectors = 2048;
inline constexpr std::size_t kMaxEmbeddingDimensions = 65536;
inline constexpr std::size_t kMaxImagesPerResponse = 16;
inline constexpr std::size_t kMaxImageBytes = 32 * 1024 * 1024;

// (a) The upstream request body: `request.body` with `model` replaced by `upstream_model` and,
// when streaming, stream_options.include_usage forced to true (usage is needed for billing; the
// gateway's writer decides whether the client sees it). Every other field is kept untouched.
// Appends to `out`.
void encode_request_body(const api::ChatRequest& request, std::string_view upstream_model,
                         std::string& out);

// The upstream request headers (Host and Content-Length are the transport's): Authorization
// when the provider has a key, the provider's extra headers, Content-Type, Accept, x-request-id.
using HeaderSink = std::function<void(std::string_view name, std::string_view value)>;
void request_headers(const config::ProviderConfig& provider, bool stream,
                     std::string_view request_id, const HeaderSink& add);

// (b) Decodes a whole `chat.completion` body into events (also a legacy `text_completion`
// object: a choice's `text` is its content): start, then per choice reasoning,
// text, tool calls and finish, then usage. False with `err` (502) on a malformed body; a body
// that is an OpenAI error object yields that error. `secret` (the provider's key) is scrubbed
// from any upstream message carried into `err`.
bool decode_completion(std::string_view body, std::vector<api::Event>& out, api::Error& err,
                       std::string_view secret = {});

// (c) Decodes a stream of `chat.completion.chunk` SSE data payloads (also legacy
// `text_completion` chunks: a choice's `text` is new content).
class ChunkDecoder {
 public:
  // `secret` (the provider's key, must outlive the decoder) is scrubbed from upstream messages.
  explicit ChunkDecoder(std::string_view secret = {}) : secret_(secret) {}

  enum class Status : std::uint8_t {
    ok,     // zero or more events appended
    done,   // `[DONE]`: the stream is complete; the pending usage event was appended
    error,  // an error event was appended (upstream error object or malformed chunk)
  };

  // One SSE event. `event_type` is the SSE `event:` field ("message" by default).
  Status decode(std::string_view data, std::vector<api::Event>& out,
                std::string_view event_type = "message");

  // Appends the usage event if one is pending (the stream ended without `[DONE]`). Usage is held
  // back until the end so that exactly one usage event is produced even when a provider repeats
  // it on several chunks.
  void flush(std::vector<api::Event>& out);

  bool started() const { return started_; }
  bool saw_finish() const { return saw_finish_; }
  bool saw_done() const { return saw_done_; }
  const api::Usage& usage() const { return usage_; }

 private:
  std::string_view secret_;
  api::Usage usage_;
  bool usage_pending_ = false;
  bool started_ = false;
  bool saw_finish_ = false;
  bool saw_done_ = false;
};

// (e) Embeddings (OpenAI API reference, "Embeddings > Create embeddings" and "The embedding
// object"). The upstream body is `request.body` with `model` replaced by `upstream_model` and
// `encoding_format` forced to "float" (the gateway encodes for the client itself).
void encode_embeddings_body(const api::EmbeddingsRequest& request, std::string_view upstream_model,
                            std::string& out);
// Decodes `{"data":[{"index","embedding"}],"model","usage"}`; an embedding may be a float array
// or base64 of little-endian float32. Exactly `expected` vectors, each index once, at most
// kMaxEmbeddingDimensions values, else a retryable 502. An error object yields its error.
bool decode_embeddings(std::string_view body, std::size_t expected, api::EmbeddingsResponse& out,
                       api::Error& err, std::string_view secret = {});

// (f) Images (OpenAI API reference, "Images > Create image" and "The image generation response").
// The upstream body is `request.body` with `model` replaced.
void encode_image_body(const api::ImageRequest& request, std::string_view upstream_model,
                       std::string& out);
// Decodes `{"created","data":[{"b64_json"|"url","revised_prompt"}],"usage"}`: b64_json becomes
// bytes (content type sniffed, else from the response's output_format), url is kept. At most
// `max_images` images of at most kMaxImageBytes each.
bool decode_images(std::string_view body, std::size_t max_images, api::ImageResponse& out,
                   api::Error& err, std::string_view secret = {});

// The image type of `bytes` by magic number (png, jpeg, webp, gif), else `fallback`.
std::string_view sniff_image_type(std::string_view bytes, std::string_view fallback = "image/png");

// Decodes standard or URL-safe base64 (padding optional, whitespace rejected). False when the
// input is not base64 or would decode to more than `max_bytes`.
bool decode_base64(std::string_view in, std::string& out, std::size_t max_bytes);

// (d) Maps an upstream HTTP error (status >= 300) to an api::Error. `body` may be an OpenAI error
// object ({"error": {"message", ...}}) or anything else; `retry_after` is the Retry-After header
// value; `api_key` is scrubbed from anything echoed.
api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view api_key);

// The error an upstream `{"error": ...}` object carries (in a 200 body or a stream).
api::Error error_from_object(std::string_view message, std::string_view type,
                             std::string_view code);

}  // namespace infergate::adapters::openai
