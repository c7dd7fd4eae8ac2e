// Anthropic's client-facing dialect: Messages API requests (POST /v1/messages) in, a Message or
// Anthropic's streaming events out, Anthropic-shaped errors. Pure functions over the canonical
// types; no I/O. Any provider can serve the request: it is translated into the canonical
// OpenAI-shaped body every adapter reads.
//
// Request mapping (Anthropic -> ChatRequest::body):
//   system (string | text blocks)       -> a leading {"role":"system"} message (texts joined by \n)
//   messages[].content text/image       -> user content parts (image -> image_url, base64 -> data:)
//   assistant tool_use blocks           -> tool_calls (arguments = the JSON text of `input`)
//   user tool_result blocks             -> {"role":"tool"} messages, placed before the rest of the
//                                          turn; content flattened to text ("Error: " prefix when
//                                          is_error); images in a tool result follow as a user
//                                          message
//   assistant thinking/redacted_thinking -> dropped (providers take no signed thinking back)
//   max_tokens, stop_sequences->stop, temperature, top_p, top_k, metadata.user_id->user,
//   tools (input_schema->function.parameters), tool_choice (auto|any->required|tool|none),
//   tool_choice.disable_parallel_tool_use->parallel_tool_calls:false, thinking (passed as is).
//   Streams always ask for usage (stream_options.include_usage, include_usage = true).
//   Other top-level fields are not forwarded. Every failure is a 400 whose param is the dotted
//   path of the field (e.g. "messages.0.content.1.type"), as Anthropic names fields.
//
// Response mapping: reasoning -> thinking block, text -> text block, tool calls -> tool_use
// blocks. A tool call's `input` is its arguments parsed as JSON; empty arguments give {}, and
// arguments that are not a JSON object give {"_raw_arguments": "<the text>"} so nothing is lost
// silently and a client's schema check fails loudly. Finish: stop->end_turn, length->max_tokens,
// tool_calls->tool_use, content_filter->refusal. Ids not starting with "msg_" get that prefix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/api/chat.hpp"
#include "infergate/api/ops.hpp"

namespace infergate::api::anthropic {

// Parses and validates a Messages API body into the canonical request (ChatRequest::body is
// OpenAI chat/completions-shaped: that is what every adapter reads). 400 naming the field.
bool parse_messages_request(std::string_view body, ChatRequest& out, Error& err);

// A count_tokens body ("Messages > Count tokens in a Message": the Messages body without
// max_tokens) into the canonical request, validated as parse_messages_request does. Only what
// the count endpoint takes is carried (model, system, messages, tools, tool_choice, thinking);
// max_tokens, stream and sampling fields are accepted and ignored. Never streamed.
bool parse_count_tokens_request(std::string_view body, ChatRequest& out, Error& err);

// {"input_tokens":N}
std::string render_count_tokens(const CountTokensResponse& response);

// {"type":"error","error":{"type":"invalid_request_error"|"authentication_error"|
// "permission_error"|"not_found_error"|"request_too_large"|"rate_limit_error"|"api_error"|
// "overloaded_error"|"timeout_error","message":"..."}}
std::string error_body(const Error& err);

// Anthropic's `error.type` for a kind.
std::string_view error_type(ErrorKind kind);

// A whole Message ({"id","type":"message","role":"assistant","content":[...],"model",
// "stop_reason","stop_sequence","usage":{...}}); `model` is the public name the client used.
std::string render_response(const ChatResponse& response, std::string_view model);

// Canonical events -> Anthropic's streaming events ("event: NAME\ndata: {...}\n\n"):
// message_start, ping, then one content block at a time (content_block_start,
// content_block_delta..., content_block_stop), then message_delta (stop_reason, usage) and
// message_stop. Only choice 0 is rendered (the Messages API has one). A block switches when the
// event type or the tool-call index changes. Tool calls streamed interleaved (index 0, 1, 0, ...)
// stream live for the first one; the others are buffered and emitted whole, each as its own
// block, when the open one closes at the finish (a fragment for a tool block already closed
// because text came in between is dropped). Usage arrives after the finish: it is held so that
// append_done's message_delta carries it.
class StreamWriter {
 public:
  StreamWriter(std::string model, std::string id);

  void append(const Event& ev, std::string& out);
  // The end of a successful stream: closes open blocks, message_delta (stop_reason, usage),
  // message_stop.
  void append_done(std::string& out);
  // An `event: error` in Anthropic's shape (after which the stream ends).
  void append_error(const Error& err, std::string& out);

 private:
  enum class Block : std::uint8_t { none, text, thinking, tool };
  struct Tool {
    int index = 0;
    std::string id;
    std::string name;
    std::string arguments;  // buffered while the call's block is not open
    bool opened = false;
    bool closed = false;
  };

  void ensure_started(std::string& out);
  void open_block(Block type, std::string& out);
  void close_block(std::string& out);
  void open_tool(Tool& tool, bool whole, std::string& out);
  void flush_tools(std::string& out);
  void on_tool_call(const ToolCallDelta& delta, std::string& out);
  void input_json_delta(std::string_view json, std::string& out);

  std::string model_;
  std::string id_;
  bool started_ = false;
  bool ended_ = false;
  Block block_ = Block::none;
  int blocks_ = 0;      // content blocks opened so far (the next block's index)
  int open_tool_ = -1;  // position in tools_ of the open tool block
  std::vector<Tool> tools_;
  std::size_t buffered_ = 0;  // bytes of tool-call text held
  FinishReason finish_ = FinishReason::none;
  Usage usage_;
};

}  // namespace infergate::api::anthropic
