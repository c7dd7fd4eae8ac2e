// OpenAI's client-facing dialect: chat/completions requests in, JSON or SSE responses out,
// OpenAI-shaped errors. Pure functions over the canonical types; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/api/chat.hpp"

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

// Appends `s` as a JSON string literal (quotes included). Invalid UTF-8 becomes U+FFFD so the
// output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace infergate::api::openai
