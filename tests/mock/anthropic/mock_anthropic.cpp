#include "mock_anthropic.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace infergate::mock::anthropic {
namespace {

using nlohmann::json;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// The text of a content value: a string, or the text blocks (and tool_result strings) of an
// array of blocks.
void append_text(const json& content, std::string& out) {
  if (content.is_string()) {
    if (!out.empty()) out += '\n';
    out += content.get_ref<const std::string&>();
    return;
  }
  if (!content.is_array()) return;
  for (const auto& block : content) {
    if (!block.is_object()) continue;
    if (auto t = block.find("text"); t != block.end() && t->is_string()) {
      if (!out.empty()) out += '\n';
      out += t->get_ref<const std::string&>();
    } else if (auto c = block.find("content"); c != block.end()) {
      append_text(*c, out);
    }
  }
}

// inspect=1, Anthropic's wire format ("Messages > Create a Message", content blocks): a
// {"type":"tool_result","tool_use_id","content": string | text blocks} block is a tool result,
// an {"type":"image","source":{"type":"base64","media_type","data"}} block an image.
void inspect_blocks(const json& content, std::vector<std::string>& seen) {
  if (!content.is_array()) return;
  for (const auto& block : content) {
    if (!block.is_object()) continue;
    const std::string type = block.value("type", "");
    if (type == "tool_result") {
      std::string text;
      if (auto c = block.find("content"); c != block.end()) append_text(*c, text);
      seen.push_back(describe_tool_result(block.value("tool_use_id", "(no tool_use_id)"), text));
    } else if (type == "image") {
      const json source = block.value("source", json::object());
      std::string bytes;
      if (!source.is_object() || source.value("type", "") != "base64" || !source.contains("data") ||
          !source["data"].is_string() ||
          !base64_decode(source["data"].get_ref<const std::string&>(), bytes)) {
        seen.emplace_back("image without base64 source");
        continue;
      }
      seen.push_back(describe_image(source.value("media_type", "(no media_type)"), bytes));
    }
  }
}

std::string usage_json(const Answer& a, std::int64_t output_tokens) {
  return R"({"input_tokens":)" + std::to_string(a.input_tokens) +
         R"(,"cache_creation_input_tokens":0,"cache_read_input_tokens":)" +
         std::to_string(a.cache_read_tokens) + R"(,"output_tokens":)" +
         std::to_string(output_tokens) + "}";
}

std::string json_str(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

void event(std::string& out, std::string_view type, std::string_view data) {
  out += "event: ";
  out += type;
  out += "\ndata: ";
  out += data;
  out += "\n\n";
}

}  // namespace

std::optional<BadRequest> parse_messages(std::string_view body, MessagesCall& call) {
  call = MessagesCall{};
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return BadRequest{"Request body is not valid JSON."};
  auto model = doc.find("model");
  if (model == doc.end()) return BadRequest{"model: Field required"};
  if (!model->is_string() || model->get_ref<const std::string&>().empty())
    return BadRequest{"model: Input should be a valid string"};
  call.model = model->get<std::string>();

  auto mt = doc.find("max_tokens");
  if (mt == doc.end()) return BadRequest{"max_tokens: Field required"};
  if (!mt->is_number_integer() || mt->get<std::int64_t>() < 1)
    return BadRequest{"max_tokens: Input should be a valid integer greater than or equal to 1"};
  call.max_tokens = mt->get<std::int64_t>();

  std::string text;
  if (auto sys = doc.find("system"); sys != doc.end()) {
    if (!sys->is_string() && !sys->is_array())
      return BadRequest{"system: Input should be a valid string or a list of text blocks"};
    append_text(*sys, text);
    call.prompt_tokens += count_words(text);
  }
  auto messages = doc.find("messages");
  if (messages == doc.end()) return BadRequest{"messages: Field required"};
  if (!messages->is_array()) return BadRequest{"messages: Input should be a valid list"};
  if (messages->empty()) return BadRequest{"messages: at least one message is required"};
  std::vector<std::string> seen;  // for inspect=1
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const auto& m = (*messages)[i];
    const std::string where = "messages." + std::to_string(i);
    if (!m.is_object()) return BadRequest{where + ": Input should be a valid dictionary"};
    auto role = m.find("role");
    if (role == m.end() || !role->is_string() || (*role != "user" && *role != "assistant"))
      return BadRequest{where + ".role: Input should be 'user' or 'assistant'"};
    auto content = m.find("content");
    if (content == m.end()) return BadRequest{where + ".content: Field required"};
    if (!content->is_string() && !content->is_array())
      return BadRequest{where + ".content: Input should be a valid string or list"};
    if (content->is_array()) {
      for (std::size_t k = 0; k < content->size(); ++k) {
        const auto& b = (*content)[k];
        if (!b.is_object() || !b.contains("type") || !b["type"].is_string())
          return BadRequest{where + ".content." + std::to_string(k) + ".type: Field required"};
        if (b["type"] == "text" && (!b.contains("text") || !b["text"].is_string() ||
                                    b["text"].get_ref<const std::string&>().empty()))
          return BadRequest{where + ".content." + std::to_string(k) +
                            ": text content blocks must be non-empty"};
      }
    }
    text.clear();
    append_text(*content, text);
    call.prompt_tokens += count_words(text);
    if (*role == "user") call.last_user_text = text;
    inspect_blocks(*content, seen);
  }
  call.inspection = inspection_text(seen);
  if (auto s = doc.find("stream"); s != doc.end() && !s->is_null()) {
    if (!s->is_boolean()) return BadRequest{"stream: Input should be a valid boolean"};
    call.stream = s->get<bool>();
  }
  // OpenAI-only fields are errors here, as they are at Anthropic ("Extra inputs are not
  // permitted"): the adapter must have translated or dropped them.
  for (const char* key : {"max_completion_tokens", "n", "stop", "stream_options", "logprobs",
                          "presence_penalty", "frequency_penalty", "seed", "response_format",
                          "logit_bias", "user", "parallel_tool_calls"}) {
    if (doc.contains(key)) return BadRequest{std::string(key) + ": Extra inputs are not permitted"};
  }
  return std::nullopt;
}

