#include "mock_openai.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>

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

// inspect=1, OpenAI's wire format ("Chat > Create chat completion", request body `messages`):
// a tool message {"role":"tool","tool_call_id","content"} is a tool result; a user content part
// {"type":"image_url","image_url":{"url":"data:<media type>;base64,<data>"}} is an image.
void inspect_message(const nlohmann::json& m, const nlohmann::json& role,
                     const nlohmann::json& content, const std::string& text,
                     std::vector<std::string>& seen) {
  if (role == "tool") {
    auto id = m.find("tool_call_id");
    seen.push_back(describe_tool_result(
        id != m.end() && id->is_string() ? id->get_ref<const std::string&>() : "(no tool_call_id)",
        text));
    return;
  }
  if (!content.is_array()) return;
  for (const auto& part : content) {
    if (!part.is_object() || part.value("type", "") != "image_url") continue;
    auto iu = part.find("image_url");
    if (iu == part.end() || !iu->is_object() || !iu->contains("url") || !(*iu)["url"].is_string()) {
      seen.emplace_back("image_url without url");
      continue;
    }
    const std::string& url = (*iu)["url"].get_ref<const std::string&>();
    constexpr std::string_view kMarker = ";base64,";
    const auto marker = url.find(kMarker);
    std::string bytes;
    if (url.rfind("data:", 0) != 0 || marker == std::string::npos ||
        !base64_decode(std::string_view(url).substr(marker + kMarker.size()), bytes)) {
      seen.push_back("image_url " + url.substr(0, 100));
      continue;
    }
    seen.push_back(describe_image(url.substr(5, marker - 5), bytes));
  }
}

}  // namespace

std::string describe_tool_result(std::string_view id_or_name, std::string_view content) {
  std::string out = "tool_result ";
  out += id_or_name;
  out += ' ';
  out += content;
  return out;
}

std::string describe_image(std::string_view media_type, std::string_view bytes) {
  std::uint32_t h = 2166136261u;  // FNV-1a, 32 bits
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", h);
  std::string out = "image ";
  out += media_type;
  out += ' ';
  append_int(out, static_cast<std::int64_t>(bytes.size()));
  out += " bytes fnv1a=";
  out += hash;
  return out;
}

