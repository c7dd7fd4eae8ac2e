// Canonical responses and events -> Anthropic's Message, streaming events and errors. Shapes
// follow Anthropic's API reference: "Messages > Create a Message" (response), "Streaming
// Messages" (https://docs.anthropic.com/en/docs/build-with-claude/streaming) and "Errors"
// (https://docs.anthropic.com/en/api/errors).
#include <algorithm>
#include <random>

#include "infergate/api/anthropic.hpp"
#include "infergate/api/openai.hpp"

namespace infergate::api::anthropic {
namespace {

using nlohmann::json;
using openai::append_json_string;

constexpr std::size_t kMaxStreamTools = 1024;                     // distinct tool calls held
constexpr std::size_t kMaxBufferedBytes = std::size_t{64} << 20;  // tool-call text held

std::string_view stop_reason(FinishReason r, bool has_tools) {
  switch (r) {
    case FinishReason::length:
      return "max_tokens";
    case FinishReason::tool_calls:
      return "tool_use";
    case FinishReason::content_filter:
      return "refusal";
    case FinishReason::none:
      return has_tools ? "tool_use" : "end_turn";
    case FinishReason::stop:
    case FinishReason::error:
      return "end_turn";
  }
  return "end_turn";
}

std::string random_suffix() {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s(24, '0');
  for (auto& c : s) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return s;
}

// Anthropic's ids read "msg_...": keep one, prefix any other, make one up when there is none.
std::string message_id(std::string_view id) {
  if (id.substr(0, 4) == "msg_") return std::string(id);
  std::string out = "msg_";
  if (id.empty()) {
    out += random_suffix();
  } else {
    out += id;
  }
  return out;
}

std::int64_t input_tokens(const Usage& u) {
  return std::max<std::int64_t>(0, u.prompt_tokens - u.cached_tokens - u.cache_write_tokens);
}

void append_usage(std::string& out, const Usage& u, std::int64_t output_tokens) {
  out += "{\"input_tokens\":";
  out += std::to_string(input_tokens(u));
  out += ",\"cache_creation_input_tokens\":";
  out += std::to_string(u.cache_write_tokens);
  out += ",\"cache_read_input_tokens\":";
  out += std::to_string(u.cached_tokens);
  out += ",\"output_tokens\":";
  out += std::to_string(output_tokens);
  out += '}';
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// A tool call's arguments as the JSON text of a tool_use `input` (see anthropic.hpp).
void append_tool_input(std::string& out, std::string_view arguments) {
  if (blank(arguments)) {
    out += "{}";
    return;
  }
  const auto first = arguments.find_first_not_of(" \t\r\n");
  if (arguments[first] == '{' && json::accept(arguments)) {
    out += arguments;  // valid JSON (so valid UTF-8): embedded as it is
    return;
  }
  out += "{\"_raw_arguments\":";
  append_json_string(out, arguments);
  out += '}';
}

void append_event(std::string& out, std::string_view name) {
  out += "event: ";
  out += name;
  out += "\ndata: ";
}

void append_block_index(std::string& out, std::string_view type, int index) {
  out += "{\"type\":\"";
  out += type;
  out += "\",\"index\":";
  out += std::to_string(index);
}

}  // namespace

std::string_view error_type(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_request:
    case ErrorKind::method_not_allowed:
      return "invalid_request_error";
    case ErrorKind::authentication:
      return "authentication_error";
    case ErrorKind::permission:
      return "permission_error";
    case ErrorKind::not_found:
      return "not_found_error";
    case ErrorKind::payload_too_large:
      return "request_too_large";
    case ErrorKind::rate_limited:
      return "rate_limit_error";
    case ErrorKind::internal:
    case ErrorKind::upstream:
      return "api_error";
    case ErrorKind::unavailable:
      return "overloaded_error";
    case ErrorKind::timeout:
      return "timeout_error";
  }
  return "api_error";
}

std::string error_body(const Error& err) {
  std::string out;
  out.reserve(64 + err.message.size());
  out += "{\"type\":\"error\",\"error\":{\"type\":\"";
  out += error_type(err.kind);
  out += "\",\"message\":";
  append_json_string(out, err.message);
  out += "}}";
  return out;
}

std::string render_response(const ChatResponse& r, std::string_view model) {
  const ChatChoice* c = nullptr;
  for (const auto& choice : r.choices)
    if (c == nullptr || choice.index == 0) c = &choice;
  std::string out;
  std::size_t size = 320;
  if (c != nullptr) {
    size += c->content.size() + c->reasoning.size();
    for (const auto& tc : c->tool_calls) size += tc.arguments.size() + tc.name.size() + 96;
  }
  out.reserve(size);
  out += "{\"id\":";
  append_json_string(out, message_id(r.id));
  out += ",\"type\":\"message\",\"role\":\"assistant\",\"model\":";
  append_json_string(out, model);
  out += ",\"content\":[";
  bool first = true;
  auto comma = [&] {
    if (!first) out += ',';
    first = false;
  };
  if (c != nullptr) {
    if (!c->reasoning.empty()) {
      comma();
      out += "{\"type\":\"thinking\",\"thinking\":";
      append_json_string(out, c->reasoning);
      out += ",\"signature\":\"\"}";
    }
    // Anthropic never returns an empty text block (and refuses one sent back).
    if (!c->content.empty()) {
      comma();
      out += "{\"type\":\"text\",\"text\":";
      append_json_string(out, c->content);
      out += '}';
    }
    for (const auto& tc : c->tool_calls) {
      comma();
      out += "{\"type\":\"tool_use\",\"id\":";
      append_json_string(out, tc.id);
      out += ",\"name\":";
      append_json_string(out, tc.name);
      out += ",\"input\":";
      append_tool_input(out, tc.arguments);
      out += '}';
    }
  }
  out += "],\"stop_reason\":\"";
  out += stop_reason(c != nullptr ? c->finish : FinishReason::none,
                     c != nullptr && !c->tool_calls.empty());
  out += "\",\"stop_sequence\":null,\"usage\":";
  append_usage(out, r.usage, r.usage.completion_tokens);
  out += '}';
  return out;
}

StreamWriter::StreamWriter(std::string model, std::string id)
    : model_(std::move(model)), id_(message_id(id)) {}

void StreamWriter::ensure_started(std::string& out) {
  if (started_) return;
  started_ = true;
  append_event(out, "message_start");
  out += "{\"type\":\"message_start\",\"message\":{\"id\":";
  append_json_string(out, id_);
  out += ",\"type\":\"message\",\"role\":\"assistant\",\"model\":";
  append_json_string(out, model_);
  out += ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":";
  append_usage(out, usage_, 0);
  out += "}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n";
}

void StreamWriter::open_block(Block type, std::string& out) {
  append_event(out, "content_block_start");
  append_block_index(out, "content_block_start", blocks_);
  out += type == Block::text ? ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
                             : ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\","
                               "\"signature\":\"\"}}\n\n";
  ++blocks_;
  block_ = type;
}

void StreamWriter::close_block(std::string& out) {
  if (block_ == Block::none) return;
  append_event(out, "content_block_stop");
  append_block_index(out, "content_block_stop", blocks_ - 1);
  out += "}\n\n";
  if (block_ == Block::tool && open_tool_ >= 0)
    tools_[static_cast<std::size_t>(open_tool_)].closed = true;
  open_tool_ = -1;
  block_ = Block::none;
}

void StreamWriter::input_json_delta(std::string_view json_text, std::string& out) {
  append_event(out, "content_block_delta");
  append_block_index(out, "content_block_delta", blocks_ - 1);
  out += ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":";
  append_json_string(out, json_text);
  out += "}}\n\n";
}

void StreamWriter::open_tool(Tool& tool, bool whole, std::string& out) {
  close_block(out);
  if (tool.id.empty()) {
    // Some providers leave tool-call ids out; Anthropic clients need one to answer the call.
    tool.id = "toolu_" + id_.substr(4) + "_" + std::to_string(tool.index);
  }
  append_event(out, "content_block_start");
  append_block_index(out, "content_block_start", blocks_);
  out += ",\"content_block\":{\"type\":\"tool_use\",\"id\":";
  append_json_string(out, tool.id);
  out += ",\"name\":";
  append_json_string(out, tool.name);
  out += ",\"input\":{}}}\n\n";
  ++blocks_;
  block_ = Block::tool;
  open_tool_ = static_cast<int>(&tool - tools_.data());
  tool.opened = true;
  if (whole) {
    // The call arrived complete while another block was open: send its input in one piece.
    if (!blank(tool.arguments)) {
      std::string input;
      append_tool_input(input, tool.arguments);
      input_json_delta(input, out);
    }
  } else if (!tool.arguments.empty()) {
    input_json_delta(tool.arguments, out);
  }
  buffered_ -= tool.arguments.size();
  std::string().swap(tool.arguments);
  if (whole) close_block(out);
}

void StreamWriter::flush_tools(std::string& out) {
  close_block(out);
  std::vector<std::size_t> waiting;
  for (std::size_t i = 0; i < tools_.size(); ++i)
    if (!tools_[i].opened) waiting.push_back(i);
  std::sort(waiting.begin(), waiting.end(),
            [&](std::size_t a, std::size_t b) { return tools_[a].index < tools_[b].index; });
  for (auto i : waiting) open_tool(tools_[i], /*whole=*/true, out);
}

void StreamWriter::on_tool_call(const ToolCallDelta& d, std::string& out) {
  std::size_t pos = 0;
  while (pos < tools_.size() && tools_[pos].index != d.index) ++pos;
  if (pos == tools_.size()) {
    if (tools_.size() >= kMaxStreamTools) {
      append_error(Error::make(ErrorKind::upstream, "The upstream sent too many tool calls."), out);
      return;
    }
    tools_.emplace_back().index = d.index;
  }
  Tool& tool = tools_[pos];
  if (tool.closed) return;  // its block was closed by other content: nowhere to put it
  if (open_tool_ == static_cast<int>(pos)) {
    if (!d.arguments.empty()) input_json_delta(d.arguments, out);
    return;
  }
  if (buffered_ + d.arguments.size() > kMaxBufferedBytes) {
    append_error(Error::make(ErrorKind::upstream, "The upstream's tool calls are too large."), out);
    return;
  }
  if (!d.id.empty()) tool.id = d.id;
  tool.name += d.name;
  tool.arguments += d.arguments;
  buffered_ += d.arguments.size();
  // Open it now unless another tool call is streaming (then it waits for the finish). A call
  // opens once its name is known: content_block_start carries it.
  if (block_ != Block::tool && !tool.name.empty()) open_tool(tool, /*whole=*/false, out);
}

void StreamWriter::append(const Event& ev, std::string& out) {
  if (ended_) return;
  switch (ev.type) {
    case Event::Type::start:
      if (!started_ && !ev.text.empty()) id_ = message_id(ev.text);
      if (!started_ && ev.usage.reported) usage_ = ev.usage;  // prompt counts known up front
      ensure_started(out);
      return;
    case Event::Type::text:
    case Event::Type::reasoning: {
      if (ev.choice != 0 || ev.text.empty()) return;
      ensure_started(out);
      const bool text = ev.type == Event::Type::text;
      const Block want = text ? Block::text : Block::thinking;
      if (block_ != want) {
        close_block(out);
        open_block(want, out);
      }
      append_event(out, "content_block_delta");
      append_block_index(out, "content_block_delta", blocks_ - 1);
      out += text ? ",\"delta\":{\"type\":\"text_delta\",\"text\":"
                  : ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":";
      append_json_string(out, ev.text);
      out += "}}\n\n";
      return;
    }
    case Event::Type::tool_call:
      if (ev.choice != 0) return;
      ensure_started(out);
      on_tool_call(ev.tool_call, out);
      return;
    case Event::Type::finish:
      if (ev.choice != 0) return;
      ensure_started(out);
      finish_ = ev.finish;
      flush_tools(out);
      return;
    case Event::Type::usage:
      usage_ = ev.usage;
      return;
    case Event::Type::error:
      append_error(ev.error, out);
      return;
  }
}

void StreamWriter::append_done(std::string& out) {
  if (ended_) return;
  ensure_started(out);
  flush_tools(out);
  bool has_tools = false;
  for (const auto& t : tools_) has_tools = has_tools || t.opened;
  append_event(out, "message_delta");
  out += "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"";
  out += stop_reason(finish_, has_tools);
  out += "\",\"stop_sequence\":null},\"usage\":";
  if (usage_.reported) {
    append_usage(out, usage_, usage_.completion_tokens);
  } else {
    out += "{\"output_tokens\":0}";
  }
  out += "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  ended_ = true;
}

void StreamWriter::append_error(const Error& err, std::string& out) {
  if (ended_) return;
  append_event(out, "error");
  out += error_body(err);
  out += "\n\n";
  ended_ = true;
}

}  // namespace infergate::api::anthropic