std::optional<BadRequest> count_tokens(std::string_view body, std::int64_t& input_tokens) {
  input_tokens = 0;
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return BadRequest{"Request body is not valid JSON."};
  auto model = doc.find("model");
  if (model == doc.end()) return BadRequest{"model: Field required"};
  if (!model->is_string() || model->get_ref<const std::string&>().empty())
    return BadRequest{"model: Input should be a valid string"};
  for (const char* key : {"max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences",
                          "metadata", "max_completion_tokens", "n", "stop", "stream_options",
                          "user", "seed", "response_format"}) {
    if (doc.contains(key)) return BadRequest{std::string(key) + ": Extra inputs are not permitted"};
  }
  std::int64_t n = 0;
  std::string text;
  if (auto sys = doc.find("system"); sys != doc.end()) {
    if (!sys->is_string() && !sys->is_array())
      return BadRequest{"system: Input should be a valid string or a list of text blocks"};
    append_text(*sys, text);
    n += count_words(text);
  }
  auto messages = doc.find("messages");
  if (messages == doc.end()) return BadRequest{"messages: Field required"};
  if (!messages->is_array() || messages->empty())
    return BadRequest{"messages: at least one message is required"};
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const auto& m = (*messages)[i];
    const std::string where = "messages." + std::to_string(i);
    if (!m.is_object()) return BadRequest{where + ": Input should be a valid dictionary"};
    auto role = m.find("role");
    if (role == m.end() || !role->is_string() || (*role != "user" && *role != "assistant"))
      return BadRequest{where + ".role: Input should be 'user' or 'assistant'"};
    auto content = m.find("content");
    if (content == m.end() || (!content->is_string() && !content->is_array()))
      return BadRequest{where + ".content: Input should be a valid string or list"};
    text.clear();
    append_text(*content, text);
    if (content->is_array()) {
      for (const auto& b : *content)
        if (b.is_object() && b.value("type", "") == "tool_use" && b.contains("input"))
          text += " " + b["input"].dump();
    }
    n += count_words(text) + 1;
  }
  if (auto tools = doc.find("tools"); tools != doc.end()) {
    if (!tools->is_array()) return BadRequest{"tools: Input should be a valid list"};
    for (const auto& t : *tools) {
      if (!t.is_object() || !t.contains("name") || !t.contains("input_schema"))
        return BadRequest{"tools: each tool needs name and input_schema"};
      n += 1;
      if (auto d = t.find("description"); d != t.end() && d->is_string())
        n += count_words(d->get_ref<const std::string&>());
    }
  }
  input_tokens = n;
  return std::nullopt;
}

