// Anthropic's Messages API wire format, upstream side: the canonical (OpenAI-shaped) request
// translated into a Messages request, Message bodies and streamed events decoded into canonical
// events, Anthropic's error shape mapped to api::Error. Pure functions, no I/O.
//
// References (Anthropic API docs): "Messages > Create a Message" (request body and the Message
// object), "Build with Claude > Streaming Messages" (event flow, delta types, error events),
// "Tool use > How to implement tool use" (tools, tool_choice, tool_use/tool_result blocks),
// "Vision" (image source blocks), "API > Errors" (HTTP errors and error shapes).
//
// Usage accounting: Anthropic's usage.input_tokens counts only the uncached part of the prompt;
// cache_read_input_tokens and cache_creation_input_tokens are reported beside it. The canonical
// prompt_tokens counts the whole prompt, as OpenAI does (its prompt_tokens include
// cached_tokens): prompt_tokens = input_tokens + cache_read_input_tokens +
// cache_creation_input_tokens, cached_tokens = cache_read_input_tokens, cache_write_tokens =
// cache_creation_input_tokens. Billing prices the cached parts from the two detail fields.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/api/chat.hpp"
#include "infergate/config/config.hpp"

namespace infergate::adapters::anthropic {

// The path appended to the provider's base_url (https://api.anthropic.com/v1).
inline constexpr std::string_view kMessagesPath = "/messages";
// The token-count path under the same base_url ("Messages > Count tokens in a Message").
inline constexpr std::string_view kCountTokensPath = "/messages/count_tokens";
// Sent as anthropic-version unless the provider's headers set it.
inline constexpr std::string_view kDefaultVersion = "2023-06-01";
// Anthropic requires max_tokens; used when the request names neither max_tokens nor
// max_completion_tokens.
inline constexpr std::int64_t kDefaultMaxTokens = 4096;
// Bounds on what the upstream sends: a content block index or a tool-call count beyond them is a
// malformed response (decoders keep per-block state).
inline constexpr int kMaxContentBlocks = 4096;
inline constexpr int kMaxToolCalls = 1024;

// (a) The upstream request. Translates `request.body` (OpenAI chat/completions shape) into a
// Messages request for `upstream_model`, appended to `out`. Fields the Messages API cannot
// express (n > 1, logprobs, penalties, seed, logit_bias, response_format other than text, ...):
// with `drop_unsupported` they are left out and their names appended to `dropped`; without it
// the call fails with a 400 (invalid_request, param = the first such field) naming them all.
// Also fails with a 400 on a message it cannot translate (e.g. tool-call arguments that are not a
// JSON object). temperature above Anthropic's maximum of 1 (OpenAI allows 2) is clamped to 1.
// False with `err` on failure; `out` is then unspecified.
bool encode_request(const api::ChatRequest& request, std::string_view upstream_model,
                    bool drop_unsupported, std::string& out, std::vector<std::string>& dropped,
                    api::Error& err);

// The count_tokens body for `request`: what encode_request produces, reduced to the fields the
// count endpoint takes (model, system, messages, tools, tool_choice, thinking): no max_tokens,
// no stream, no sampling fields. Fails as encode_request does.
bool encode_count_tokens_request(const api::ChatRequest& request, std::string_view upstream_model,
                                 bool drop_unsupported, std::string& out,
                                 std::vector<std::string>& dropped, api::Error& err);

// The upstream request headers (Host and Content-Length are the transport's): x-api-key when the
// provider has a key, anthropic-version (default kDefaultVersion), the provider's extra headers
// (they win over the defaults), Content-Type, Accept, x-request-id.
using HeaderSink = std::function<void(std::string_view name, std::string_view value)>;
void request_headers(const config::ProviderConfig& provider, bool stream,
                     std::string_view request_id, const HeaderSink& add);

// (b) Decodes a whole Message body into events: start, then per content block reasoning, text or
// tool call, then finish and usage. False with `err` on a malformed body or an Anthropic error
// object. `secret` (the provider's key) is scrubbed from any upstream message carried in `err`.
bool decode_message(std::string_view body, std::vector<api::Event>& out, api::Error& err,
                    std::string_view secret = {});

// A count_tokens answer ({"input_tokens": N}) -> N. False with `err` on a malformed body (502)
// or an Anthropic error object.
bool decode_count_tokens(std::string_view body, std::int64_t& input_tokens, api::Error& err,
                         std::string_view secret = {});

// (c) Decodes the SSE events of a streamed Message.
class StreamDecoder {
 public:
  // `secret` (the provider's key, must outlive the decoder) is scrubbed from upstream messages.
  explicit StreamDecoder(std::string_view secret = {}) : secret_(secret) {}

  enum class Status : std::uint8_t {
    ok,     // zero or more events appended
    done,   // message_stop: the stream is complete; the usage event was appended
    error,  // an error event was appended (upstream error event or malformed data)
  };

  // One SSE event: its `event:` name and its data. The data's own `type` decides; the name is
  // used only when the data has none.
  Status decode(std::string_view event_type, std::string_view data, std::vector<api::Event>& out);

  // Appends the usage event if one is pending (the stream ended without message_stop).
  void flush(std::vector<api::Event>& out);

  bool started() const { return started_; }
  bool saw_finish() const { return saw_finish_; }
  bool saw_stop() const { return saw_stop_; }
  const api::Usage& usage() const { return usage_; }

 private:
  enum class Block : std::uint8_t { none, text, thinking, tool_use, other };
  struct BlockState {
    Block kind = Block::none;
    int tool_index = -1;     // canonical tool-call index for tool_use blocks
    bool has_input = false;  // a non-empty input_json_delta arrived
  };
  Status fail(api::Error e, std::vector<api::Event>& out);
  BlockState* block_at(std::int64_t index);

  std::string_view secret_;
  std::vector<BlockState> blocks_;
  int tools_ = 0;
  std::int64_t input_tokens_ = 0;
  std::int64_t cache_read_ = 0;
  std::int64_t cache_write_ = 0;
  std::int64_t output_tokens_ = 0;
  api::Usage usage_;
  bool usage_pending_ = false;
  bool started_ = false;
  bool saw_finish_ = false;
  bool saw_stop_ = false;
};

// (d) Maps an upstream HTTP error (status >= 300) to an api::Error. `body` may be Anthropic's
// {"type":"error","error":{"type","message"}} or anything else; `retry_after` is the
// Retry-After header value; `api_key` is scrubbed from anything echoed. 429, 5xx and 529
// (overloaded) are retryable.
api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view api_key);

// The error an Anthropic error object ({"type": "overloaded_error", "message": ...}) carries in
// a stream or a 200 body, mapped as its documented HTTP status would be.
api::Error error_from_type(std::string_view type, std::string_view message,
                           std::string_view secret);

// Canonical finish reason for a Messages stop_reason.
api::FinishReason finish_reason_from_stop(std::string_view stop_reason);

}  // namespace infergate::adapters::anthropic
