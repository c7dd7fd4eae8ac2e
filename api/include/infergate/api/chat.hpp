// The canonical request and event types every stage of the request path speaks.
//
// A client dialect (OpenAI, Anthropic, HF) parses into a ChatRequest; an adapter turns a
// ChatRequest into an upstream call and the upstream answer into Events; a dialect writer turns
// Events into the client's wire format. No Beast, no sockets: these are plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace infergate::api {

// Why a choice stopped. `none` means "not reported".
enum class FinishReason : std::uint8_t { none, stop, length, tool_calls, content_filter, error };

std::string_view to_string(FinishReason r);
FinishReason finish_reason_from_openai(std::string_view s);

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;       // prompt tokens read from the provider's prompt cache
  std::int64_t cache_write_tokens = 0;  // prompt tokens written to it (Anthropic)
  bool reported = false;                // false: the upstream did not say
};

// Error classes, each with the HTTP status it maps to by default.
enum class ErrorKind : std::uint8_t {
  invalid_request,     // 400
  authentication,      // 401
  permission,          // 403
  not_found,           // 404
  method_not_allowed,  // 405
  payload_too_large,   // 413
  rate_limited,        // 429
  internal,            // 500
  upstream,            // 502: the provider answered with an error or garbage
  unavailable,         // 503: no healthy deployment
  timeout,             // 504: the provider did not answer in time
};

int default_status(ErrorKind k);
// OpenAI's `error.type` string for a kind.
std::string_view openai_type(ErrorKind k);

struct Error {
  ErrorKind kind = ErrorKind::internal;
  int status = 500;
  std::string message;  // never contains secrets or prompt text
  std::string param;    // the offending field, for invalid_request
  std::string code;     // machine-readable code (OpenAI `error.code`)
  bool retryable = false;
  int retry_after_s = -1;  // from the upstream's Retry-After, if any

  static Error make(ErrorKind kind, std::string message, std::string param = {},
                    std::string code = {});
};

// The canonical chat request. Its body is the request in OpenAI's chat/completions shape (the
// lingua franca of providers): every dialect converts into it, every adapter reads from it, and
// fields the gateway does not interpret (tools, response_format, ...) travel in it untouched.
// The typed members are the validated fields the gateway itself acts on.
struct ChatRequest {
  // What the body is: a chat/completions request, or (text_completion) a legacy /v1/completions
  // request (`prompt` instead of `messages`; answered with text_completion objects). Adapters
  // whose wire format has no raw-prompt completion answer unsupported_operation.
  enum class Kind : std::uint8_t { chat, text_completion };
  Kind kind = Kind::chat;
  std::string model;  // public model name as the client sent it (suffixes included)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage as the client asked
  nlohmann::json body;         // the whole validated request, OpenAI-shaped
  // The client's own text of `body` when it came in OpenAI's shape (OpenAI dialect), else
  // empty: OpenAI-format adapters forward its members byte for byte instead of re-serialising
  // the DOM. Points into the client's request, which outlives the call; whoever changes `body`
  // after parsing clears it.
  std::string_view raw_body;
  std::string bill_to;  // X-HF-Bill-To, carried for billing
};

struct ToolCallDelta {
  int index = 0;          // position among this choice's tool calls
  std::string id;         // set on the first fragment of a call
  std::string name;       // set on the first fragment of a call
  std::string arguments;  // a fragment of the JSON arguments text
};

// One canonical event. Adapters produce these in order; writers consume them.
struct Event {
  enum class Type : std::uint8_t {
    start,      // response metadata: id (text), model, created
    text,       // a content fragment for `choice`
    reasoning,  // a reasoning/thinking fragment for `choice`
    tool_call,  // a tool-call fragment for `choice`
    finish,     // `choice` is done, with `finish`
    usage,      // token counts for the whole response
    error,      // the upstream failed; nothing more follows
  };
  Type type = Type::text;
  int choice = 0;
  std::string text;
  std::string model;         // start
  std::int64_t created = 0;  // start (unix seconds)
  ToolCallDelta tool_call;
  FinishReason finish = FinishReason::none;
  Usage usage;
  Error error;
};

// A whole response, built from events (non-streaming calls, tests).
struct ChatChoice {
  int index = 0;
  std::string content;
  std::string reasoning;
  bool has_content = false;
  std::vector<ToolCallDelta> tool_calls;  // complete calls, arguments joined
  FinishReason finish = FinishReason::none;
};

struct ChatResponse {
  std::string id;
  std::string model;
  std::int64_t created = 0;
  std::vector<ChatChoice> choices;
  Usage usage;
};

// Folds a sequence of events into a ChatResponse (error events are the caller's to handle).
class ResponseBuilder {
 public:
  void add(const Event& ev);
  ChatResponse& response() { return response_; }

 private:
  ChatChoice& choice(int index);
  ChatResponse response_;
};

}  // namespace infergate::api
