#include "infergate/api/openai.hpp"

#include <bit>
#include <charconv>
#include <cmath>

#include "infergate/api/json_text.hpp"

namespace infergate::api::openai {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxMessages = 100000;
constexpr std::size_t kMaxStopSequences = 16;

bool fail(Error& err, std::string message, std::string param) {
  err = Error::make(ErrorKind::invalid_request, std::move(message), std::move(param),
                    "invalid_request_error");
  return false;
}

// A number field in [lo, hi] when present (null counts as absent).
bool check_number(const json& body, const char* key, double lo, double hi, Error& err) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_number()) return fail(err, std::string("'") + key + "' must be a number", key);
  const double v = it->get<double>();
  if (!(v >= lo && v <= hi)) {
    return fail(err,
                std::string("'") + key + "' must be between " + std::to_string(lo).substr(0, 4) +
                    " and " + std::to_string(hi).substr(0, 4),
                key);
  }
  return true;
}

bool check_positive_int(const json& body, const char* key, std::int64_t max, Error& err) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_number_integer())
    return fail(err, std::string("'") + key + "' must be an integer", key);
  const auto v = it->get<std::int64_t>();
  if (v < 1 || v > max)
    return fail(err, std::string("'") + key + "' must be between 1 and " + std::to_string(max),
                key);
  return true;
}

bool check_content(const json& content, const std::string& where, bool may_be_null, Error& err) {
  if (content.is_string()) return true;
  if (content.is_null()) {
    if (may_be_null) return true;
    return fail(err, "'" + where + "' must not be null", where);
  }
  if (!content.is_array())
    return fail(err, "'" + where + "' must be a string or an array of content parts", where);
  std::size_t i = 0;
  for (const auto& part : content) {
    const std::string p = where + "[" + std::to_string(i++) + "]";
    if (!part.is_object()) return fail(err, "'" + p + "' must be an object", p);
    auto type = part.find("type");
    if (type == part.end() || !type->is_string())
      return fail(err, "'" + p + ".type' is required", p + ".type");
    const auto& t = type->get_ref<const std::string&>();
    if (t == "text") {
      auto text = part.find("text");
      if (text == part.end() || !text->is_string())
        return fail(err, "'" + p + ".text' must be a string", p + ".text");
    } else if (t == "image_url") {
      auto img = part.find("image_url");
      if (img == part.end() || !img->is_object() || !img->contains("url") ||
          !(*img)["url"].is_string())
        return fail(err, "'" + p + ".image_url.url' must be a string", p + ".image_url.url");
    }
    // Other part types (input_audio, file, refusal, ...) pass through to providers.
  }
  return true;
}

bool check_messages(const json& body, Error& err) {
  auto it = body.find("messages");
  if (it == body.end()) return fail(err, "'messages' is a required property", "messages");
  if (!it->is_array()) return fail(err, "'messages' must be an array", "messages");
  if (it->empty()) return fail(err, "'messages' must contain at least one message", "messages");
  if (it->size() > kMaxMessages) return fail(err, "'messages' has too many entries", "messages");
  std::size_t i = 0;
  for (const auto& m : *it) {
    const std::string p = "messages[" + std::to_string(i++) + "]";
    if (!m.is_object()) return fail(err, "'" + p + "' must be an object", p);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      return fail(err, "'" + p + ".role' is a required string", p + ".role");
    const auto& r = role->get_ref<const std::string&>();
    const bool assistant = r == "assistant";
    if (r != "system" && r != "developer" && r != "user" && !assistant && r != "tool" &&
        r != "function") {
      return fail(err, "'" + p + ".role' must be one of system, developer, user, assistant, tool",
                  p + ".role");
    }
    auto content = m.find("content");
    if (content == m.end()) {
      // Only assistant turns (e.g. with tool_calls) may leave content out.
      if (!assistant) return fail(err, "'" + p + ".content' is required", p + ".content");
    } else if (!check_content(*content, p + ".content", assistant, err)) {
      return false;
    }
    if (r == "tool") {
      auto id = m.find("tool_call_id");
      if (id == m.end() || !id->is_string())
        return fail(err, "'" + p + ".tool_call_id' is required for tool messages",
                    p + ".tool_call_id");
    }
    if (auto tc = m.find("tool_calls"); tc != m.end() && !tc->is_null() && !tc->is_array())
      return fail(err, "'" + p + ".tool_calls' must be an array", p + ".tool_calls");
  }
  return true;
}