std::string inspection_text(const std::vector<std::string>& items) {
  if (items.empty()) return "saw: nothing";
  std::string out = "saw:";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += i == 0 ? " " : "; ";
    out += items[i];
  }
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v = -1;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    if (ch == '+') v = 62;
    if (ch == '/') v = 63;
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return bits < 6;  // one leftover base64 digit cannot encode a byte
}

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
                                 {"echo", &b.echo},
                                 {"b64_only", &b.b64_only},
                                 {"parallel_tools", &b.parallel_tools},
                                 {"inspect", &b.inspect}};
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
  std::vector<std::string> seen;  // for inspect=1
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
    inspect_message(m, *role, *content, text, seen);
  }
  call.inspection = inspection_text(seen);

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
  if (b.tool_call || b.parallel_tools) {
    a.tool_call = true;
    a.parallel = b.parallel_tools;
    a.finish_reason = "tool_calls";
    a.completion_tokens = static_cast<std::int64_t>(a.events());
    return a;
  }
  if (b.echo || b.inspect) {
    // Pieces start at word starts, so their concatenation is exactly the text.
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
    out += "}}";
    if (answer.parallel) {
      args.clear();
      for (auto f : kTool2ArgumentFragments) args += f;
      out += R"(,{"id":)";
      append_json_string(out, kToolCallId2);
      out += R"(,"type":"function","function":{"name":)";
      append_json_string(out, kToolName2);
      out += R"(,"arguments":)";
      append_json_string(out, args);
      out += "}}";
    }
    out += ']';
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

// Parallel calls stream one after the other, each opened by a delta with its index, id, type and
// name, then its argument fragments under the same index ("Chat > The chat completion chunk
// object": choices[].delta.tool_calls[] with index, id, type, function.name/arguments).
void ChunkWriter::event(std::size_t i, std::string& out) const {
  open(out);
  constexpr std::size_t n1 = kToolArgumentFragments.size();
  if (answer_.tool_call && i == n1) {
    out += R"({"tool_calls":[{"index":1,"id":)";
    append_json_string(out, kToolCallId2);
    out += R"(,"type":"function","function":{"name":)";
    append_json_string(out, kToolName2);
    out += R"(,"arguments":""}}]})";
  } else if (answer_.tool_call && i > n1) {
    out += R"({"tool_calls":[{"index":1,"function":{"arguments":)";
    append_json_string(out, kTool2ArgumentFragments[i - n1 - 1]);
    out += "}}]}";
  } else if (answer_.tool_call) {
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

// ---------------------------------------------------------------------------------------------
// Non-chat routes. An independent reading of OpenAI's API reference ("Embeddings", "Images",
// "Completions (legacy)"); no code shared with the gateway.

namespace {

// Text or token-array inputs (string | string[] | int[] | int[][]) as strings; token arrays
// become their ids joined by spaces. `words` counts whitespace words and token ids.
std::optional<BadRequest> text_inputs(const nlohmann::json& v, const char* key, bool allow_empty,
                                      std::vector<std::string>& out, std::int64_t& words) {
  const std::string k = key;
  auto token_array = [&](const nlohmann::json& a,
                         const std::string& where) -> std::optional<BadRequest> {
    if (a.empty() || a.size() > 100000) return BadRequest{"Invalid '" + where + "'.", where};
    std::string text;
    for (const auto& t : a) {
      if (!t.is_number_integer() || t.get<std::int64_t>() < 0)
        return BadRequest{"Invalid '" + where + "': expected token ids.", where};
      if (!text.empty()) text += ' ';
      text += std::to_string(t.get<std::int64_t>());
    }
    words += static_cast<std::int64_t>(a.size());
    out.push_back(std::move(text));
    return std::nullopt;
  };
  if (v.is_string()) {
    if (!allow_empty && v.get_ref<const std::string&>().empty())
      return BadRequest{"'" + k + "' cannot be an empty string.", k};
    words += count_words(v.get_ref<const std::string&>());
    out.push_back(v.get<std::string>());
    return std::nullopt;
  }
  if (!v.is_array() || v.empty() || v.size() > kMaxMockInputs)
    return BadRequest{"Invalid type for '" + k + "'.", k};
  if (v.front().is_number_integer()) return token_array(v, k);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string where = k + "[" + std::to_string(i) + "]";
    const auto& e = v[i];
    if (e.is_string()) {
      if (!allow_empty && e.get_ref<const std::string&>().empty())
        return BadRequest{"'" + where + "' cannot be an empty string.", where};
      words += count_words(e.get_ref<const std::string&>());
      out.push_back(e.get<std::string>());
    } else if (e.is_array()) {
      if (auto bad = token_array(e, where)) return bad;
    } else {
      return BadRequest{"Invalid type for '" + where + "'.", where};
    }
  }
  return std::nullopt;
}

std::optional<BadRequest> model_of(const nlohmann::json& doc, std::string& model) {
  auto m = doc.find("model");
  if (m == doc.end() || !m->is_string() || m->get_ref<const std::string&>().empty())
    return BadRequest{"you must provide a model parameter", "model"};
  model = m->get<std::string>();
  return std::nullopt;
}

const BadRequest kNotJson{"We could not parse the JSON body of your request.", ""};

}  // namespace

std::optional<BadRequest> parse_embeddings(std::string_view body, EmbeddingsCall& call) {
  call = EmbeddingsCall{};
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return kNotJson;
  if (auto bad = model_of(doc, call.model)) return bad;
  auto input = doc.find("input");
  if (input == doc.end()) return BadRequest{"Missing required parameter: 'input'.", "input"};
  if (auto bad = text_inputs(*input, "input", false, call.inputs, call.prompt_tokens)) return bad;
  if (auto ef = doc.find("encoding_format"); ef != doc.end() && !ef->is_null()) {
    if (!ef->is_string() || (*ef != "float" && *ef != "base64"))
      return BadRequest{"Invalid value for 'encoding_format'.", "encoding_format"};
    call.base64 = *ef == "base64";
  }
  if (auto d = doc.find("dimensions"); d != doc.end() && !d->is_null()) {
    if (!d->is_number_integer() || d->get<std::int64_t>() < 1 ||
        d->get<std::int64_t>() > kMaxEmbeddingDims)
      return BadRequest{"Invalid value for 'dimensions'.", "dimensions"};
    call.dims = d->get<int>();
  }
  return std::nullopt;
}

std::vector<float> embedding_for(std::string_view text, int dims) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  std::vector<float> v(static_cast<std::size_t>(std::max(1, dims)));
  double norm = 0;
  for (auto& x : v) {
    h += 0x9e3779b97f4a7c15ull;  // splitmix64
    std::uint64_t z = h;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    x = static_cast<float>(static_cast<double>(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    norm += static_cast<double>(x) * x;
  }
  norm = std::sqrt(norm);
  if (norm > 0)
    for (auto& x : v) x = static_cast<float>(x / norm);
  return v;
}

std::string base64(std::string_view bytes) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    for (int sh : {18, 12, 6, 0}) out += k[(v >> sh) & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t v = std::uint32_t{p[i]} << 16;
    if (i + 1 < bytes.size()) v |= std::uint32_t{p[i + 1]} << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string embeddings_body(const EmbeddingsCall& call) {
  std::string out = R"({"object":"list","data":[)";
  char buf[32];
  for (std::size_t i = 0; i < call.inputs.size(); ++i) {
    if (i) out += ',';
    out += R"({"object":"embedding","index":)";
    append_int(out, static_cast<std::int64_t>(i));
    out += R"(,"embedding":)";
    const auto v = embedding_for(call.inputs[i], call.dims);
    if (call.base64) {
      std::string raw;
      for (float f : v) {
        const auto bits = std::bit_cast<std::uint32_t>(f);
        for (int b = 0; b < 4; ++b) raw += static_cast<char>((bits >> (8 * b)) & 0xff);
      }
      out += '"';
      out += base64(raw);
      out += '"';
    } else {
      out += '[';
      for (std::size_t k = 0; k < v.size(); ++k) {
        if (k) out += ',';
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v[k]);
        (void)ec;
        out.append(buf, end);
      }
      out += ']';
    }
    out += '}';
  }
  out += R"(],"model":)";
  append_json_string(out, call.model);
  out += R"(,"usage":{"prompt_tokens":)";
  append_int(out, call.prompt_tokens);
  out += R"(,"total_tokens":)";
  append_int(out, call.prompt_tokens);
  out += "}}";
  return out;
}

std::optional<BadRequest> parse_image(std::string_view body, ImageCall& call) {
  call = ImageCall{};
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return kNotJson;
  if (auto bad = model_of(doc, call.model)) return bad;
  auto prompt = doc.find("prompt");
  if (prompt == doc.end() || !prompt->is_string() || prompt->get_ref<const std::string&>().empty())
    return BadRequest{"Missing required parameter: 'prompt'.", "prompt"};
  call.prompt = prompt->get<std::string>();
  if (auto n = doc.find("n"); n != doc.end() && !n->is_null()) {
    if (!n->is_number_integer() || n->get<std::int64_t>() < 1 || n->get<std::int64_t>() > 10)
      return BadRequest{"Invalid value for 'n': expected 1 to 10.", "n"};
    call.n = n->get<int>();
  }
  if (auto rf = doc.find("response_format"); rf != doc.end() && !rf->is_null()) {
    if (!rf->is_string() || (*rf != "url" && *rf != "b64_json"))
      return BadRequest{"Invalid value for 'response_format'.", "response_format"};
    call.url = *rf == "url";
  }
  if (auto sz = doc.find("size"); sz != doc.end() && !sz->is_null() && !sz->is_string())
    return BadRequest{"Invalid type for 'size'.", "size"};
  return std::nullopt;
}

std::string_view tiny_png() {
  // 1x1 8-bit greyscale, one black pixel: IHDR, IDAT (zlib of filter byte + pixel), IEND, with
  // their CRCs (checked by the unit test against a decoder-free CRC-32).
  static constexpr char kPng[] =
      "\x89PNG\r\n\x1a\n"
      "\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00\x3a\x7e\x9b\x55"
      "\x00\x00\x00\x0aIDAT\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01\x48\xaf\xa4\x71"
      "\x00\x00\x00\x00IEND\xae\x42\x60\x82";
  return {kPng, sizeof kPng - 1};
}

std::string images_body(const ImageCall& call, std::string_view base, std::int64_t created) {
  std::string out = R"({"created":)";
  append_int(out, created);
  out += R"(,"data":[)";
  const std::string b64 = base64(tiny_png());
  for (int i = 0; i < call.n; ++i) {
    if (i) out += ',';
    if (call.url) {
      out += R"({"url":)";
      append_json_string(out, std::string(base) + std::string(kImagePath));
    } else {
      out += R"({"b64_json":")";
      out += b64;
      out += '"';
    }
    out += R"(,"revised_prompt":)";
    append_json_string(out, "mock: " + call.prompt.substr(0, 200));
    out += '}';
  }
  const std::int64_t words = count_words(call.prompt);
  out += R"(],"usage":{"total_tokens":)";
  append_int(out, words + 16 * call.n);
  out += R"(,"input_tokens":)";
  append_int(out, words);
  out += R"(,"output_tokens":)";
  append_int(out, 16 * call.n);
  out += R"(,"input_tokens_details":{"text_tokens":)";
  append_int(out, words);
  out += R"(,"image_tokens":0}}})";
  return out;
}

std::optional<BadRequest> parse_completion(std::string_view body, CompletionCall& call) {
  call = CompletionCall{};
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return kNotJson;
  if (auto bad = model_of(doc, call.model)) return bad;
  auto prompt = doc.find("prompt");
  if (prompt == doc.end()) return BadRequest{"Missing required parameter: 'prompt'.", "prompt"};
  std::vector<std::string> prompts;
  if (auto bad = text_inputs(*prompt, "prompt", true, prompts, call.prompt_tokens)) return bad;
  if (!prompts.empty()) call.prompt = prompts.front();
  if (auto s = doc.find("stream"); s != doc.end() && !s->is_null()) {
    if (!s->is_boolean()) return BadRequest{"Invalid type for 'stream'.", "stream"};
    call.stream = s->get<bool>();
  }
  if (auto so = doc.find("stream_options"); so != doc.end() && so->is_object()) {
    if (auto iu = so->find("include_usage"); iu != so->end() && iu->is_boolean())
      call.include_usage = iu->get<bool>();
  }
  if (auto e = doc.find("echo"); e != doc.end() && e->is_boolean()) call.echo = e->get<bool>();
  if (auto mt = doc.find("max_tokens"); mt != doc.end() && !mt->is_null()) {
    if (!mt->is_number_integer() || mt->get<std::int64_t>() < 0)
      return BadRequest{"Invalid 'max_tokens': expected an integer >= 0.", "max_tokens"};
    call.max_tokens = mt->get<std::int64_t>();
  }
  return std::nullopt;
}

Answer plan_completion(const CompletionCall& call, const Behaviour& b) {
  ChatCall chat;
  chat.model = call.model;
  chat.prompt_tokens = call.prompt_tokens;
  chat.max_tokens = call.max_tokens;
  Behaviour plain = b;
  plain.tool_call = false;
  plain.parallel_tools = false;
  plain.echo = false;
  plain.inspect = false;
  Answer a = plan_answer(chat, plain);
  if (call.echo) a.pieces.insert(a.pieces.begin(), call.prompt);  // echo: the prompt comes first
  return a;
}

std::string text_completion_body(const CompletionCall& call, const Answer& answer,
                                 std::string_view id, std::int64_t created) {
  std::string text;
  for (const auto& p : answer.pieces) text += p;
  std::string out = R"({"id":)";
  append_json_string(out, id);
  out += R"(,"object":"text_completion","created":)";
  append_int(out, created);
  out += R"(,"model":)";
  append_json_string(out, call.model);
  out += R"(,"system_fingerprint":"fp_mock","choices":[{"text":)";
  append_json_string(out, text);
  out += R"(,"index":0,"logprobs":null,"finish_reason":)";
  append_json_string(out, answer.finish_reason);
  out += "}]";
  if (answer.usage) {
    out += R"(,"usage":{"prompt_tokens":)";
    append_int(out, answer.prompt_tokens);
    out += R"(,"completion_tokens":)";
    append_int(out, answer.completion_tokens);
    out += R"(,"total_tokens":)";
    append_int(out, answer.prompt_tokens + answer.completion_tokens);
    out += '}';
  }
  out += '}';
  return out;
}

void text_completion_chunk(const CompletionCall& call, std::string_view id, std::int64_t created,
                           std::string_view text, std::string_view finish_reason,
                           std::string& out) {
  out += R"(data: {"id":)";
  append_json_string(out, id);
  out += R"(,"object":"text_completion","created":)";
  append_int(out, created);
  out += R"(,"choices":[{"text":)";
  append_json_string(out, text);
  out += R"(,"index":0,"logprobs":null,"finish_reason":)";
  append_nullable_string(out, finish_reason);
  out += R"(}],"model":)";
  append_json_string(out, call.model);
  out += R"(,"system_fingerprint":"fp_mock"})";
  out += "\n\n";
}

void text_completion_usage_chunk(const CompletionCall& call, const Answer& answer,
                                 std::string_view id, std::int64_t created, std::string& out) {
  if (!call.include_usage || !answer.usage) return;
  out += R"(data: {"id":)";
  append_json_string(out, id);
  out += R"(,"object":"text_completion","created":)";
  append_int(out, created);
  out += R"(,"choices":[],"model":)";
  append_json_string(out, call.model);
  out += R"(,"usage":{"prompt_tokens":)";
  append_int(out, answer.prompt_tokens);
  out += R"(,"completion_tokens":)";
  append_int(out, answer.completion_tokens);
  out += R"(,"total_tokens":)";
  append_int(out, answer.prompt_tokens + answer.completion_tokens);
  out += "}}\n\n";
}

}  // namespace infergate::mock
