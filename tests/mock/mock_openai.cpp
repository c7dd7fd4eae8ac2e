#include "mock_openai.hpp"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

namespace infergate::mock {
namespace {

bool parse_int(std::string_view s, int lo, int hi, int& out) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// Appends a message's text: a string, or the text parts of an array of content parts.
void append_content_text(const nlohmann::json& content, std::string& out) {
  if (content.is_string()) {
    out += content.get_ref<const std::string&>();
    return;
  }
  if (!content.is_array()) return;
  bool first = true;
  for (const auto& part : content) {
    if (!part.is_object()) continue;
    auto text = part.find("text");
    if (text == part.end() || !text->is_string()) continue;
    if (!first) out += '\n';
    out += text->get_ref<const std::string&>();
    first = false;
  }
}

void append_usage(std::string& out, const Answer& a) {
  out += R"({"prompt_tokens":)";
  append_int(out, a.prompt_tokens);
  out += R"(,"completion_tokens":)";
  append_int(out, a.completion_tokens);
  out += R"(,"total_tokens":)";
  append_int(out, a.prompt_tokens + a.completion_tokens);
  out += R"(,"prompt_tokens_details":{"cached_tokens":)";
  append_int(out, a.cached_tokens);
  out += R"(,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,)"
         R"("audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}})";
}

void append_nullable_string(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += "null";
  } else {
    append_json_string(out, s);
  }
}

}  // namespace

std::string apply_behaviour(std::string_view spec, Behaviour& b) {
  while (!spec.empty()) {
    auto amp = spec.find('&');
    std::string_view item = spec.substr(0, amp);
    spec = amp == std::string_view::npos ? std::string_view{} : spec.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos) return "behaviour '" + std::string(item) + "' has no value";
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    struct IntKey {
      std::string_view name;
      int* field;
      int lo;
      int hi;
    };
    const IntKey int_keys[] = {
        {"latency_ms", &b.latency_ms, 0, kMaxDelayMs},
        {"tokens", &b.tokens, 0, kMaxBehaviourTokens},
        {"token_delay_ms", &b.token_delay_ms, 0, kMaxDelayMs},
        {"fail", &b.fail, 0, kMaxFailCount},
        {"fail_status", &b.fail_status, 400, 599},
        {"retry_after", &b.retry_after_s, 0, 86400},
        {"reset_after", &b.reset_after, 0, kMaxBehaviourTokens},
        {"stall_after", &b.stall_after, 0, kMaxBehaviourTokens},
        {"cached_tokens", &b.cached_tokens, 0, 1 << 30},
    };
    struct BoolKey {
      std::string_view name;
      bool* field;
    };
    const BoolKey bool_keys[] = {{"stall", &b.stall},
                                 {"malformed", &b.malformed},
                                 {"tool_call", &b.tool_call},
                                 {"usage", &b.usage},
                                 {"echo", &b.echo}};
    bool known = false;
    for (const auto& k : int_keys) {
      if (k.name != key) continue;
      known = true;
      if (!parse_int(value, k.lo, k.hi, *k.field)) {
        return "behaviour '" + std::string(key) + "' wants an integer in [" + std::to_string(k.lo) +
               ", " + std::to_string(k.hi) + "]";
      }
    }
    for (const auto& k : bool_keys) {
      if (k.name != key) continue;
      known = true;
      int v = 0;
      if (!parse_int(value, 0, 1, v)) return "behaviour '" + std::string(key) + "' wants 0 or 1";
      *k.field = v == 1;
    }
    if (!known) return "unknown behaviour '" + std::string(key) + "'";
  }
  return {};
}

std::string behaviour_for(std::string_view model, std::string_view header, Behaviour& b) {
  b = Behaviour{};
  if (auto q = model.find('?'); q != std::string_view::npos) {
    if (auto err = apply_behaviour(model.substr(q + 1), b); !err.empty()) return err;
  }
  return apply_behaviour(header, b);
}