void append_usage(std::string& out, const Usage& u) {
  out += "{\"prompt_tokens\":";
  out += std::to_string(u.prompt_tokens);
  out += ",\"completion_tokens\":";
  out += std::to_string(u.completion_tokens);
  out += ",\"total_tokens\":";
  out += std::to_string(u.prompt_tokens + u.completion_tokens);
  out += ",\"prompt_tokens_details\":{\"cached_tokens\":";
  out += std::to_string(u.cached_tokens);
  out += "}}";
}

void append_finish(std::string& out, FinishReason r) {
  if (r == FinishReason::none) {
    out += "null";
  } else {
    out += '"';
    out += to_string(r == FinishReason::error ? FinishReason::stop : r);
    out += '"';
  }
}

void append_tool_call(std::string& out, const ToolCallDelta& tc, bool with_index) {
  out += '{';
  if (with_index) {
    out += "\"index\":";
    out += std::to_string(tc.index);
    out += ',';
  }
  if (!tc.id.empty() || !with_index) {
    out += "\"id\":";
    append_json_string(out, tc.id);
    out += ",\"type\":\"function\",";
  }
  out += "\"function\":{";
  if (!tc.name.empty() || !with_index) {
    out += "\"name\":";
    append_json_string(out, tc.name);
    out += ',';
  }
  out += "\"arguments\":";
  append_json_string(out, tc.arguments);
  out += "}}";
}

}  // namespace

bool parse_chat_request(std::string_view body, ChatRequest& out, Error& err) {
  json j = parse_json(body);
  if (j.is_discarded()) {
    err = Error::make(ErrorKind::invalid_request,
                      "We could not parse the JSON body of your request: it is not valid JSON.", "",
                      "invalid_json");
    return false;
  }
  if (!j.is_object()) return fail(err, "The request body must be a JSON object", "");

  auto model = j.find("model");
  if (model == j.end()) return fail(err, "'model' is a required property", "model");
  if (!model->is_string() || model->get_ref<const std::string&>().empty())
    return fail(err, "'model' must be a non-empty string", "model");
  if (!check_messages(j, err)) return false;

  bool stream = false;
  if (auto s = j.find("stream"); s != j.end() && !s->is_null()) {
    if (!s->is_boolean()) return fail(err, "'stream' must be a boolean", "stream");
    stream = s->get<bool>();
  }
  bool include_usage = false;
  if (auto so = j.find("stream_options"); so != j.end() && !so->is_null()) {
    if (!so->is_object()) return fail(err, "'stream_options' must be an object", "stream_options");
    if (!stream)
      return fail(err, "'stream_options' is only allowed when 'stream' is true", "stream_options");
    if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
      if (!iu->is_boolean())
        return fail(err, "'stream_options.include_usage' must be a boolean",
                    "stream_options.include_usage");
      include_usage = iu->get<bool>();
    }
  }
  if (!check_number(j, "temperature", 0, 2, err) || !check_number(j, "top_p", 0, 1, err) ||
      !check_number(j, "presence_penalty", -2, 2, err) ||
      !check_number(j, "frequency_penalty", -2, 2, err) ||
      !check_positive_int(j, "max_tokens", 1 << 24, err) ||
      !check_positive_int(j, "max_completion_tokens", 1 << 24, err) ||
      !check_positive_int(j, "n", 128, err)) {
    return false;
  }
  if (auto seed = j.find("seed"); seed != j.end() && !seed->is_null() && !seed->is_number_integer())
    return fail(err, "'seed' must be an integer", "seed");
  if (auto stop = j.find("stop"); stop != j.end() && !stop->is_null()) {
    if (stop->is_array()) {
      if (stop->size() > kMaxStopSequences)
        return fail(err, "'stop' may hold at most 16 sequences", "stop");
      for (const auto& s : *stop)
        if (!s.is_string())
          return fail(err, "'stop' must be a string or an array of strings", "stop");
    } else if (!stop->is_string()) {
      return fail(err, "'stop' must be a string or an array of strings", "stop");
    }
  }
  if (auto tools = j.find("tools"); tools != j.end() && !tools->is_null() && !tools->is_array())
    return fail(err, "'tools' must be an array", "tools");

  out.model = model->get<std::string>();
  out.stream = stream;
  out.include_usage = include_usage;
  out.body = std::move(j);
  out.raw_body = body;
  return true;
}

