// Messages API request -> canonical (OpenAI chat/completions-shaped) request. The mapping is
// described in anthropic.hpp; field shapes follow Anthropic's API reference, "Messages > Create a
// Message" (https://docs.anthropic.com/en/api/messages).
#include <array>

#include "infergate/api/anthropic.hpp"
#include "infergate/api/json_text.hpp"

namespace infergate::api::anthropic {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxMessages = 100000;
constexpr std::size_t kMaxBlocks = 10000;  // content blocks in one message or tool result
constexpr std::size_t kMaxSystemBlocks = 1000;
constexpr std::size_t kMaxStopSequences = 16;
constexpr std::size_t kMaxTools = 1024;
constexpr std::size_t kMaxToolName = 128;  // Anthropic: ^[a-zA-Z0-9_-]{1,128}$
constexpr std::size_t kMaxUserId = 256;
constexpr std::int64_t kMaxTokens = std::int64_t{1} << 24;
constexpr std::int64_t kMaxTopK = std::int64_t{1} << 20;
// JSON nesting the gateway accepts: deeper documents are refused before nlohmann parses them,
// because dumping (tool inputs) and adapters recurse over the tree.
constexpr int kMaxDepth = 128;

constexpr std::array<std::string_view, 4> kImageMediaTypes = {"image/jpeg", "image/png",
                                                              "image/gif", "image/webp"};

bool fail(Error& err, const std::string& path, std::string_view what) {
  std::string message;
  message.reserve(path.size() + what.size() + 2);
  if (!path.empty()) {
    message += path;
    message += ": ";
  }
  message += what;
  err = Error::make(ErrorKind::invalid_request, std::move(message), path, "invalid_request_error");
  return false;
}

std::string at(const std::string& base, std::string_view key) {
  if (base.empty()) return std::string(key);
  std::string p;
  p.reserve(base.size() + key.size() + 1);
  p += base;
  p += '.';
  p += key;
  return p;
}

std::string at(const std::string& base, std::size_t i) { return at(base, std::to_string(i)); }

// True when brackets nest deeper than kMaxDepth (strings are skipped; validity is the parser's).
bool too_deep(std::string_view s) {
  int depth = 0;
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    const char c = *p++;
    if (c == '"') {
      while (p < end) {
        const char d = *p++;
        if (d == '\\') {
          if (p < end) ++p;
        } else if (d == '"') {
          break;
        }
      }
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

// The member `key`, or nullptr when absent or null (optional fields).
json* member(json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// A required string member; `path` names the object holding it.
bool string_field(json& obj, const char* key, const std::string& path, json*& out, Error& err,
                  bool non_empty = false) {
  out = member(obj, key);
  if (out == nullptr) return fail(err, at(path, key), "Field required");
  if (!out->is_string()) return fail(err, at(path, key), "Input should be a valid string");
  if (non_empty && out->get_ref<const std::string&>().empty())
    return fail(err, at(path, key), "String should have at least 1 character");
  return true;
}

// The block's `type` string.
bool block_type(json& block, const std::string& path, std::string_view& type, Error& err) {
  if (!block.is_object()) return fail(err, path, "Input should be a valid dictionary");
  json* t = nullptr;
  if (!string_field(block, "type", path, t, err)) return false;
  type = t->get_ref<const std::string&>();
  return true;
}

bool text_part(json& block, const std::string& path, json& part, Error& err) {
  json* text = nullptr;
  if (!string_field(block, "text", path, text, err)) return false;
  part = json::object();
  part["type"] = "text";
  part["text"] = std::move(*text);
  return true;
}

// An image block -> {"type":"image_url","image_url":{"url":...}} (base64 sources as data: URLs).
bool image_part(json& block, const std::string& path, json& part, Error& err) {
  const std::string spath = at(path, "source");
  json* source = member(block, "source");
  if (source == nullptr) return fail(err, spath, "Field required");
  if (!source->is_object()) return fail(err, spath, "Input should be a valid dictionary");
  json* type = nullptr;
  if (!string_field(*source, "type", spath, type, err)) return false;
  const auto& t = type->get_ref<const std::string&>();
  std::string url;
  if (t == "base64") {
    json* media_type = nullptr;
    json* data = nullptr;
    if (!string_field(*source, "media_type", spath, media_type, err)) return false;
    const auto& mt = media_type->get_ref<const std::string&>();
    bool known = false;
    for (auto k : kImageMediaTypes) known = known || mt == k;
    if (!known)
      return fail(err, at(spath, "media_type"),
                  "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'");
    if (!string_field(*source, "data", spath, data, err, /*non_empty=*/true)) return false;
    const auto& d = data->get_ref<const std::string&>();
    url.reserve(mt.size() + d.size() + 13);
    url += "data:";
    url += mt;
    url += ";base64,";
    url += d;
  } else if (t == "url") {
    json* u = nullptr;
    if (!string_field(*source, "url", spath, u, err, /*non_empty=*/true)) return false;
    url = std::move(u->get_ref<std::string&>());
  } else {
    return fail(
        err, at(spath, "type"),
        "Input tag '" + t + "' is not supported by this gateway (expected 'base64' or 'url')");
  }
  part = json::object();
  part["type"] = "image_url";
  part["image_url"] = json::object({{"url", std::move(url)}});
  return true;
}

bool check_blocks(const json& content, const std::string& path, Error& err) {
  if (content.size() > kMaxBlocks)
    return fail(err, path, "List should have at most " + std::to_string(kMaxBlocks) + " items");
  return true;
}

// A tool_result block -> a {"role":"tool"} message; its images go to `images`.
bool tool_result(json& block, const std::string& path, json& messages, json& images, Error& err) {
  json* id = nullptr;
  if (!string_field(block, "tool_use_id", path, id, err, /*non_empty=*/true)) return false;
  bool is_error = false;
  if (json* e = member(block, "is_error")) {
    if (!e->is_boolean()) return fail(err, at(path, "is_error"), "Input should be a valid boolean");
    is_error = e->get<bool>();
  }
  std::string text;
  if (json* content = member(block, "content")) {
    const std::string cpath = at(path, "content");
    if (content->is_string()) {
      text = std::move(content->get_ref<std::string&>());
    } else if (content->is_array()) {
      if (!check_blocks(*content, cpath, err)) return false;
      std::size_t k = 0;
      for (auto& part : *content) {
        const std::string ppath = at(cpath, k++);
        std::string_view type;
        if (!block_type(part, ppath, type, err)) return false;
        if (type == "text") {
          json* t = nullptr;
          if (!string_field(part, "text", ppath, t, err)) return false;
          if (!text.empty()) text += '\n';
          text += t->get_ref<const std::string&>();
        } else if (type == "image") {
          json image;
          if (!image_part(part, ppath, image, err)) return false;
          images.push_back(std::move(image));
        } else {
          return fail(err, at(ppath, "type"),
                      "Input tag '" + std::string(type) +
                          "' is not supported in tool_result content (expected 'text' or 'image')");
        }
      }
    } else {
      return fail(err, cpath, "Input should be a valid string or a list of content blocks");
    }
  }
  if (is_error) text = text.empty() ? "Error" : "Error: " + text;
  json msg = json::object();
  msg["role"] = "tool";
  msg["tool_call_id"] = std::move(*id);
  msg["content"] = std::move(text);
  messages.push_back(std::move(msg));
  return true;
}

bool user_message(json& content, const std::string& path, json& messages, Error& err) {
  if (content.is_string()) {
    messages.push_back(json::object({{"role", "user"}, {"content", std::move(content)}}));
    return true;
  }
  if (!content.is_array())
    return fail(err, path, "Input should be a valid string or a list of content blocks");
  if (content.empty()) return fail(err, path, "List should have at least 1 item");
  if (!check_blocks(content, path, err)) return false;
  json parts = json::array();
  json images = json::array();  // from tool results: they go first in the user message
  std::size_t j = 0;
  for (auto& block : content) {
    const std::string bpath = at(path, j++);
    std::string_view type;
    if (!block_type(block, bpath, type, err)) return false;
    json part;
    if (type == "text") {
      if (!text_part(block, bpath, part, err)) return false;
      parts.push_back(std::move(part));
    } else if (type == "image") {
      if (!image_part(block, bpath, part, err)) return false;
      parts.push_back(std::move(part));
    } else if (type == "tool_result") {
      if (!tool_result(block, bpath, messages, images, err)) return false;
    } else if (type == "tool_use" || type == "thinking" || type == "redacted_thinking") {
      return fail(err, at(bpath, "type"),
                  "'" + std::string(type) + "' blocks are only allowed in assistant messages");
    } else {
      return fail(err, at(bpath, "type"),
                  "Input tag '" + std::string(type) + "' is not supported by this gateway");
    }
  }
  if (!images.empty()) {
    for (auto& p : parts) images.push_back(std::move(p));
    parts = std::move(images);
  }
  if (parts.empty()) return true;  // a turn of tool results only
  json msg = json::object();
  msg["role"] = "user";
  if (parts.size() == 1 && parts[0]["type"] == "text") {
    msg["content"] = std::move(parts[0]["text"]);
  } else {
    msg["content"] = std::move(parts);
  }
  messages.push_back(std::move(msg));
  return true;
}

bool assistant_message(json& content, const std::string& path, json& messages, Error& err) {
  json msg = json::object();
  msg["role"] = "assistant";
  if (content.is_string()) {
    msg["content"] = std::move(content);
    messages.push_back(std::move(msg));
    return true;
  }
  if (!content.is_array())
    return fail(err, path, "Input should be a valid string or a list of content blocks");
  if (!check_blocks(content, path, err)) return false;
  std::string text;
  bool has_text = false;
  json calls = json::array();
  std::size_t j = 0;
  for (auto& block : content) {
    const std::string bpath = at(path, j++);
    std::string_view type;
    if (!block_type(block, bpath, type, err)) return false;
    if (type == "text") {
      json* t = nullptr;
      if (!string_field(block, "text", bpath, t, err)) return false;
      text += t->get_ref<const std::string&>();
      has_text = true;
    } else if (type == "tool_use") {
      json* id = nullptr;
      json* name = nullptr;
      if (!string_field(block, "id", bpath, id, err, /*non_empty=*/true) ||
          !string_field(block, "name", bpath, name, err, /*non_empty=*/true)) {
        return false;
      }
      json* input = member(block, "input");
      if (input == nullptr) return fail(err, at(bpath, "input"), "Field required");
      if (!input->is_object())
        return fail(err, at(bpath, "input"), "Input should be a valid dictionary");
      json fn = json::object();
      fn["name"] = std::move(*name);
      fn["arguments"] = input->dump();
      json call = json::object();
      call["id"] = std::move(*id);
      call["type"] = "function";
      call["function"] = std::move(fn);
      calls.push_back(std::move(call));
    } else if (type == "thinking" || type == "redacted_thinking") {
      // Signed thinking from an earlier turn: no other provider takes it back.
    } else if (type == "image" || type == "tool_result") {
      return fail(err, at(bpath, "type"),
                  "'" + std::string(type) + "' blocks are only allowed in user messages");
    } else {
      return fail(err, at(bpath, "type"),
                  "Input tag '" + std::string(type) + "' is not supported by this gateway");
    }
  }
  if (has_text || calls.empty()) {
    msg["content"] = std::move(text);
  } else {
    msg["content"] = nullptr;
  }
  if (!calls.empty()) msg["tool_calls"] = std::move(calls);
  messages.push_back(std::move(msg));
  return true;
}

bool convert_messages(json& j, json& messages, Error& err) {
  json* list = member(j, "messages");
  if (list == nullptr) return fail(err, "messages", "Field required");
  if (!list->is_array()) return fail(err, "messages", "Input should be a valid list");
  if (list->empty()) return fail(err, "messages", "List should have at least 1 item");
  if (list->size() > kMaxMessages)
    return fail(err, "messages",
                "List should have at most " + std::to_string(kMaxMessages) + " items");
  std::size_t i = 0;
  for (auto& m : *list) {
    const std::string path = at("messages", i++);
    if (!m.is_object()) return fail(err, path, "Input should be a valid dictionary");
    json* role = nullptr;
    if (!string_field(m, "role", path, role, err)) return false;
    const auto& r = role->get_ref<const std::string&>();
    json* content = member(m, "content");
    if (content == nullptr) return fail(err, at(path, "content"), "Field required");
    if (r == "user") {
      if (!user_message(*content, at(path, "content"), messages, err)) return false;
    } else if (r == "assistant") {
      if (!assistant_message(*content, at(path, "content"), messages, err)) return false;
    } else {
      return fail(err, at(path, "role"), "Input should be 'user' or 'assistant'");
    }
  }
  return true;
}

bool convert_system(json& j, json& messages, Error& err) {
  json* system = member(j, "system");
  if (system == nullptr) return true;
  std::string text;
  if (system->is_string()) {
    text = std::move(system->get_ref<std::string&>());
  } else if (system->is_array()) {
    if (system->size() > kMaxSystemBlocks)
      return fail(err, "system",
                  "List should have at most " + std::to_string(kMaxSystemBlocks) + " items");
    std::size_t i = 0;
    for (auto& block : *system) {
      const std::string path = at("system", i++);
      std::string_view type;
      if (!block_type(block, path, type, err)) return false;
      if (type != "text") return fail(err, at(path, "type"), "Input should be 'text'");
      json* t = nullptr;
      if (!string_field(block, "text", path, t, err)) return false;
      if (!text.empty()) text += '\n';
      text += t->get_ref<const std::string&>();
    }
  } else {
    return fail(err, "system", "Input should be a valid string or a list of text blocks");
  }
  if (!text.empty())
    messages.push_back(json::object({{"role", "system"}, {"content", std::move(text)}}));
  return true;
}

bool number_field(json& j, const char* key, double lo, double hi, json& body, Error& err) {
  json* v = member(j, key);
  if (v == nullptr) return true;
  if (!v->is_number()) return fail(err, key, "Input should be a valid number");
  const double d = v->get<double>();
  if (!(d >= lo && d <= hi)) {
    return fail(err, key,
                "Input should be between " + std::to_string(lo).substr(0, 3) + " and " +
                    std::to_string(hi).substr(0, 3));
  }
  body[key] = *v;
  return true;
}

bool integer_field(json& j, const char* key, std::int64_t lo, std::int64_t hi, std::int64_t& out,
                   Error& err) {
  json* v = member(j, key);
  if (v == nullptr) return true;
  if (!v->is_number_integer()) return fail(err, key, "Input should be a valid integer");
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    return fail(err, key, "Input should be less than or equal to " + std::to_string(hi));
  out = v->get<std::int64_t>();
  if (out < lo || out > hi)
    return fail(err, key,
                "Input should be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return true;
}

bool valid_tool_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxToolName) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool convert_tools(json& j, json& body, Error& err) {
  json* tools = member(j, "tools");
  if (tools == nullptr) return true;
  if (!tools->is_array()) return fail(err, "tools", "Input should be a valid list");
  if (tools->size() > kMaxTools)
    return fail(err, "tools", "List should have at most " + std::to_string(kMaxTools) + " items");
  json out = json::array();
  std::size_t i = 0;
  for (auto& tool : *tools) {
    const std::string path = at("tools", i++);
    if (!tool.is_object()) return fail(err, path, "Input should be a valid dictionary");
    if (json* type = member(tool, "type")) {
      if (!type->is_string()) return fail(err, at(path, "type"), "Input should be a valid string");
      if (type->get_ref<const std::string&>() != "custom")
        return fail(err, at(path, "type"),
                    "Anthropic server tools ('" + type->get<std::string>() +
                        "') are not supported by this gateway; only custom tools are");
    }
    json* name = nullptr;
    if (!string_field(tool, "name", path, name, err)) return false;
    if (!valid_tool_name(name->get_ref<const std::string&>()))
      return fail(err, at(path, "name"), "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'");
    json fn = json::object();
    fn["name"] = std::move(*name);
    if (json* description = member(tool, "description")) {
      if (!description->is_string())
        return fail(err, at(path, "description"), "Input should be a valid string");
      fn["description"] = std::move(*description);
    }
    json* schema = member(tool, "input_schema");
    if (schema == nullptr) return fail(err, at(path, "input_schema"), "Field required");
    if (!schema->is_object())
      return fail(err, at(path, "input_schema"), "Input should be a valid dictionary");
    fn["parameters"] = std::move(*schema);
    if (json* strict = member(tool, "strict")) {
      if (!strict->is_boolean())
        return fail(err, at(path, "strict"), "Input should be a valid boolean");
      fn["strict"] = *strict;
    }
    out.push_back(json::object({{"type", "function"}, {"function", std::move(fn)}}));
  }
  body["tools"] = std::move(out);
  return true;
}

bool convert_tool_choice(json& j, json& body, Error& err) {
  json* choice = member(j, "tool_choice");
  if (choice == nullptr) return true;
  std::string_view type;
  if (!block_type(*choice, "tool_choice", type, err)) return false;
  if (type == "auto") {
    body["tool_choice"] = "auto";
  } else if (type == "any") {
    body["tool_choice"] = "required";
  } else if (type == "none") {
    body["tool_choice"] = "none";
  } else if (type == "tool") {
    json* name = nullptr;
    if (!string_field(*choice, "name", "tool_choice", name, err, /*non_empty=*/true)) return false;
    body["tool_choice"] = json::object(
        {{"type", "function"}, {"function", json::object({{"name", std::move(*name)}})}});
  } else {
    return fail(err, "tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'");
  }
  if (json* d = member(*choice, "disable_parallel_tool_use")) {
    if (!d->is_boolean())
      return fail(err, "tool_choice.disable_parallel_tool_use", "Input should be a valid boolean");
    if (d->get<bool>() && type != "none") body["parallel_tool_calls"] = false;
  }
  return true;
}

bool convert_thinking(json& j, json& body, Error& err) {
  json* thinking = member(j, "thinking");
  if (thinking == nullptr) return true;
  std::string_view type;
  if (!block_type(*thinking, "thinking", type, err)) return false;
  if (type == "enabled") {
    json* budget = member(*thinking, "budget_tokens");
    if (budget == nullptr) return fail(err, "thinking.budget_tokens", "Field required");
    if (!budget->is_number_integer() || budget->get<std::int64_t>() < 1 ||
        budget->get<std::int64_t>() > kMaxTokens) {
      return fail(err, "thinking.budget_tokens",
                  "Input should be an integer between 1 and " + std::to_string(kMaxTokens));
    }
  } else if (type != "disabled" && type != "adaptive") {
    return fail(err, "thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'");
  }
  body["thinking"] = std::move(*thinking);
  return true;
}

bool convert_stop(json& j, json& body, Error& err) {
  json* stop = member(j, "stop_sequences");
  if (stop == nullptr) return true;
  if (!stop->is_array()) return fail(err, "stop_sequences", "Input should be a valid list");
  if (stop->size() > kMaxStopSequences)
    return fail(err, "stop_sequences",
                "List should have at most " + std::to_string(kMaxStopSequences) + " items");
  std::size_t i = 0;
  for (const auto& s : *stop) {
    if (!s.is_string()) return fail(err, at("stop_sequences", i), "Input should be a valid string");
    ++i;
  }
  if (!stop->empty()) body["stop"] = std::move(*stop);
  return true;
}

bool convert_metadata(json& j, json& body, Error& err) {
  json* metadata = member(j, "metadata");
  if (metadata == nullptr) return true;
  if (!metadata->is_object()) return fail(err, "metadata", "Input should be a valid dictionary");
  json* user = member(*metadata, "user_id");
  if (user == nullptr) return true;
  if (!user->is_string()) return fail(err, "metadata.user_id", "Input should be a valid string");
  if (user->get_ref<const std::string&>().size() > kMaxUserId)
    return fail(err, "metadata.user_id",
                "String should have at most " + std::to_string(kMaxUserId) + " characters");
  if (!user->get_ref<const std::string&>().empty()) body["user"] = std::move(*user);
  return true;
}

// A Messages body (`count` false) or a count_tokens body (`count` true: max_tokens is not
// required, and only what the count endpoint takes -- model, system, messages, tools,
// tool_choice, thinking -- is carried; sampling fields and `stream` are ignored).
bool parse_request(std::string_view text, ChatRequest& out, Error& err, bool count) {
  if (too_deep(text)) {
    return fail(err, "",
                "The request body nests JSON deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  json j = api::parse_json(text);
  if (j.is_discarded()) {
    err = Error::make(ErrorKind::invalid_request,
                      "There was an issue with the format of your request: the body is not valid "
                      "JSON",
                      "", "invalid_json");
    return false;
  }
  if (!j.is_object()) return fail(err, "", "The request body must be a JSON object");

  json* model = nullptr;
  if (!string_field(j, "model", "", model, err, /*non_empty=*/true)) return false;
  std::int64_t max_tokens = 0;
  if (!count) {
    if (member(j, "max_tokens") == nullptr) return fail(err, "max_tokens", "Field required");
    if (!integer_field(j, "max_tokens", 1, kMaxTokens, max_tokens, err)) return false;
  }

  json body = json::object();
  body["model"] = *model;
  json messages = json::array();
  if (!convert_system(j, messages, err) || !convert_messages(j, messages, err)) return false;

  if (count) {
    if (!convert_tools(j, body, err) || !convert_tool_choice(j, body, err) ||
        !convert_thinking(j, body, err))
      return false;
    body["messages"] = std::move(messages);
    out.model = model->get<std::string>();
    out.stream = false;
    out.include_usage = false;
    out.body = std::move(body);
    return true;
  }

  bool stream = false;
  if (json* s = member(j, "stream")) {
    if (!s->is_boolean()) return fail(err, "stream", "Input should be a valid boolean");
    stream = s->get<bool>();
  }
  std::int64_t top_k = -1;
  if (!number_field(j, "temperature", 0, 1, body, err) ||
      !number_field(j, "top_p", 0, 1, body, err) ||
      !integer_field(j, "top_k", 0, kMaxTopK, top_k, err) || !convert_stop(j, body, err) ||
      !convert_metadata(j, body, err) || !convert_tools(j, body, err) ||
      !convert_tool_choice(j, body, err) || !convert_thinking(j, body, err)) {
    return false;
  }
  body["messages"] = std::move(messages);
  body["max_tokens"] = max_tokens;
  if (top_k >= 0) body["top_k"] = top_k;
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = json::object({{"include_usage", true}});
  }

  out.model = model->get<std::string>();
  out.stream = stream;
  out.include_usage = stream;
  out.body = std::move(body);
  return true;
}

}  // namespace

bool parse_messages_request(std::string_view text, ChatRequest& out, Error& err) {
  return parse_request(text, out, err, /*count=*/false);
}

bool parse_count_tokens_request(std::string_view text, ChatRequest& out, Error& err) {
  return parse_request(text, out, err, /*count=*/true);
}

std::string render_count_tokens(const CountTokensResponse& response) {
  return "{\"input_tokens\":" + std::to_string(response.input_tokens) + "}";
}

}  // namespace infergate::api::anthropic