std::int64_t count_words(std::string_view text) {
  std::int64_t n = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = is_space(c);
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

std::optional<BadRequest> parse_chat(std::string_view body, ChatCall& call) {
  call = ChatCall{};
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return BadRequest{
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
        ""};
  }
  auto model = doc.find("model");
  if (model == doc.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
    return BadRequest{"you must provide a model parameter", "model"};
  }
  call.model = model->get<std::string>();

  auto messages = doc.find("messages");
  if (messages == doc.end() || !messages->is_array()) {
    return BadRequest{"Invalid type for 'messages': expected an array of objects.", "messages"};
  }
  if (messages->empty()) {
    return BadRequest{"Invalid 'messages': empty array. Expected an array with minimum length 1.",
                      "messages"};
  }
  std::string text;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const auto& m = (*messages)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) {
      return BadRequest{"Invalid type for '" + param + "': expected an object.", param};
    }
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return BadRequest{"Missing required parameter: '" + param + ".role'.", param + ".role"};
    }
    auto content = m.find("content");
    if (content == m.end()) continue;
    if (!content->is_string() && !content->is_array() && !content->is_null()) {
      return BadRequest{"Invalid type for '" + param + ".content': expected a string or an array.",
                        param + ".content"};
    }
    text.clear();
    append_content_text(*content, text);
    call.prompt_tokens += count_words(text);
    if (role->get_ref<const std::string&>() == "user") call.last_user_text = text;
  }

  if (auto s = doc.find("stream"); s != doc.end() && !s->is_null()) {
    if (!s->is_boolean())
      return BadRequest{"Invalid type for 'stream': expected a boolean.", "stream"};
    call.stream = s->get<bool>();
  }
  if (auto so = doc.find("stream_options"); so != doc.end() && !so->is_null()) {
    if (!so->is_object()) {
      return BadRequest{"Invalid type for 'stream_options': expected an object.", "stream_options"};
    }
    if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
      if (!iu->is_boolean()) {
        return BadRequest{"Invalid type for 'stream_options.include_usage': expected a boolean.",
                          "stream_options.include_usage"};
      }
      call.include_usage = iu->get<bool>();
    }
  }
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    auto mt = doc.find(key);
    if (mt == doc.end() || mt->is_null()) continue;
    if (!mt->is_number_integer() || mt->get<std::int64_t>() < 1) {
      return BadRequest{std::string("Invalid '") + key + "': expected an integer >= 1.", key};
    }
    call.max_tokens = mt->get<std::int64_t>();
  }
  return std::nullopt;
}

ErrorShape error_shape(int status) {
  switch (status) {
    case 400:
      return {"invalid_request_error", "", "Mock: invalid request."};
    case 401:
      return {"invalid_request_error", "invalid_api_key", "Incorrect API key provided."};
    case 403:
      return {"permission_error", "permission_denied", "You are not allowed to do this."};
    case 404:
      return {"invalid_request_error", "model_not_found", "The model does not exist."};
    case 408:
      return {"timeout_error", "", "Request timed out."};
    case 409:
      return {"invalid_request_error", "conflict", "Conflict."};
    case 413:
      return {"invalid_request_error", "request_too_large", "Request too large."};
    case 422:
      return {"invalid_request_error", "", "Unprocessable entity."};
    case 429:
      return {"requests", "rate_limit_exceeded", "Rate limit reached for requests."};
    default:
      break;
  }
  if (status >= 500) {
    return {"server_error", "",
            "The server had an error while processing your request. Sorry about that!"};
  }
  return {"invalid_request_error", "", "Mock: request failed."};
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
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
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

std::string error_body(std::string_view message, std::string_view type, std::string_view param,
                       std::string_view code) {
  std::string out = R"({"error":{"message":)";
  append_json_string(out, message);
  out += R"(,"type":)";
  append_json_string(out, type);
  out += R"(,"param":)";
  append_nullable_string(out, param);
  out += R"(,"code":)";
  append_nullable_string(out, code);
  out += "}}";
  return out;
}

Answer plan_answer(const ChatCall& call, const Behaviour& b) {
  Answer a;
  a.usage = b.usage;
  a.prompt_tokens = call.prompt_tokens;
  a.cached_tokens = std::min<std::int64_t>(b.cached_tokens, call.prompt_tokens);
  if (b.tool_call) {
    a.tool_call = true;
    a.finish_reason = "tool_calls";
    a.completion_tokens = static_cast<std::int64_t>(kToolArgumentFragments.size());
    return a;
  }
  if (b.echo) {
    // Pieces start at word starts, so their concatenation is exactly the text.
    std::string_view text = call.last_user_text;
    std::size_t start = 0;
    for (std::size_t i = 1; i < text.size(); ++i) {
      if (!is_space(text[i]) && is_space(text[i - 1])) {
        a.pieces.emplace_back(text.substr(start, i - start));
        start = i;
      }
    }
    if (start < text.size()) a.pieces.emplace_back(text.substr(start));
  } else {
    a.pieces.reserve(static_cast<std::size_t>(b.tokens));
    for (int i = 0; i < b.tokens; ++i) {
      std::string piece = i == 0 ? "tok" : " tok";
      append_int(piece, i);
      a.pieces.push_back(std::move(piece));
    }
  }
  if (call.max_tokens >= 0 && static_cast<std::int64_t>(a.pieces.size()) > call.max_tokens) {
    a.pieces.resize(static_cast<std::size_t>(call.max_tokens));
    a.finish_reason = "length";
  }
  a.completion_tokens = static_cast<std::int64_t>(a.pieces.size());
  return a;
}

std::string completion_body(const ChatCall& call, const Answer& answer, std::string_view id,
                            std::int64_t created) {
  std::string out;
  out.reserve(512);
  out += R"({"id":)";
  append_json_string(out, id);
  out += R"(,"object":"chat.completion","created":)";
  append_int(out, created);
  out += R"(,"model":)";
  append_json_string(out, call.model);
  out += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)";
  if (answer.tool_call) {
    out += "null";
  } else {
    std::string content;
    for (const auto& p : answer.pieces) content += p;
    append_json_string(out, content);
  }
  out += R"(,"refusal":null)";
  if (answer.tool_call) {
    std::string args;
    for (auto f : kToolArgumentFragments) args += f;
    out += R"(,"tool_calls":[{"id":)";
    append_json_string(out, kToolCallId);
    out += R"(,"type":"function","function":{"name":)";
    append_json_string(out, kToolName);
    out += R"(,"arguments":)";
    append_json_string(out, args);
    out += "}}]";
  }
  out += R"(,"annotations":[]},"logprobs":null,"finish_reason":)";
  append_json_string(out, answer.finish_reason);
  out += "}]";
  if (answer.usage) {
    out += R"(,"usage":)";
    append_usage(out, answer);
  }
  out += R"(,"service_tier":"default","system_fingerprint":"fp_mock"})";
  return out;
}