std::string error_body(const Error& err) {
  std::string out;
  out.reserve(96 + err.message.size());
  out += "{\"error\":{\"message\":";
  append_json_string(out, err.message);
  out += ",\"type\":\"";
  out += openai_type(err.kind);
  out += "\",\"param\":";
  if (err.param.empty()) {
    out += "null";
  } else {
    append_json_string(out, err.param);
  }
  out += ",\"code\":";
  if (err.code.empty()) {
    out += "null";
  } else {
    append_json_string(out, err.code);
  }
  out += "}}";
  return out;
}

std::string render_response(const ChatResponse& r, std::string_view model) {
  std::string out;
  std::size_t size = 256;
  for (const auto& c : r.choices) size += c.content.size() + c.reasoning.size() + 128;
  out.reserve(size);
  out += "{\"id\":";
  append_json_string(out, r.id);
  out += ",\"object\":\"chat.completion\",\"created\":";
  out += std::to_string(r.created);
  out += ",\"model\":";
  append_json_string(out, model);
  out += ",\"choices\":[";
  bool first = true;
  for (const auto& c : r.choices) {
    if (!first) out += ',';
    first = false;
    out += "{\"index\":";
    out += std::to_string(c.index);
    out += ",\"message\":{\"role\":\"assistant\",\"content\":";
    if (c.has_content || c.tool_calls.empty()) {
      append_json_string(out, c.content);
    } else {
      out += "null";
    }
    if (!c.reasoning.empty()) {
      out += ",\"reasoning_content\":";
      append_json_string(out, c.reasoning);
    }
    out += ",\"refusal\":null";
    if (!c.tool_calls.empty()) {
      out += ",\"tool_calls\":[";
      for (std::size_t i = 0; i < c.tool_calls.size(); ++i) {
        if (i) out += ',';
        append_tool_call(out, c.tool_calls[i], /*with_index=*/false);
      }
      out += ']';
    }
    out += "},\"logprobs\":null,\"finish_reason\":";
    append_finish(out, c.finish == FinishReason::none ? FinishReason::stop : c.finish);
    out += '}';
  }
  out += "],\"usage\":";
  append_usage(out, r.usage);
  out += '}';
  return out;
}

namespace {
void append_model(std::string& out, const ModelEntry& m) {
  out += "{\"id\":";
  append_json_string(out, m.id);
  out += ",\"object\":\"model\",\"created\":";
  out += std::to_string(m.created);
  out += ",\"owned_by\":";
  append_json_string(out, m.owned_by);
  out += '}';
}
}  // namespace

std::string render_model_list(const std::vector<ModelEntry>& models) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (i) out += ',';
    append_model(out, models[i]);
  }
  out += "]}";
  return out;
}

std::string render_model(const ModelEntry& model) {
  std::string out;
  append_model(out, model);
  return out;
}

StreamWriter::StreamWriter(std::string model, std::string id, std::int64_t created,
                           bool include_usage)
    : model_(std::move(model)),
      id_(std::move(id)),
      created_(created),
      include_usage_(include_usage) {}

void StreamWriter::open_chunk(std::string& out) const {
  out += "data: {\"id\":";
  append_json_string(out, id_);
  out += ",\"object\":\"chat.completion.chunk\",\"created\":";
  out += std::to_string(created_);
  out += ",\"model\":";
  append_json_string(out, model_);
  out += ",\"choices\":[";
}

// OpenAI's first chunk of each choice carries the role; later ones only the new content.
void StreamWriter::ensure_role(int choice, std::string& out) {
  if (choice < 0) return;
  const auto idx = static_cast<std::size_t>(choice);
  if (idx < role_sent_.size() && role_sent_[idx]) return;
  if (idx >= role_sent_.size()) role_sent_.resize(idx + 1, false);
  role_sent_[idx] = true;
  open_chunk(out);
  out += "{\"index\":";
  out += std::to_string(choice);
  out +=
      ",\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":null}]}\n\n";
}

