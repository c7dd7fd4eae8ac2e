// OpenAI's client-facing dialect: chat/completions requests in, JSON or SSE responses out,
// OpenAI-shaped errors. Pure functions over the canonical types; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/api/chat.hpp"
#include "infergate/api/ops.hpp"

namespace infergate::api::openai {

// Parses and validates a chat/completions body. On failure returns false with `err` naming the
// offending field (400). Unknown fields are kept in out.body for the adapters.
bool parse_chat_request(std::string_view body, ChatRequest& out, Error& err);

// {"error":{"message","type","param","code"}}
std::string error_body(const Error& err);

// A whole chat.completion for a non-streaming call; `model` is the public name the client used.
std::string render_response(const ChatResponse& response, std::string_view model);

struct ModelEntry {
  std::string_view id;
  std::string_view owned_by;
  std::int64_t created = 0;
};
std::string render_model_list(const std::vector<ModelEntry>& models);
std::string render_model(const ModelEntry& model);

// Turns canonical events into chat.completion.chunk Server-Sent Events.
class StreamWriter {
 public:
  // `id` is used until the upstream reports its own; usage is sent only when the client asked.
  StreamWriter(std::string model, std::string id, std::int64_t created, bool include_usage);

  // Appends the SSE bytes for `ev` to `out` (possibly none).
  void append(const Event& ev, std::string& out);
  // Appends the closing `data: [DONE]`.
  void append_done(std::string& out);
  // Appends an error event in OpenAI's stream shape (the SDKs raise it as an APIError).
  void append_error(const Error& err, std::string& out);

 private:
  void open_chunk(std::string& out) const;
  void ensure_role(int choice, std::string& out);

  std::string model_;
  std::string id_;
  std::int64_t created_;
  bool include_usage_;
  std::vector<bool> role_sent_;
};

// ---------------------------------------------------------------------------------------------
// Legacy text completions: POST /v1/completions (OpenAI API reference, "Completions").

// Bounds on a completions request: prompts per request (string or token arrays), tokens per
// token-array prompt, characters per prompt string.
inline constexpr std::size_t kMaxPrompts = 2048;
inline constexpr std::size_t kMaxPromptTokens = 1 << 20;

// Parses and validates a /v1/completions body into a ChatRequest with kind = text_completion
// (`prompt` string | string[] | int[] | int[][], max_tokens, temperature, top_p, n, best_of,
// stream, stream_options, stop, echo, logprobs, suffix, seed, penalties, logit_bias, user).
bool parse_completion_request(std::string_view body, ChatRequest& out, Error& err);

// A whole `text_completion` object (choices[].text); `model` is the public name.
std::string render_text_completion(const ChatResponse& response, std::string_view model);

// Canonical events to `text_completion` stream chunks (OpenAI's legacy stream: the same object
// per chunk, choices[].text carrying the new text), then `data: [DONE]`.
class TextCompletionStreamWriter {
 public:
  TextCompletionStreamWriter(std::string model, std::string id, std::int64_t created,
                             bool include_usage);
  void append(const Event& ev, std::string& out);
  void append_done(std::string& out);
  void append_error(const Error& err, std::string& out);

 private:
  void open_chunk(std::string& out) const;

  std::string model_;
  std::string id_;
  std::int64_t created_;
  bool include_usage_;
};

// ---------------------------------------------------------------------------------------------
// Embeddings: POST /v1/embeddings (OpenAI API reference, "Embeddings > Create embeddings").

inline constexpr std::size_t kMaxEmbeddingInputs = 2048;         // entries of an `input` array
inline constexpr std::size_t kMaxEmbeddingTokens = 1 << 16;      // ids in one token-array input
inline constexpr std::size_t kMaxEmbeddingInputBytes = 1 << 20;  // bytes of one input string
inline constexpr int kMaxEmbeddingDimensions = 65536;

// `input` string | string[] | int[] | int[][] (no empty strings or arrays), `encoding_format`
// float | base64, `dimensions` >= 1, `user` string. Text inputs fill out.inputs; token inputs
// stay in out.body only.
bool parse_embeddings_request(std::string_view body, EmbeddingsRequest& out, Error& err);

// The number of inputs of a validated embeddings body (1 for a single string or token array).
std::size_t embedding_input_count(const nlohmann::json& body);

// {"object":"list","data":[{"object":"embedding","index":i,"embedding":[...] | "base64"}],
//  "model","usage":{"prompt_tokens","total_tokens"}}. With `base64` each vector is the base64 of
// its little-endian float32 values (what the SDKs request by default and decode).
std::string render_embeddings(const EmbeddingsResponse& response, std::string_view model,
                              bool base64);

// ---------------------------------------------------------------------------------------------
// Images: POST /v1/images/generations (OpenAI API reference, "Images > Create image").

inline constexpr std::size_t kMaxImagePromptBytes = 32000;
inline constexpr int kMaxImages = 10;
inline constexpr int kMaxImageSide = 8192;

// `prompt` (required), `n` 1..10, `size` "auto" | "WxH", `response_format` url | b64_json,
// `quality`, `style`, `user`, `output_format`, `background` (strings, passed through), plus the
// open-model extras `negative_prompt`, `seed`, `num_inference_steps`, `guidance_scale`.
bool parse_image_request(std::string_view body, ImageRequest& out, Error& err);

// {"created","data":[{"b64_json"|"url","revised_prompt"?}],"usage"?}. `want_url`: an image the
// provider returned as bytes becomes a `data:<type>;base64,...` URL (the gateway stores nothing);
// a provider URL passes through. Otherwise bytes are sent as b64_json.
std::string render_images(const ImageResponse& response, bool want_url);

// Appends standard base64 (RFC 4648, padded) of `bytes`.
void append_base64(std::string& out, std::string_view bytes);

// Appends `s` as a JSON string literal (quotes included). Invalid UTF-8 becomes U+FFFD so the
// output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace infergate::api::openai