ErrorType error_type(int status) {
  switch (status) {
    case 400:
      return {"invalid_request_error", "Mock: invalid request."};
    case 401:
      return {"authentication_error", "invalid x-api-key"};
    case 403:
      return {"permission_error",
              "Your API key does not have permission to use the specified resource."};
    case 404:
      return {"not_found_error", "The requested resource could not be found."};
    case 413:
      return {"request_too_large", "Request exceeds the maximum allowed number of bytes."};
    case 429:
      return {"rate_limit_error",
              "Number of request tokens has exceeded your per-minute rate limit"};
    case 529:
      return {"overloaded_error", "Overloaded"};
    default:
      break;
  }
  if (status >= 500) return {"api_error", "Internal server error"};
  return {"invalid_request_error", "Mock: request failed."};
}

std::string error_body(std::string_view type, std::string_view message,
                       std::string_view request_id) {
  return R"({"type":"error","error":{"type":)" + json_str(type) + R"(,"message":)" +
         json_str(message) + R"(},"request_id":)" + json_str(request_id) + "}";
}

Answer plan_answer(const MessagesCall& call, const Behaviour& b) {
  Answer a;
  a.usage = b.usage;
  a.cache_read_tokens = std::min<std::int64_t>(b.cached_tokens, call.prompt_tokens);
  a.input_tokens = call.prompt_tokens - a.cache_read_tokens;
  if (b.tool_call || b.parallel_tools) {
    a.tool_use = true;
    a.parallel = b.parallel_tools;
    a.stop_reason = "tool_use";
    a.output_tokens = static_cast<std::int64_t>(a.events());
    return a;
  }
  if (b.echo || b.inspect) {
    std::string_view text = b.inspect ? call.inspection : call.last_user_text;
    std::size_t start = 0;
    for (std::size_t i = 1; i < text.size(); ++i) {
      if (!is_space(text[i]) && is_space(text[i - 1])) {
        a.pieces.emplace_back(text.substr(start, i - start));
        start = i;
      }
    }
    if (start < text.size()) a.pieces.emplace_back(text.substr(start));
  } else {
    for (int i = 0; i < b.tokens; ++i)
      a.pieces.push_back((i == 0 ? "tok" : " tok") + std::to_string(i));
  }
  if (static_cast<std::int64_t>(a.pieces.size()) > call.max_tokens) {
    a.pieces.resize(static_cast<std::size_t>(call.max_tokens));
    a.stop_reason = "max_tokens";
  }
  a.output_tokens = static_cast<std::int64_t>(a.pieces.size());
  return a;
}

