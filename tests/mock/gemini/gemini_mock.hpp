// The wire format of the mock Gemini provider (infergate-mock-gemini): request validation and the
// bodies it answers with, in the shapes of the Gemini API reference (ai.google.dev, v1beta:
// "Generating content", "Function calling", "Troubleshooting" error codes). Pure functions, no
// I/O. Behaviours (tokens, tool_call, fail, reset_after, echo, ...) reuse the OpenAI mock's
// Behaviour and its "name?k=v&k=v" / x-mock-behaviour syntax (tests/mock/README.md).
//
// Like the OpenAI mock it shares no code with the gateway's codec: it is an independent reading
// of the API reference, so a misreading in the adapter shows up as a failing test.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mock_openai.hpp"

namespace infergate::mock::gemini {

inline constexpr std::string_view kThoughtSignature = "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ==";

// A parsed request target: POST /v1beta/models/{model}:{method}[?query].
struct Route {
  std::string model;   // percent-decoded, without "models/"
  std::string method;  // generateContent | streamGenerateContent | countTokens
  bool alt_sse = false;
  bool key_in_query = false;  // ?key=... (the API's other way to pass the key)
};

// False when `target` is not a models/{model}:{method} path under /v1beta (or /v1).
bool parse_route(std::string_view target, Route& out);

// What the mock acts on in a GenerateContentRequest.
struct Call {
  std::int64_t prompt_tokens = 0;  // whitespace-separated words across text parts
  std::int64_t max_tokens = -1;    // generationConfig.maxOutputTokens
  std::string last_user_text;
  bool has_tools = false;
  std::string inspection;  // for inspect=1: functionResponse and inlineData parts received
};

// Validates a GenerateContentRequest as the API does (unknown fields are errors: "Invalid JSON
// payload received. Unknown name ..."). nullopt on success, else the message for a 400.
std::optional<std::string> parse_request(std::string_view body, Call& call);

// models.countTokens ("Counting tokens"): the body has exactly one of `contents` and
// `generateContentRequest` (whose `model` must be "models/{model}" of the path), validated as
// parse_request validates a GenerateContentRequest. The count: words across text parts (system
// instruction included) + 1 per content + for each function declaration 1 + the words of its
// description. nullopt on success with `total_tokens` set, else the message for a 400.
std::optional<std::string> count_tokens(std::string_view body, std::string_view model,
                                        std::int64_t& total_tokens);

// Google's status name for an HTTP code (429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, ...).
std::string_view status_name(int code);
// {"error":{"code":C,"message":M,"status":S}}
std::string error_body(int code, std::string_view message);

// The answer plan of the OpenAI mock, from a Gemini call.
Answer plan(const Call& call, const Behaviour& b);

// Gemini's finishReason for a plan.
std::string_view finish_reason(const Answer& a);

// A whole GenerateContentResponse.
std::string response_body(const Answer& a, std::string_view model, std::string_view id);

// One streamGenerateContent chunk as an SSE event ("data: {...}\r\n\r\n"): content event `i`
// (a text piece, or the whole function call), with usage so far; `last` adds the finishReason
// and the final usage.
std::string stream_event(const Answer& a, std::string_view model, std::string_view id,
                         std::size_t i, bool last);

}  // namespace infergate::mock::gemini