void StreamWriter::append(const Event& ev, std::string& out) {
  switch (ev.type) {
    case Event::Type::start:
      if (!ev.text.empty()) id_ = ev.text;
      if (ev.created != 0) created_ = ev.created;
      ensure_role(ev.choice, out);
      return;
    case Event::Type::text:
    case Event::Type::reasoning:
      if (ev.text.empty()) return;
      ensure_role(ev.choice, out);
      open_chunk(out);
      out += "{\"index\":";
      out += std::to_string(ev.choice);
      out += ev.type == Event::Type::text ? ",\"delta\":{\"content\":"
                                          : ",\"delta\":{\"reasoning_content\":";
      append_json_string(out, ev.text);
      out += "},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
      return;
    case Event::Type::tool_call:
      ensure_role(ev.choice, out);
      open_chunk(out);
      out += "{\"index\":";
      out += std::to_string(ev.choice);
      out += ",\"delta\":{\"tool_calls\":[";
      append_tool_call(out, ev.tool_call, /*with_index=*/true);
      out += "]},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
      return;
    case Event::Type::finish:
      ensure_role(ev.choice, out);
      open_chunk(out);
      out += "{\"index\":";
      out += std::to_string(ev.choice);
      out += ",\"delta\":{},\"logprobs\":null,\"finish_reason\":";
      append_finish(out, ev.finish == FinishReason::none ? FinishReason::stop : ev.finish);
      out += "}]}\n\n";
      return;
    case Event::Type::usage:
      if (!include_usage_) return;
      open_chunk(out);
      out += "],\"usage\":";
      append_usage(out, ev.usage);
      out += "}\n\n";
      return;
    case Event::Type::error:
      append_error(ev.error, out);
      return;
  }
}

void StreamWriter::append_done(std::string& out) { out += "data: [DONE]\n\n"; }

void StreamWriter::append_error(const Error& err, std::string& out) {
  out += "data: ";
  out += error_body(err);
  out += "\n\n";
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // Copy the longest run that needs no escaping in one go.
    const unsigned char* run = p;
    while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80) ++p;
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
      }
      ++p;
      continue;
    }
    // Validate one UTF-8 sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
    int len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && end - p >= len;
    for (int k = 1; ok && k < len; ++k) {
      if ((p[k] & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (p[k] & 0x3f);
    }
    if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
      ok = false;
    }
    if (ok) {
      out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len));
      p += len;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++p;
    }
  }
  out += '"';
}

}  // namespace infergate::api::openai

// =============================================================================================
// Non-chat routes: legacy completions, embeddings, images.

namespace infergate::api::openai {
namespace {

using nlohmann::json;

bool check_optional_string(const json& body, const char* key, std::size_t max_bytes, Error& err) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_string()) return fail(err, std::string("'") + key + "' must be a string", key);
  if (it->get_ref<const std::string&>().size() > max_bytes)
    return fail(err, std::string("'") + key + "' is too long", key);
  return true;
}

bool check_optional_bool(const json& body, const char* key, Error& err) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null() || it->is_boolean()) return true;
  return fail(err, std::string("'") + key + "' must be a boolean", key);
}

// An integer in [lo, hi] when present.
bool check_int_range(const json& body, const char* key, std::int64_t lo, std::int64_t hi,
                     Error& err) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_number_integer())
    return fail(err, std::string("'") + key + "' must be an integer", key);
  const auto v = it->get<std::int64_t>();
  if (v < lo || v > hi)
    return fail(err,
                std::string("'") + key + "' must be between " + std::to_string(lo) + " and " +
                    std::to_string(hi),
                key);
  return true;
}

bool parse_json_object(std::string_view body, json& j, Error& err) {
  j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    err = Error::make(ErrorKind::invalid_request,
                      "We could not parse the JSON body of your request: it is not valid JSON.", "",
                      "invalid_json");
    return false;
  }
  if (!j.is_object()) return fail(err, "The request body must be a JSON object", "");
  return true;
}

bool check_model(const json& j, Error& err) {
  auto model = j.find("model");
  if (model == j.end()) return fail(err, "'model' is a required property", "model");
  if (!model->is_string() || model->get_ref<const std::string&>().empty())
    return fail(err, "'model' must be a non-empty string", "model");
  return true;
}

// A token array: non-empty, at most `max` non-negative integer ids.
bool check_token_array(const json& a, const std::string& where, std::size_t max, Error& err) {
  if (a.empty()) return fail(err, "'" + where + "' must not be empty", where);
  if (a.size() > max) return fail(err, "'" + where + "' has too many tokens", where);
  for (const auto& t : a) {
    if (!t.is_number_integer() || t.get<std::int64_t>() < 0 || t.get<std::int64_t>() > 0x7fffffff)
      return fail(err, "'" + where + "' must hold non-negative integer token ids", where);
  }
  return true;
}

