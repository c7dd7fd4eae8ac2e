// Amazon Bedrock's Converse wire format, upstream side: canonical (OpenAI-shaped) request ->
// Converse request body, Converse response and ConverseStream events -> canonical events, error
// mapping. Pure functions, no I/O.
//
// References (Amazon Bedrock API Reference, Runtime): "Converse" (request and response syntax,
// errors), "ConverseStream" and "ConverseStreamOutput" (stream events), "ContentBlock",
// "ToolResultBlock", "ToolChoice", "InferenceConfiguration", "TokenUsage", "StopReason".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "eventstream.hpp"
#include "infergate/api/chat.hpp"

namespace infergate::adapters::bedrock {

inline constexpr int kMaxToolCalls = 1024;
// Bounds on what the request translation produces from a client body (base64 image bytes are
// already bounded by the gateway's body limit).
inline constexpr std::size_t kMaxStopSequences = 16;

// "/model/{modelId}/converse" or ".../converse-stream", the model id percent-encoded as one
// path segment (':' -> %3A, '/' -> %2F as in ARNs).
std::string converse_path(std::string_view model_id, bool stream);

struct EncodeResult {
  bool ok = false;
  api::Error error;                  // when !ok (400)
  std::vector<std::string> dropped;  // request fields Converse cannot express
};

// Translates `request.body` (OpenAI chat/completions shape) into a Converse request body,
// appended to `out`. Fields that cannot be expressed are listed in `dropped` (an http(s) image
// URL is reported as "messages.content.image_url"); whether to drop them or fail is the
// caller's decision. Malformed messages fail with a 400.
EncodeResult encode_request(const api::ChatRequest& request, std::string& out);

// CountTokens ("CountTokens", "CountTokensInput", "ConverseTokensRequest"): the path
// "/model/{modelId}/count-tokens" (encoded as converse_path does), the body
// {"input":{"converse":{"messages","system","toolConfig"}}} translated as encode_request
// translates (inference settings are not counted and left out; `dropped` as there), and the
// answer's inputTokens (false with a 502 `err` when it is missing or not a non-negative integer).
std::string count_tokens_path(std::string_view model_id);
EncodeResult encode_count_tokens_request(const api::ChatRequest& request, std::string& out);
bool decode_count_tokens(std::string_view body, std::int64_t& input_tokens, api::Error& err);

// Decodes a whole Converse response body: start, reasoning, text, tool calls, finish, usage.
// `id` and `model` go on the start event. False with `err` (502) on a malformed body.
bool decode_converse(std::string_view body, std::string_view id, std::string_view model,
                     std::int64_t created, std::vector<api::Event>& out, api::Error& err);

// Decodes ConverseStream messages (already unframed by eventstream::Decoder).
class StreamDecoder {
 public:
  StreamDecoder(std::string id, std::string model, std::int64_t created)
      : id_(std::move(id)), model_(std::move(model)), created_(created) {}

  enum class Status : std::uint8_t {
    ok,     // zero or more events appended
    done,   // `metadata` after `messageStop`: the stream is complete; usage appended
    error,  // an error event was appended (exception message or malformed event)
  };

  // `secret` is scrubbed from any upstream message.
  Status decode(const eventstream::Message& msg, std::vector<api::Event>& out,
                std::string_view secret = {});

  bool saw_stop() const { return saw_stop_; }
  const api::Usage& usage() const { return usage_; }

 private:
  void ensure_start(std::vector<api::Event>& out);

  std::string id_, model_;
  std::int64_t created_;
  bool started_ = false;
  bool saw_stop_ = false;
  api::Usage usage_;
  std::map<std::int64_t, int> tool_index_;  // contentBlockIndex -> tool call index
};

// The canonical error for an upstream exception name (HTTP x-amzn-errortype, or a stream's
// :exception-type, either case), with the upstream's message (scrubbed of `secret`).
// `status` is the HTTP status (0 inside a stream).
api::Error map_exception(std::string_view type, int status, std::string_view message,
                         int retry_after_s, std::string_view secret);

// Maps an upstream HTTP error: `error_type` is the x-amzn-errortype header ("Name:namespace" or
// "Name"), `body` usually {"message": "..."}.
api::Error map_http_error(int status, std::string_view error_type, std::string_view body,
                          std::string_view retry_after, std::string_view secret);

}  // namespace infergate::adapters::bedrock
