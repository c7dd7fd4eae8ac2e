// The wire format of the mock Anthropic provider: request validation and the bodies and SSE
// events it answers with, in the shapes of Anthropic's API reference ("Messages > Create a
// Message", "Streaming Messages", "API > Errors"). Pure functions, no I/O.
//
// Like the OpenAI mock it shares no code with the gateway's adapters: an independent reading of
// the reference, so a misreading in the adapter shows up as a failing test. Behaviours (tokens,
// tool_call, fail, reset_after, ...) are the OpenAI mock's (tests/mock/mock_openai.hpp), chosen
// the same way from the model id's `?k=v` suffix and the x-mock-behaviour header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mock_openai.hpp"

namespace infergate::mock::anthropic {

// The fields of a Messages request the mock acts on.
struct MessagesCall {
  std::string model;
  bool stream = false;
  std::int64_t max_tokens = 0;     // required by the API
  std::int64_t prompt_tokens = 0;  // whitespace-separated words across system and messages
  std::string last_user_text;      // for echo=1
  std::string inspection;          // for inspect=1: tool_result and image blocks received
};

struct BadRequest {
  std::string message;
};

// Parses and validates a Messages body as the API does (model, max_tokens, messages with roles
// user/assistant and content as a string or blocks, system, stream). nullopt on success.
std::optional<BadRequest> parse_messages(std::string_view body, MessagesCall& call);

// POST /v1/messages/count_tokens ("Messages > Count tokens in a Message"): validates the body as
// the API does -- model and messages required, the fields of "Create a Message" that are not
// counted (max_tokens, stream, temperature, top_p, top_k, stop_sequences, metadata) and
// OpenAI-only fields refused ("Extra inputs are not permitted") -- and counts deterministically:
// whitespace-separated words of the system prompt, plus for each message its words (text blocks,
// tool results, tool_use inputs as JSON text) + 1, plus for each tool 1 + the words of its
// description. nullopt on success with `input_tokens` set.
std::optional<BadRequest> count_tokens(std::string_view body, std::int64_t& input_tokens);

// Anthropic's error `type` for an HTTP status ("API > Errors"), and its default message.
struct ErrorType {
  std::string_view type;
  std::string_view message;
};
ErrorType error_type(int status);

// {"type":"error","error":{"type":...,"message":...},"request_id":...}
std::string error_body(std::string_view type, std::string_view message,
                       std::string_view request_id);

inline constexpr std::string_view kToolUseId = "toolu_mock_weather_0";
// parallel_tools=1: a second tool_use block (get_time) after the first.
inline constexpr std::string_view kToolUseId2 = "toolu_mock_time_1";

// What one request answers, decided before any byte is written.
struct Answer {
  std::vector<std::string> pieces;  // text fragments; concatenated they are the text
  bool tool_use = false;            // a get_weather tool_use block instead of text
  bool parallel = false;            // with tool_use: a second block, get_time
  std::string_view stop_reason = "end_turn";
  std::int64_t input_tokens = 0;  // prompt tokens not read from the cache
  std::int64_t cache_read_tokens = 0;
  std::int64_t output_tokens = 0;
  bool usage = true;

  // Streamed deltas; with parallel, one more event closes the first block and opens the second.
  std::size_t events() const {
    if (!tool_use) return pieces.size();
    return kToolArgumentFragments.size() + (parallel ? 1 + kTool2ArgumentFragments.size() : 0);
  }
};

Answer plan_answer(const MessagesCall& call, const Behaviour& b);

// A whole Message body.
std::string message_body(const MessagesCall& call, const Answer& answer, std::string_view id);

// The events of one streamed Message, each as SSE bytes ("event: ...\ndata: ...\n\n"):
// message_start, content_block_start, ping, content_block_delta x N, content_block_stop,
// message_delta, message_stop.
class EventWriter {
 public:
  EventWriter(const MessagesCall& call, const Answer& answer, std::string_view id);

  // message_start, content_block_start and a ping.
  void start(std::string& out) const;
  // Delta `i` (a text piece or a tool input fragment).
  void delta(std::size_t i, std::string& out) const;
  // content_block_stop, message_delta and message_stop.
  void finish(std::string& out) const;
  // An event whose data is not JSON (malformed=1).
  static void garbage(std::string& out);

 private:
  const MessagesCall& call_;
  const Answer& answer_;
  std::string id_;
};

}  // namespace infergate::mock::anthropic