// string | string[] | int[] | int[][] (the shape shared by completions `prompt` and embeddings
// `input`). Text entries go to `texts` when given.
bool check_text_or_tokens(const json& v, const char* key, bool allow_empty_string,
                          std::size_t max_entries, std::size_t max_tokens, std::size_t max_bytes,
                          std::vector<std::string>* texts, Error& err) {
  const std::string k = key;
  const std::string shape = "'" + k +
                            "' must be a string, an array of strings, an array of token ids or an "
                            "array of token-id arrays";
  auto check_string = [&](const json& s, const std::string& where) {
    const auto& str = s.get_ref<const std::string&>();
    if (!allow_empty_string && str.empty())
      return fail(err, "'" + where + "' must not be an empty string", where);
    if (str.size() > max_bytes) return fail(err, "'" + where + "' is too long", where);
    if (texts) texts->push_back(str);
    return true;
  };
  if (v.is_string()) return check_string(v, k);
  if (!v.is_array()) return fail(err, shape, k);
  if (v.empty()) return fail(err, "'" + k + "' must not be an empty array", k);
  if (v.size() > max_entries)
    return fail(err, "'" + k + "' may hold at most " + std::to_string(max_entries) + " entries", k);
  const auto& first = v.front();
  if (first.is_number_integer()) return check_token_array(v, k, max_tokens, err);
  std::size_t i = 0;
  for (const auto& e : v) {
    const std::string where = k + "[" + std::to_string(i++) + "]";
    if (first.is_string()) {
      if (!e.is_string()) return fail(err, shape, where);
      if (!check_string(e, where)) return false;
    } else if (first.is_array()) {
      if (!e.is_array()) return fail(err, shape, where);
      if (!check_token_array(e, where, max_tokens, err)) return false;
    } else {
      return fail(err, shape, where);
    }
  }
  return true;
}

bool check_stop(const json& j, Error& err) {
  auto stop = j.find("stop");
  if (stop == j.end() || stop->is_null()) return true;
  if (stop->is_array()) {
    if (stop->size() > kMaxStopSequences)
      return fail(err, "'stop' may hold at most 16 sequences", "stop");
    for (const auto& s : *stop)
      if (!s.is_string())
        return fail(err, "'stop' must be a string or an array of strings", "stop");
    return true;
  }
  if (!stop->is_string())
    return fail(err, "'stop' must be a string or an array of strings", "stop");
  return true;
}

void append_completion_usage(std::string& out, const Usage& u) {
  out += "{\"prompt_tokens\":";
  out += std::to_string(u.prompt_tokens);
  out += ",\"completion_tokens\":";
  out += std::to_string(u.completion_tokens);
  out += ",\"total_tokens\":";
  out += std::to_string(u.prompt_tokens + u.completion_tokens);
  out += '}';
}

// Shortest round-trip text of a float; non-finite values (not JSON) become 0.
void append_float(std::string& out, float f) {
  if (!std::isfinite(f)) f = 0.0f;
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f);
  if (ec != std::errc()) {
    out += '0';
    return;
  }
  out.append(buf, end);
}

}  // namespace

bool parse_completion_request(std::string_view body, ChatRequest& out, Error& err) {
  json j;
  if (!parse_json_object(body, j, err) || !check_model(j, err)) return false;
  auto prompt = j.find("prompt");
  if (prompt == j.end() || prompt->is_null())
    return fail(err, "'prompt' is a required property", "prompt");
  if (!check_text_or_tokens(*prompt, "prompt", /*allow_empty_string=*/true, kMaxPrompts,
                            kMaxPromptTokens, kMaxPromptTokens * 8, nullptr, err))
    return false;

  bool stream = false;
  if (auto s = j.find("stream"); s != j.end() && !s->is_null()) {
    if (!s->is_boolean()) return fail(err, "'stream' must be a boolean", "stream");
    stream = s->get<bool>();
  }
  bool include_usage = false;
  if (auto so = j.find("stream_options"); so != j.end() && !so->is_null()) {
    if (!so->is_object()) return fail(err, "'stream_options' must be an object", "stream_options");
    if (!stream)
      return fail(err, "'stream_options' is only allowed when 'stream' is true", "stream_options");
    if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
      if (!iu->is_boolean())
        return fail(err, "'stream_options.include_usage' must be a boolean",
                    "stream_options.include_usage");
      include_usage = iu->get<bool>();
    }
  }
  if (!check_number(j, "temperature", 0, 2, err) || !check_number(j, "top_p", 0, 1, err) ||
      !check_number(j, "presence_penalty", -2, 2, err) ||
      !check_number(j, "frequency_penalty", -2, 2, err) ||
      !check_int_range(j, "max_tokens", 0, 1 << 24, err) || !check_positive_int(j, "n", 128, err) ||
      !check_positive_int(j, "best_of", 20, err) || !check_int_range(j, "logprobs", 0, 5, err) ||
      !check_optional_bool(j, "echo", err) || !check_optional_string(j, "suffix", 1 << 20, err) ||
      !check_optional_string(j, "user", 256, err) || !check_stop(j, err)) {
    return false;
  }
  if (auto seed = j.find("seed"); seed != j.end() && !seed->is_null() && !seed->is_number_integer())
    return fail(err, "'seed' must be an integer", "seed");
  if (auto lb = j.find("logit_bias"); lb != j.end() && !lb->is_null()) {
    if (!lb->is_object()) return fail(err, "'logit_bias' must be an object", "logit_bias");
    if (lb->size() > 1024) return fail(err, "'logit_bias' has too many entries", "logit_bias");
  }
  if (auto bo = j.find("best_of"); bo != j.end() && bo->is_number_integer()) {
    auto n = j.find("n");
    if (n != j.end() && n->is_number_integer() && n->get<std::int64_t>() > bo->get<std::int64_t>())
      return fail(err, "'best_of' must be greater than or equal to 'n'", "best_of");
    if (stream && bo->get<std::int64_t>() > 1)
      return fail(err, "'best_of' cannot be used with 'stream'", "best_of");
  }

  out.kind = ChatRequest::Kind::text_completion;
  out.model = j["model"].get<std::string>();
  out.stream = stream;
  out.include_usage = include_usage;
  out.body = std::move(j);
  return true;
}

