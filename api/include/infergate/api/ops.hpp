// Canonical types of the non-chat operations: embeddings, image generation and token counting.
//
// Like ChatRequest, each request keeps the validated body in OpenAI's shape (the lingua franca)
// and the typed fields the gateway and the non-OpenAI adapters act on. A client dialect (OpenAI
// /v1/embeddings and /v1/images/generations, Hugging Face task routes) parses into them; an
// adapter turns them into an upstream call and fills the response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infergate/api/chat.hpp"

namespace infergate::api {

struct EmbeddingsRequest {
  std::string model;                // public model name as the client sent it
  std::vector<std::string> inputs;  // texts to embed, in order (token-id inputs stay in `body`)
  std::optional<int> dimensions;    // requested output size, when the model supports it
  bool base64 = false;  // OpenAI encoding_format "base64": the client wants little-endian float32
  nlohmann::json body;  // the validated request, OpenAI /v1/embeddings shape
  std::string bill_to;  // X-HF-Bill-To, carried for billing
};

struct EmbeddingsResponse {
  std::string model;                     // as the upstream reported it (may be empty)
  std::vector<std::vector<float>> data;  // one vector per input, in input order
  Usage usage;
};

struct ImageRequest {
  std::string model;  // public model name as the client sent it
  std::string prompt;
  int n = 1;      // images wanted
  int width = 0;  // 0 = the provider's default (from OpenAI's "size": "WxH")
  int height = 0;
  bool want_url = false;        // OpenAI response_format "url" (default b64_json)
  std::string negative_prompt;  // HF/fal/Replicate parameter; empty = none
  std::optional<std::int64_t> seed;
  std::optional<int> steps;  // num_inference_steps
  std::optional<double> guidance_scale;
  nlohmann::json body;  // the validated request, OpenAI /v1/images/generations shape
  std::string bill_to;
};

struct GeneratedImage {
  std::string bytes;  // the image itself (decoded), when the provider returned or we fetched it
  std::string content_type;  // e.g. image/png, image/jpeg, image/webp
  std::string url;           // the provider's URL, when it gave one
  std::string revised_prompt;
};

struct ImageResponse {
  std::int64_t created = 0;  // unix seconds
  std::vector<GeneratedImage> images;
  Usage usage;
};

// Token counting (Anthropic's POST /v1/messages/count_tokens, "Messages > Count tokens in a
// Message"): the request is a ChatRequest (its body OpenAI-shaped, without max_tokens, never
// streamed); the answer is how many tokens its input (system, messages, tools) takes for the
// deployment's model. Nothing is generated, so nothing is billed as usage.
struct CountTokensResponse {
  std::int64_t input_tokens = 0;
};

}  // namespace infergate::api