std::string message_body(const MessagesCall& call, const Answer& a, std::string_view id) {
  std::string out = R"({"id":)" + json_str(id) +
                    R"(,"type":"message","role":"assistant","model":)" + json_str(call.model) +
                    R"(,"content":[)";
  if (a.tool_use) {
    std::string args;
    for (auto f : kToolArgumentFragments) args += f;
    out += R"({"type":"tool_use","id":)" + json_str(kToolUseId) + R"(,"name":)" +
           json_str(kToolName) + R"(,"input":)" + args + "}";
    if (a.parallel) {
      args.clear();
      for (auto f : kTool2ArgumentFragments) args += f;
      out += R"(,{"type":"tool_use","id":)" + json_str(kToolUseId2) + R"(,"name":)" +
             json_str(kToolName2) + R"(,"input":)" + args + "}";
    }
  } else {
    std::string text;
    for (const auto& p : a.pieces) text += p;
    if (!text.empty()) out += R"({"type":"text","text":)" + json_str(text) + "}";
  }
  out += R"(],"stop_reason":)" + json_str(a.stop_reason) + R"(,"stop_sequence":null)";
  if (a.usage) out += R"(,"usage":)" + usage_json(a, a.output_tokens);
  out += "}";
  return out;
}

EventWriter::EventWriter(const MessagesCall& call, const Answer& answer, std::string_view id)
    : call_(call), answer_(answer), id_(id) {}

void EventWriter::start(std::string& out) const {
  std::string msg = R"({"type":"message_start","message":{"id":)" + json_str(id_) +
                    R"(,"type":"message","role":"assistant","content":[],"model":)" +
                    json_str(call_.model) + R"(,"stop_reason":null,"stop_sequence":null)";
  if (answer_.usage) msg += R"(,"usage":)" + usage_json(answer_, 1);
  msg += "}}";
  event(out, "message_start", msg);
  if (answer_.tool_use) {
    event(out, "content_block_start",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":)" +
              json_str(kToolUseId) + R"(,"name":)" + json_str(kToolName) + R"(,"input":{}}})");
  } else {
    event(out, "content_block_start",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  }
  event(out, "ping", R"({"type": "ping"})");
}

// Parallel tool_use blocks stream one after the other: content_block_stop for block 0, then
// content_block_start for block 1 and its input_json_delta events ("Streaming Messages > Event
// types": each block is start, deltas, stop, with its own index).
void EventWriter::delta(std::size_t i, std::string& out) const {
  constexpr std::size_t n1 = kToolArgumentFragments.size();
  if (answer_.tool_use && i == n1) {
    event(out, "content_block_stop", R"({"type":"content_block_stop","index":0})");
    event(out, "content_block_start",
          R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":)" +
              json_str(kToolUseId2) + R"(,"name":)" + json_str(kToolName2) + R"(,"input":{}}})");
  } else if (answer_.tool_use) {
    const bool second = i > n1;
    event(out, "content_block_delta",
          std::string(R"({"type":"content_block_delta","index":)") + (second ? "1" : "0") +
              R"(,"delta":{"type":"input_json_delta","partial_json":)" +
              json_str(second ? kTool2ArgumentFragments[i - n1 - 1] : kToolArgumentFragments[i]) +
              "}}");
  } else {
    event(out, "content_block_delta",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)" +
              json_str(answer_.pieces[i]) + "}}");
  }
}

void EventWriter::finish(std::string& out) const {
  event(out, "content_block_stop",
        answer_.parallel ? R"({"type":"content_block_stop","index":1})"
                         : R"({"type":"content_block_stop","index":0})");
  std::string md = R"({"type":"message_delta","delta":{"stop_reason":)" +
                   json_str(answer_.stop_reason) + R"(,"stop_sequence":null})";
  if (answer_.usage)
    md += R"(,"usage":{"output_tokens":)" + std::to_string(answer_.output_tokens) + "}";
  md += "}";
  event(out, "message_delta", md);
  event(out, "message_stop", R"({"type":"message_stop"})");
}

void EventWriter::garbage(std::string& out) {
  event(out, "content_block_delta", "{\"type\": not json at all");
}

}  // namespace infergate::mock::anthropic