std::string render_text_completion(const ChatResponse& r, std::string_view model) {
  std::string out;
  std::size_t size = 256;
  for (const auto& c : r.choices) size += c.content.size() + 96;
  out.reserve(size);
  out += "{\"id\":";
  append_json_string(out, r.id);
  out += ",\"object\":\"text_completion\",\"created\":";
  out += std::to_string(r.created);
  out += ",\"model\":";
  append_json_string(out, model);
  out += ",\"choices\":[";
  bool first = true;
  for (const auto& c : r.choices) {
    if (!first) out += ',';
    first = false;
    out += "{\"text\":";
    append_json_string(out, c.content);
    out += ",\"index\":";
    out += std::to_string(c.index);
    out += ",\"logprobs\":null,\"finish_reason\":";
    append_finish(out, c.finish == FinishReason::none ? FinishReason::stop : c.finish);
    out += '}';
  }
  out += "],\"usage\":";
  append_completion_usage(out, r.usage);
  out += '}';
  return out;
}

TextCompletionStreamWriter::TextCompletionStreamWriter(std::string model, std::string id,
                                                       std::int64_t created, bool include_usage)
    : model_(std::move(model)),
      id_(std::move(id)),
      created_(created),
      include_usage_(include_usage) {}

void TextCompletionStreamWriter::open_chunk(std::string& out) const {
  out += "data: {\"id\":";
  append_json_string(out, id_);
  out += ",\"object\":\"text_completion\",\"created\":";
  out += std::to_string(created_);
  out += ",\"model\":";
  append_json_string(out, model_);
  out += ",\"choices\":[";
}

void TextCompletionStreamWriter::append(const Event& ev, std::string& out) {
  switch (ev.type) {
    case Event::Type::start:
      if (!ev.text.empty()) id_ = ev.text;
      if (ev.created != 0) created_ = ev.created;
      return;
    case Event::Type::text:
      if (ev.text.empty()) return;
      open_chunk(out);
      out += "{\"text\":";
      append_json_string(out, ev.text);
      out += ",\"index\":";
      out += std::to_string(ev.choice);
      out += ",\"logprobs\":null,\"finish_reason\":null}]}\n\n";
      return;
    case Event::Type::reasoning:
    case Event::Type::tool_call:
      return;  // not part of the legacy completion object
    case Event::Type::finish:
      open_chunk(out);
      out += "{\"text\":\"\",\"index\":";
      out += std::to_string(ev.choice);
      out += ",\"logprobs\":null,\"finish_reason\":";
      append_finish(out, ev.finish == FinishReason::none ? FinishReason::stop : ev.finish);
      out += "}]}\n\n";
      return;
    case Event::Type::usage:
      if (!include_usage_) return;
      open_chunk(out);
      out += "],\"usage\":";
      append_completion_usage(out, ev.usage);
      out += "}\n\n";
      return;
    case Event::Type::error:
      append_error(ev.error, out);
      return;
  }
}

void TextCompletionStreamWriter::append_done(std::string& out) { out += "data: [DONE]\n\n"; }

void TextCompletionStreamWriter::append_error(const Error& err, std::string& out) {
  out += "data: ";
  out += error_body(err);
  out += "\n\n";
}