ChunkWriter::ChunkWriter(const ChatCall& call, const Answer& answer, std::string_view id,
                         std::int64_t created)
    : answer_(answer), usage_null_(call.include_usage && answer.usage) {
  prefix_ = R"({"id":)";
  append_json_string(prefix_, id);
  prefix_ += R"(,"object":"chat.completion.chunk","created":)";
  append_int(prefix_, created);
  prefix_ += R"(,"model":)";
  append_json_string(prefix_, call.model);
  prefix_ += R"(,"system_fingerprint":"fp_mock","choices":)";
}

void ChunkWriter::open(std::string& out) const {
  out += "data: ";
  out += prefix_;
  out += R"([{"index":0,"delta":)";
}

void ChunkWriter::close(std::string& out, std::string_view finish_reason) const {
  out += R"(,"logprobs":null,"finish_reason":)";
  append_nullable_string(out, finish_reason);
  out += "}]";
  if (usage_null_) out += R"(,"usage":null)";
  out += "}\n\n";
}

void ChunkWriter::first(std::string& out) const {
  open(out);
  if (answer_.tool_call) {
    out += R"({"role":"assistant","content":null,"tool_calls":[{"index":0,"id":)";
    append_json_string(out, kToolCallId);
    out += R"(,"type":"function","function":{"name":)";
    append_json_string(out, kToolName);
    out += R"(,"arguments":""}}],"refusal":null})";
  } else {
    out += R"({"role":"assistant","content":"","refusal":null})";
  }
  close(out, "");
}

void ChunkWriter::event(std::size_t i, std::string& out) const {
  open(out);
  if (answer_.tool_call) {
    out += R"({"tool_calls":[{"index":0,"function":{"arguments":)";
    append_json_string(out, kToolArgumentFragments[i]);
    out += "}}]}";
  } else {
    out += R"({"content":)";
    append_json_string(out, answer_.pieces[i]);
    out += "}";
  }
  close(out, "");
}

void ChunkWriter::finish(std::string& out) const {
  open(out);
  out += "{}";
  close(out, answer_.finish_reason);
}

void ChunkWriter::usage(std::string& out) const {
  if (!usage_null_) return;
  out += "data: ";
  out += prefix_;
  out += R"([],"usage":)";
  append_usage(out, answer_);
  out += "}\n\n";
}

void ChunkWriter::done(std::string& out) { out += "data: [DONE]\n\n"; }

void ChunkWriter::garbage(std::string& out) { out += "data: {\"id\": not json at all\n\n"; }

}  // namespace infergate::mock