bool parse_embeddings_request(std::string_view body, EmbeddingsRequest& out, Error& err) {
  json j;
  if (!parse_json_object(body, j, err) || !check_model(j, err)) return false;
  auto input = j.find("input");
  if (input == j.end() || input->is_null())
    return fail(err, "'input' is a required property", "input");
  std::vector<std::string> texts;
  if (!check_text_or_tokens(*input, "input", /*allow_empty_string=*/false, kMaxEmbeddingInputs,
                            kMaxEmbeddingTokens, kMaxEmbeddingInputBytes, &texts, err))
    return false;
  bool base64 = false;
  if (auto ef = j.find("encoding_format"); ef != j.end() && !ef->is_null()) {
    if (!ef->is_string() || (ef->get_ref<const std::string&>() != "float" &&
                             ef->get_ref<const std::string&>() != "base64"))
      return fail(err, "'encoding_format' must be 'float' or 'base64'", "encoding_format");
    base64 = ef->get_ref<const std::string&>() == "base64";
  }
  if (!check_int_range(j, "dimensions", 1, kMaxEmbeddingDimensions, err) ||
      !check_optional_string(j, "user", 256, err))
    return false;
  out.model = j["model"].get<std::string>();
  out.inputs = std::move(texts);
  out.dimensions.reset();
  if (auto d = j.find("dimensions"); d != j.end() && d->is_number_integer())
    out.dimensions = d->get<int>();
  out.base64 = base64;
  out.body = std::move(j);
  return true;
}

std::size_t embedding_input_count(const json& body) {
  auto input = body.find("input");
  if (input == body.end()) return 0;
  if (input->is_string()) return 1;
  if (!input->is_array() || input->empty()) return 0;
  return input->front().is_number_integer() ? 1 : input->size();
}

std::string render_embeddings(const EmbeddingsResponse& r, std::string_view model, bool base64) {
  std::string out;
  std::size_t size = 128;
  for (const auto& v : r.data) size += 64 + v.size() * (base64 ? 6 : 12);
  out.reserve(size);
  out += "{\"object\":\"list\",\"data\":[";
  std::string raw;
  for (std::size_t i = 0; i < r.data.size(); ++i) {
    if (i) out += ',';
    out += "{\"object\":\"embedding\",\"index\":";
    out += std::to_string(i);
    out += ",\"embedding\":";
    const auto& v = r.data[i];
    if (base64) {
      raw.clear();
      raw.reserve(v.size() * 4);
      for (float f : v) {
        const auto bits = std::bit_cast<std::uint32_t>(f);
        for (int b = 0; b < 4; ++b) raw += static_cast<char>((bits >> (8 * b)) & 0xff);
      }
      out += '"';
      append_base64(out, raw);
      out += '"';
    } else {
      out += '[';
      for (std::size_t k = 0; k < v.size(); ++k) {
        if (k) out += ',';
        append_float(out, v[k]);
      }
      out += ']';
    }
    out += '}';
  }
  out += "],\"model\":";
  append_json_string(out, model);
  out += ",\"usage\":{\"prompt_tokens\":";
  out += std::to_string(r.usage.prompt_tokens);
  out += ",\"total_tokens\":";
  out += std::to_string(r.usage.prompt_tokens + r.usage.completion_tokens);
  out += "}}";
  return out;
}

bool parse_image_request(std::string_view body, ImageRequest& out, Error& err) {
  json j;
  if (!parse_json_object(body, j, err) || !check_model(j, err)) return false;
  auto prompt = j.find("prompt");
  if (prompt == j.end() || prompt->is_null())
    return fail(err, "'prompt' is a required property", "prompt");
  if (!prompt->is_string()) return fail(err, "'prompt' must be a string", "prompt");
  if (prompt->get_ref<const std::string&>().empty())
    return fail(err, "'prompt' must not be empty", "prompt");
  if (prompt->get_ref<const std::string&>().size() > kMaxImagePromptBytes)
    return fail(err, "'prompt' is too long: the limit is 32000 characters", "prompt");
  if (!check_int_range(j, "n", 1, kMaxImages, err)) return false;
  int width = 0, height = 0;
  if (auto size = j.find("size"); size != j.end() && !size->is_null()) {
    if (!size->is_string()) return fail(err, "'size' must be a string such as '1024x1024'", "size");
    const auto& s = size->get_ref<const std::string&>();
    if (s != "auto") {
      const auto x = s.find('x');
      auto number = [](std::string_view t, int& v) {
        if (t.empty() || t.size() > 5) return false;
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        return ec == std::errc() && end == t.data() + t.size();
      };
      if (x == std::string::npos || !number(std::string_view(s).substr(0, x), width) ||
          !number(std::string_view(s).substr(x + 1), height) || width < 1 || height < 1 ||
          width > kMaxImageSide || height > kMaxImageSide)
        return fail(err, "'size' must be 'auto' or 'WIDTHxHEIGHT' with sides 1 to 8192", "size");
    }
  }
  bool want_url = false;
  if (auto rf = j.find("response_format"); rf != j.end() && !rf->is_null()) {
    if (!rf->is_string() || (rf->get_ref<const std::string&>() != "url" &&
                             rf->get_ref<const std::string&>() != "b64_json"))
      return fail(err, "'response_format' must be 'url' or 'b64_json'", "response_format");
    want_url = rf->get_ref<const std::string&>() == "url";
  }
  for (const char* key : {"quality", "style", "output_format", "background", "moderation"})
    if (!check_optional_string(j, key, 64, err)) return false;
  if (!check_optional_string(j, "user", 256, err) ||
      !check_optional_string(j, "negative_prompt", kMaxImagePromptBytes, err) ||
      !check_int_range(j, "num_inference_steps", 1, 500, err) ||
      !check_number(j, "guidance_scale", 0, 100, err) ||
      !check_int_range(j, "output_compression", 0, 100, err))
    return false;
  if (auto seed = j.find("seed"); seed != j.end() && !seed->is_null() && !seed->is_number_integer())
    return fail(err, "'seed' must be an integer", "seed");

  out.model = j["model"].get<std::string>();
  out.prompt = prompt->get<std::string>();
  out.n = 1;
  if (auto n = j.find("n"); n != j.end() && n->is_number_integer()) out.n = n->get<int>();
  out.width = width;
  out.height = height;
  out.want_url = want_url;
  out.negative_prompt.clear();
  if (auto np = j.find("negative_prompt"); np != j.end() && np->is_string())
    out.negative_prompt = np->get<std::string>();
  out.seed.reset();
  if (auto seed = j.find("seed"); seed != j.end() && seed->is_number_integer())
    out.seed = seed->get<std::int64_t>();
  out.steps.reset();
  if (auto st = j.find("num_inference_steps"); st != j.end() && st->is_number_integer())
    out.steps = st->get<int>();
  out.guidance_scale.reset();
  if (auto g = j.find("guidance_scale"); g != j.end() && g->is_number())
    out.guidance_scale = g->get<double>();
  out.body = std::move(j);
  return true;
}

std::string render_images(const ImageResponse& r, bool want_url) {
  std::string out;
  std::size_t size = 128;
  for (const auto& im : r.images) size += im.bytes.size() * 4 / 3 + im.url.size() + 128;
  out.reserve(size);
  out += "{\"created\":";
  out += std::to_string(r.created);
  out += ",\"data\":[";
  std::string encoded;
  for (std::size_t i = 0; i < r.images.size(); ++i) {
    const auto& im = r.images[i];
    if (i) out += ',';
    out += '{';
    if (!im.bytes.empty() && !(want_url && !im.url.empty())) {
      encoded.clear();
      append_base64(encoded, im.bytes);
      if (want_url) {
        out += "\"url\":\"data:";
        out += im.content_type.empty() ? "image/png" : im.content_type;
        out += ";base64,";
        out += encoded;
        out += '"';
      } else {
        out += "\"b64_json\":\"";
        out += encoded;
        out += '"';
      }
    } else {
      out += "\"url\":";
      append_json_string(out, im.url);
    }
    if (!im.revised_prompt.empty()) {
      out += ",\"revised_prompt\":";
      append_json_string(out, im.revised_prompt);
    }
    out += '}';
  }
  out += ']';
  if (r.usage.reported) {
    out += ",\"usage\":{\"input_tokens\":";
    out += std::to_string(r.usage.prompt_tokens);
    out += ",\"output_tokens\":";
    out += std::to_string(r.usage.completion_tokens);
    out += ",\"total_tokens\":";
    out += std::to_string(r.usage.prompt_tokens + r.usage.completion_tokens);
    out += '}';
  }
  out += '}';
  return out;
}

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  out.reserve(out.size() + (n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < n) {
    std::uint32_t v = std::uint32_t{p[i]} << 16;
    if (i + 1 < n) v |= std::uint32_t{p[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
}

}  // namespace infergate::api::openai
