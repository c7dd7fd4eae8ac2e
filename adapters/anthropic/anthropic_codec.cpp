#include "anthropic_codec.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "infergate/adapters/upstream_error.hpp"
#include "infergate/api/json_text.hpp"

namespace infergate::adapters::anthropic {

namespace {

using json = nlohmann::json;

constexpr std::int64_t kMaxTokenCount = 1'000'000'000'000;  // clamp for upstream token counts

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

const json* member(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string_view string_member(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  return v && v->is_string() ? std::string_view(v->get_ref<const std::string&>())
                             : std::string_view{};
}

bool int_member(const json& obj, std::string_view key, std::int64_t& out) {
  const json* v = member(obj, key);
  if (!v) return false;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    out = u > static_cast<std::uint64_t>(kMaxTokenCount) ? kMaxTokenCount
                                                         : static_cast<std::int64_t>(u);
    return true;
  }
  if (v->is_number_integer()) {
    out = v->get<std::int64_t>();
    return true;
  }
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!(d >= -1e15 && d <= 1e15)) return false;  // also rejects NaN
    out = static_cast<std::int64_t>(d);
    return true;
  }
  return false;
}

std::int64_t clamp_count(std::int64_t v) {
  return v < 0 ? 0 : (v > kMaxTokenCount ? kMaxTokenCount : v);
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

api::Event make_event(api::Event::Type type) {
  api::Event ev;
  ev.type = type;
  return ev;
}

api::Error malformed(std::string_view what) {
  api::Error e =
      api::Error::make(api::ErrorKind::upstream, std::string(what), {}, "upstream_malformed");
  e.retryable = true;
  return e;
}

api::Error bad_request(std::string message, std::string param) {
  return api::Error::make(api::ErrorKind::invalid_request, std::move(message), std::move(param));
}

// ---------------------------------------------------------------------------------------------
// request translation

// A field of the canonical request and whether its value is one the Messages API can express.
// Returns true when the field is unsupported as given.
bool unsupported_value(std::string_view key, const json& v) {
  if (v.is_null()) return false;
  if (key == "n") return !(v.is_number_integer() && v.get<std::int64_t>() == 1);
  if (key == "logprobs" || key == "store") return !(v.is_boolean() && !v.get<bool>());
  if (key == "presence_penalty" || key == "frequency_penalty")
    return !(v.is_number() && v.get<double>() == 0.0);
  if (key == "logit_bias") return !(v.is_object() && v.empty());
  if (key == "response_format") return string_member(v, "type") != "text";
  if (key == "parallel_tool_calls") return !v.is_boolean();
  return true;
}

// Canonical fields that need no Anthropic counterpart: the gateway or the Messages API already
// does what they ask.
bool ignored_field(std::string_view key) { return key == "stream_options"; }

// Anthropic-native fields passed through unchanged (a client of the Anthropic dialect may send
// them; they have no OpenAI counterpart).
bool passthrough_field(std::string_view key) {
  return key == "top_k" || key == "thinking" || key == "container" || key == "mcp_servers" ||
         key == "context_management";
}

// Fields whose value decides whether they are expressible (see unsupported_value).
bool value_checked_field(std::string_view key) {
  return key == "n" || key == "logprobs" || key == "store" || key == "presence_penalty" ||
         key == "frequency_penalty" || key == "logit_bias" || key == "response_format";
}

struct Translator {
  std::vector<json> system;  // text blocks
  bool system_cache_control = false;
  json messages = json::array();
  api::Error err;
  bool failed = false;

  static const json& content_of(const json& m) {
    static const json kNull;
    const json* c = member(m, "content");
    return c ? *c : kNull;
  }

  bool fail(std::string message, std::string param) {
    err = bad_request(std::move(message), std::move(param));
    failed = true;
    return false;
  }

  // Appends `block` to a message of `role`, merging with the previous message when it has the
  // same role (Anthropic wants user and assistant turns to alternate).
  void add_block(std::string_view role, json block) {
    if (!messages.empty() && messages.back()["role"].get_ref<const std::string&>() == role) {
      messages.back()["content"].push_back(std::move(block));
      return;
    }
    json m = json::object();
    m["role"] = role;
    m["content"] = json::array({std::move(block)});
    messages.push_back(std::move(m));
  }

  static json text_block(const json& part, std::string_view text) {
    json b = {{"type", "text"}, {"text", text}};
    if (const json* cc = member(part, "cache_control")) b["cache_control"] = *cc;
    return b;
  }

  // An image or PDF from a data: URL; false when `url` is not a base64 data URL.
  static bool data_url_source(std::string_view url, json& source, std::string& media_type) {
    if (url.substr(0, 5) != "data:") return false;
    const auto comma = url.find(',');
    if (comma == std::string_view::npos) return false;
    std::string_view meta = url.substr(5, comma - 5);
    constexpr std::string_view kB64 = ";base64";
    if (meta.size() < kB64.size() || meta.substr(meta.size() - kB64.size()) != kB64) return false;
    media_type = std::string(meta.substr(0, meta.size() - kB64.size()));
    source = {{"type", "base64"}, {"media_type", media_type}, {"data", url.substr(comma + 1)}};
    return true;
  }

  bool image_block(const json& part, const std::string& param, json& out) {
    const json* iu = member(part, "image_url");
    std::string_view url = iu && iu->is_string()
                               ? std::string_view(iu->get_ref<const std::string&>())
                               : (iu ? string_member(*iu, "url") : "");
    json source;
    std::string media;
    if (data_url_source(url, source, media)) {
      if (media.rfind("image/", 0) != 0)
        return fail("'" + param + "' must be an image data URL", param + ".image_url");
    } else if (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0) {
      source = {{"type", "url"}, {"url", url}};
    } else {
      return fail("'" + param + ".image_url.url' must be a base64 data URL or an http(s) URL",
                  param + ".image_url");
    }
    out = {{"type", "image"}, {"source", std::move(source)}};
    if (const json* cc = member(part, "cache_control")) out["cache_control"] = *cc;
    return true;
  }

  // A PDF sent as an OpenAI `file` part with file_data.
  bool file_block(const json& part, const std::string& param, json& out) {
    const json* f = member(part, "file");
    json source;
    std::string media;
    if (!f || !data_url_source(string_member(*f, "file_data"), source, media) ||
        media != "application/pdf")
      return fail("'" + param + "': only PDF files given as file_data are supported",
                  param + ".file");
    out = {{"type", "document"}, {"source", std::move(source)}};
    return true;
  }

  // Appends the blocks of a content value (string or array of parts) to `blocks`.
  bool content_blocks(const json& content, const std::string& param, bool allow_media,
                      json& blocks) {
    if (content.is_null()) return true;
    if (content.is_string()) {
      if (!content.get_ref<const std::string&>().empty())
        blocks.push_back({{"type", "text"}, {"text", content}});
      return true;
    }
    if (!content.is_array())
      return fail("'" + param + "' must be a string or an array of content parts", param);
    for (std::size_t k = 0; k < content.size(); ++k) {
      const json& part = content[k];
      const std::string pp = param + "[" + std::to_string(k) + "]";
      const auto type = string_member(part, "type");
      if (type == "text" || type == "refusal") {
        const auto text = string_member(part, type == "text" ? "text" : "refusal");
        if (!text.empty()) blocks.push_back(text_block(part, text));
      } else if (allow_media && type == "image_url") {
        json b;
        if (!image_block(part, pp, b)) return false;
        blocks.push_back(std::move(b));
      } else if (allow_media && type == "file") {
        json b;
        if (!file_block(part, pp, b)) return false;
        blocks.push_back(std::move(b));
      } else {
        return fail("content part type '" + std::string(type) + "' in '" + pp +
                        "' cannot be sent to this provider",
                    pp + ".type");
      }
    }
    return true;
  }

  bool system_message(const json& m, const std::string& param) {
    json blocks = json::array();
    if (!content_blocks(content_of(m), param + ".content", false, blocks)) return false;
    for (auto& b : blocks) {
      if (b.contains("cache_control")) system_cache_control = true;
      system.push_back(std::move(b));
    }
    return true;
  }

  bool user_message(const json& m, const std::string& param) {
    json blocks = json::array();
    if (!content_blocks(content_of(m), param + ".content", true, blocks)) return false;
    for (auto& b : blocks) add_block("user", std::move(b));
    return true;
  }

  bool assistant_message(const json& m, const std::string& param) {
    json blocks = json::array();
    if (!content_blocks(content_of(m), param + ".content", false, blocks)) return false;
    if (const json* calls = member(m, "tool_calls")) {
      if (!calls->is_array()) return fail("'" + param + ".tool_calls' must be an array", param);
      for (std::size_t k = 0; k < calls->size(); ++k) {
        const json& tc = (*calls)[k];
        const std::string tp = param + ".tool_calls[" + std::to_string(k) + "]";
        const json* fn = member(tc, "function");
        const auto name = fn ? string_member(*fn, "name") : std::string_view{};
        const auto id = string_member(tc, "id");
        if (name.empty() || id.empty())
          return fail("'" + tp + "' needs an id and a function name", tp);
        json input = json::object();
        if (const json* args = member(*fn, "arguments")) {
          if (args->is_object()) {
            input = *args;
          } else if (args->is_string() && !args->get_ref<const std::string&>().empty()) {
            input = api::parse_json(args->get_ref<const std::string&>());
            if (!input.is_object())
              return fail("'" + tp + ".function.arguments' must be a JSON object",
                          tp + ".function.arguments");
          }
        }
        blocks.push_back({{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", input}});
      }
    }
    for (auto& b : blocks) add_block("assistant", std::move(b));
    return true;
  }

  bool tool_message(const json& m, const std::string& param) {
    const auto id = string_member(m, "tool_call_id");
    if (id.empty())
      return fail("'" + param + ".tool_call_id' is required", param + ".tool_call_id");
    json block = {{"type", "tool_result"}, {"tool_use_id", id}};
    const json* content = member(m, "content");
    if (content && content->is_string()) {
      block["content"] = *content;
    } else if (content) {
      json blocks = json::array();
      if (!content_blocks(*content, param + ".content", true, blocks)) return false;
      block["content"] = std::move(blocks);
    }
    // Tool results open the user turn that answers the assistant's tool calls: several results
    // (parallel calls) merge into one user message, before any text that follows.
    add_block("user", std::move(block));
    return true;
  }

  bool messages_of(const json& msgs) {
    if (!msgs.is_array()) return fail("'messages' must be an array", "messages");
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      const json& m = msgs[i];
      const std::string param = "messages[" + std::to_string(i) + "]";
      const auto role = string_member(m, "role");
      bool ok = true;
      if (role == "system" || role == "developer") {
        ok = system_message(m, param);
      } else if (role == "user") {
        ok = user_message(m, param);
      } else if (role == "assistant") {
        ok = assistant_message(m, param);
      } else if (role == "tool") {
        ok = tool_message(m, param);
      } else {
        return fail(
            "role '" + std::string(role) + "' in '" + param + "' cannot be sent to this provider",
            param + ".role");
      }
      if (!ok) return false;
    }
    // A single text block without cache_control reads best (and is smallest) as a plain string.
    for (auto& m : messages) {
      json& c = m["content"];
      if (c.size() == 1 && c[0]["type"] == "text" && !c[0].contains("cache_control"))
        c = c[0]["text"];
    }
    return true;
  }

  json system_value() const {
    if (system_cache_control) return json(system);
    std::string s;
    for (const auto& b : system) {
      if (!s.empty()) s += "\n\n";
      s += b["text"].get_ref<const std::string&>();
    }
    return s;
  }
};

// tools: [{"type":"function","function":{name, description, parameters}}] ->
// [{name, description, input_schema}].
bool translate_tools(const json& tools, json& out, api::Error& err) {
  out = json::array();
  if (!tools.is_array()) {
    err = bad_request("'tools' must be an array", "tools");
    return false;
  }
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string param = "tools[" + std::to_string(i) + "]";
    const json* fn = member(t, "function");
    if (string_member(t, "type") != "function" || !fn || string_member(*fn, "name").empty()) {
      err = bad_request("'" + param + "' must be a function tool with a name", param);
      return false;
    }
    json tool = {{"name", string_member(*fn, "name")}};
    if (auto d = string_member(*fn, "description"); !d.empty()) tool["description"] = d;
    const json* params = member(*fn, "parameters");
    tool["input_schema"] = params && params->is_object()
                               ? *params
                               : json{{"type", "object"}, {"properties", json::object()}};
    if (const json* cc = member(t, "cache_control")) tool["cache_control"] = *cc;
    out.push_back(std::move(tool));
  }
  return true;
}

// tool_choice: "auto" | "none" | "required" | {"type":"function","function":{"name"}}.
bool translate_tool_choice(const json& tc, json& out, api::Error& err) {
  if (tc.is_string()) {
    const auto& s = tc.get_ref<const std::string&>();
    if (s == "auto" || s == "none") {
      out = {{"type", s}};
      return true;
    }
    if (s == "required") {
      out = {{"type", "any"}};
      return true;
    }
  } else if (const json* fn = member(tc, "function");
             fn && string_member(tc, "type") == "function" && !string_member(*fn, "name").empty()) {
    out = {{"type", "tool"}, {"name", string_member(*fn, "name")}};
    return true;
  }
  err =
      bad_request("'tool_choice' must be auto, none, required or a named function", "tool_choice");
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// (a) request

bool encode_request(const api::ChatRequest& request, std::string_view upstream_model,
                    bool drop_unsupported, std::string& out, std::vector<std::string>& dropped,
                    api::Error& err) {
  const json& body = request.body;
  if (!body.is_object()) {
    err = bad_request("the request body must be a JSON object", "");
    return false;
  }
  json req = json::object();
  req["model"] = upstream_model;

  Translator tr;
  static const json kNoMessages;
  const json* msgs = member(body, "messages");
  if (!tr.messages_of(msgs ? *msgs : kNoMessages)) {
    err = std::move(tr.err);
    return false;
  }
  if (tr.messages.empty()) {
    err = bad_request("at least one user or assistant message is required", "messages");
    return false;
  }
  if (!tr.system.empty()) req["system"] = tr.system_value();
  req["messages"] = std::move(tr.messages);

  std::int64_t max_tokens = kDefaultMaxTokens;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    std::int64_t v = 0;
    if (int_member(body, key, v) && v > 0) max_tokens = v;
  }
  req["max_tokens"] = max_tokens;

  std::vector<std::string> unsupported;
  const json* tools = nullptr;
  const json* tool_choice = nullptr;
  bool parallel_off = false;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "model" || k == "messages" || k == "max_tokens" || k == "max_completion_tokens" ||
        k == "stream" || ignored_field(k))
      continue;
    if (v.is_null()) continue;
    if (k == "temperature") {
      // OpenAI takes 0..2, Anthropic 0..1: clamped, so that a request written for OpenAI (and
      // falling back to Anthropic) still runs rather than failing upstream with a 400.
      req[k] = v.is_number() && v.get<double>() > 1.0 ? json(1.0) : v;
    } else if (k == "top_p") {
      req[k] = v;
    } else if (passthrough_field(k)) {
      req[k] = v;
    } else if (k == "stop") {
      json seqs = v.is_string() ? json::array({v}) : v;
      if (!seqs.empty()) req["stop_sequences"] = std::move(seqs);
    } else if (k == "user") {
      if (v.is_string() && !v.get_ref<const std::string&>().empty()) req["metadata"]["user_id"] = v;
    } else if (k == "metadata") {
      // OpenAI's metadata tags stored completions; Anthropic's carries only user_id.
      if (v.is_object() && v.size() == 1 && v.contains("user_id")) {
        req["metadata"]["user_id"] = v["user_id"];
      } else if (!v.is_object() || !v.empty()) {
        unsupported.push_back(k);
      }
    } else if (k == "tools") {
      tools = &v;
    } else if (k == "tool_choice") {
      tool_choice = &v;
    } else if (k == "parallel_tool_calls") {
      if (unsupported_value(k, v))
        unsupported.push_back(k);
      else
        parallel_off = !v.get<bool>();
    } else if (value_checked_field(k)) {
      if (unsupported_value(k, v)) unsupported.push_back(k);
    } else {
      // seed, top_logprobs, modalities, audio, prediction, reasoning_effort, functions,
      // function_call, web_search_options, service_tier, vendor extensions, ...
      unsupported.push_back(k);
    }
  }

  if (!unsupported.empty()) {
    if (!drop_unsupported) {
      std::string names;
      for (const auto& n : unsupported) {
        if (!names.empty()) names += ", ";
        names += n;
      }
      err = bad_request("unsupported parameter(s) for this model's provider (Anthropic): " + names,
                        unsupported.front());
      return false;
    }
    for (auto& n : unsupported) dropped.push_back(std::move(n));
  }

  // Anthropic rejects tool_choice without tools; without tools the choice means nothing.
  if (tools && tools->is_array() && !tools->empty()) {
    json t;
    if (!translate_tools(*tools, t, err)) return false;
    req["tools"] = std::move(t);
    json choice;
    if (tool_choice) {
      if (!translate_tool_choice(*tool_choice, choice, err)) return false;
    } else if (parallel_off) {
      choice = {{"type", "auto"}};
    }
    if (parallel_off && choice.is_object() && choice["type"] != "none")
      choice["disable_parallel_tool_use"] = true;
    if (!choice.is_null()) req["tool_choice"] = std::move(choice);
  } else if (tools && !tools->is_array()) {
    err = bad_request("'tools' must be an array", "tools");
    return false;
  }
  if (request.stream) req["stream"] = true;

  out += dump(req);
  return true;
}

bool encode_count_tokens_request(const api::ChatRequest& request, std::string_view upstream_model,
                                 bool drop_unsupported, std::string& out,
                                 std::vector<std::string>& dropped, api::Error& err) {
  std::string full;
  if (!encode_request(request, upstream_model, drop_unsupported, full, dropped, err)) return false;
  json whole = json::parse(full, nullptr, /*allow_exceptions=*/false);
  if (!whole.is_object()) {
    err = bad_request("the request could not be translated", "");
    return false;
  }
  // "Messages > Count tokens in a Message": the body fields the count endpoint takes.
  json req = json::object();
  for (const char* key : {"model", "system", "messages", "tools", "tool_choice", "thinking"}) {
    auto it = whole.find(key);
    if (it != whole.end()) req[key] = std::move(*it);
  }
  out += dump(req);
  return true;
}

void request_headers(const config::ProviderConfig& provider, bool stream,
                     std::string_view request_id, const HeaderSink& add) {
  auto provider_sets = [&](std::string_view name) {
    for (const auto& [k, v] : provider.headers)
      if (iequals(k, name)) return true;
    return false;
  };
  // A provider that authenticates otherwise (a proxy with its own Authorization) sets its header.
  if (!provider.api_key.empty() && !provider_sets("x-api-key") && !provider_sets("authorization"))
    add("x-api-key", provider.api_key);
  if (!provider_sets("anthropic-version")) add("anthropic-version", kDefaultVersion);
  for (const auto& [k, v] : provider.headers) {
    if (iequals(k, "host") || iequals(k, "content-length") || iequals(k, "transfer-encoding") ||
        iequals(k, "connection"))
      continue;
    add(k, v);
  }
  if (!provider_sets("content-type")) add("content-type", "application/json");
  if (!provider_sets("accept")) add("accept", stream ? "text/event-stream" : "application/json");
  if (!request_id.empty() && !provider_sets("x-request-id")) add("x-request-id", request_id);
}

// ---------------------------------------------------------------------------------------------
// (b) whole Message

namespace {

api::Usage usage_of(std::int64_t input, std::int64_t cache_read, std::int64_t cache_write,
                    std::int64_t output) {
  api::Usage u;
  u.reported = true;
  u.prompt_tokens = clamp_count(input + cache_read + cache_write);
  u.completion_tokens = output;
  u.cached_tokens = cache_read;
  u.cache_write_tokens = cache_write;
  return u;
}

api::Error error_from_json(const json& e, std::string_view secret) {
  return error_from_type(string_member(e, "type"), string_member(e, "message"), secret);
}

}  // namespace

bool decode_count_tokens(std::string_view body, std::int64_t& input_tokens, api::Error& err,
                         std::string_view secret) {
  const json j = api::parse_json(body);
  if (j.is_discarded() || !j.is_object()) {
    err = malformed("upstream returned malformed JSON");
    return false;
  }
  if (string_member(j, "type") == "error") {
    const json* e = member(j, "error");
    err = e ? error_from_json(*e, secret) : malformed("upstream returned an error without details");
    return false;
  }
  std::int64_t n = 0;
  if (!int_member(j, "input_tokens", n) || n < 0) {
    err = malformed("upstream token count has no valid input_tokens");
    return false;
  }
  input_tokens = clamp_count(n);
  return true;
}

api::FinishReason finish_reason_from_stop(std::string_view s) {
  if (s == "max_tokens" || s == "model_context_window_exceeded") return api::FinishReason::length;
  if (s == "tool_use") return api::FinishReason::tool_calls;
  if (s == "refusal") return api::FinishReason::content_filter;
  // end_turn, stop_sequence, pause_turn and values added later.
  return api::FinishReason::stop;
}

bool decode_message(std::string_view body, std::vector<api::Event>& out, api::Error& err,
                    std::string_view secret) {
  const json j = api::parse_json(body);
  if (j.is_discarded() || !j.is_object()) {
    err = malformed("upstream returned malformed JSON");
    return false;
  }
  if (string_member(j, "type") == "error") {
    const json* e = member(j, "error");
    err = e ? error_from_json(*e, secret) : malformed("upstream returned an error without details");
    return false;
  }
  const json* content = member(j, "content");
  if (string_member(j, "type") != "message" || !content || !content->is_array()) {
    err = malformed("upstream response is not a message");
    return false;
  }
  auto start = make_event(api::Event::Type::start);
  start.text = string_member(j, "id");
  start.model = string_member(j, "model");
  out.push_back(std::move(start));

  int tools = 0;
  for (const json& block : *content) {
    const auto type = string_member(block, "type");
    if (type == "text") {
      auto ev = make_event(api::Event::Type::text);
      ev.text = string_member(block, "text");
      out.push_back(std::move(ev));
    } else if (type == "thinking") {
      auto ev = make_event(api::Event::Type::reasoning);
      ev.text = string_member(block, "thinking");
      if (!ev.text.empty()) out.push_back(std::move(ev));
    } else if (type == "tool_use") {
      if (tools >= kMaxToolCalls) {
        err = malformed("upstream response has too many tool calls");
        return false;
      }
      auto ev = make_event(api::Event::Type::tool_call);
      ev.tool_call.index = tools++;
      ev.tool_call.id = string_member(block, "id");
      ev.tool_call.name = string_member(block, "name");
      const json* input = member(block, "input");
      ev.tool_call.arguments = input ? dump(*input) : std::string("{}");
      out.push_back(std::move(ev));
    }
    // redacted_thinking, server tool blocks and later types have no canonical form.
  }
  if (auto stop = string_member(j, "stop_reason"); !stop.empty()) {
    auto ev = make_event(api::Event::Type::finish);
    ev.finish = finish_reason_from_stop(stop);
    out.push_back(std::move(ev));
  }
  if (const json* u = member(j, "usage"); u && u->is_object()) {
    std::int64_t in = 0, rd = 0, wr = 0, o = 0;
    int_member(*u, "input_tokens", in);
    int_member(*u, "cache_read_input_tokens", rd);
    int_member(*u, "cache_creation_input_tokens", wr);
    int_member(*u, "output_tokens", o);
    auto ev = make_event(api::Event::Type::usage);
    ev.usage = usage_of(clamp_count(in), clamp_count(rd), clamp_count(wr), clamp_count(o));
    out.push_back(std::move(ev));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// (c) stream

StreamDecoder::Status StreamDecoder::fail(api::Error e, std::vector<api::Event>& out) {
  auto ev = make_event(api::Event::Type::error);
  ev.error = std::move(e);
  out.push_back(std::move(ev));
  return Status::error;
}

StreamDecoder::BlockState* StreamDecoder::block_at(std::int64_t index) {
  if (index < 0 || index >= kMaxContentBlocks) return nullptr;
  const auto i = static_cast<std::size_t>(index);
  if (i >= blocks_.size()) blocks_.resize(i + 1);
  return &blocks_[i];
}

StreamDecoder::Status StreamDecoder::decode(std::string_view event_type, std::string_view data,
                                            std::vector<api::Event>& out) {
  const json j = api::parse_json(data);
  if (j.is_discarded() || !j.is_object())
    return fail(malformed("upstream sent a malformed stream event"), out);
  std::string_view type = string_member(j, "type");
  if (type.empty()) type = event_type;

  if (type == "ping") return Status::ok;
  if (type == "error") {
    const json* e = member(j, "error");
    return fail(e ? error_from_json(*e, secret_) : malformed("upstream stream error"), out);
  }
  if (type == "message_start") {
    const json* msg = member(j, "message");
    if (!msg || !msg->is_object())
      return fail(malformed("upstream sent an invalid message_start"), out);
    const json* u = member(*msg, "usage");
    if (u) {
      int_member(*u, "input_tokens", input_tokens_);
      int_member(*u, "cache_read_input_tokens", cache_read_);
      int_member(*u, "cache_creation_input_tokens", cache_write_);
      int_member(*u, "output_tokens", output_tokens_);
      usage_pending_ = true;
    }
    if (!started_) {
      started_ = true;
      auto ev = make_event(api::Event::Type::start);
      ev.text = string_member(*msg, "id");
      ev.model = string_member(*msg, "model");
      // The prompt side is known now: an Anthropic client reads it from message_start.
      if (u)
        ev.usage = usage_of(clamp_count(input_tokens_), clamp_count(cache_read_),
                            clamp_count(cache_write_), 0);
      out.push_back(std::move(ev));
    }
  } else if (type == "content_block_start" || type == "content_block_delta" ||
             type == "content_block_stop") {
    std::int64_t index = -1;
    BlockState* block = int_member(j, "index", index) ? block_at(index) : nullptr;
    if (!block) return fail(malformed("upstream sent an invalid content block index"), out);
    if (type == "content_block_start") {
      const json* cb = member(j, "content_block");
      const auto kind = cb ? string_member(*cb, "type") : std::string_view{};
      if (kind == "text") {
        block->kind = Block::text;
        if (auto t = string_member(*cb, "text"); !t.empty()) {
          auto ev = make_event(api::Event::Type::text);
          ev.text = t;
          out.push_back(std::move(ev));
        }
      } else if (kind == "thinking") {
        block->kind = Block::thinking;
        if (auto t = string_member(*cb, "thinking"); !t.empty()) {
          auto ev = make_event(api::Event::Type::reasoning);
          ev.text = t;
          out.push_back(std::move(ev));
        }
      } else if (kind == "tool_use") {
        if (block->kind == Block::tool_use) return Status::ok;  // repeated start: keep the index
        if (tools_ >= kMaxToolCalls)
          return fail(malformed("upstream sent too many tool calls"), out);
        block->kind = Block::tool_use;
        block->tool_index = tools_++;
        auto ev = make_event(api::Event::Type::tool_call);
        ev.tool_call.index = block->tool_index;
        ev.tool_call.id = string_member(*cb, "id");
        ev.tool_call.name = string_member(*cb, "name");
        // The streamed input arrives as input_json_delta; a start that already carries a
        // non-empty input (some proxies) is complete as it is.
        if (const json* input = member(*cb, "input");
            input && input->is_object() && !input->empty()) {
          ev.tool_call.arguments = dump(*input);
          block->has_input = true;
        }
        out.push_back(std::move(ev));
      } else {
        block->kind = Block::other;  // redacted_thinking, server tools, later types
      }
    } else if (type == "content_block_delta") {
      const json* d = member(j, "delta");
      const auto dtype = d ? string_member(*d, "type") : std::string_view{};
      if (dtype == "text_delta") {
        if (auto t = string_member(*d, "text"); !t.empty()) {
          auto ev = make_event(api::Event::Type::text);
          ev.text = t;
          out.push_back(std::move(ev));
        }
      } else if (dtype == "thinking_delta") {
        if (auto t = string_member(*d, "thinking"); !t.empty()) {
          auto ev = make_event(api::Event::Type::reasoning);
          ev.text = t;
          out.push_back(std::move(ev));
        }
      } else if (dtype == "input_json_delta") {
        // Server tools (server_tool_use blocks, e.g. web search) stream their input too; they
        // run at the provider and are not the client's tool calls.
        if (block->kind != Block::tool_use) return Status::ok;
        if (auto p = string_member(*d, "partial_json"); !p.empty()) {
          block->has_input = true;
          auto ev = make_event(api::Event::Type::tool_call);
          ev.tool_call.index = block->tool_index;
          ev.tool_call.arguments = p;
          out.push_back(std::move(ev));
        }
      }
      // signature_delta, citations_delta and later types have no canonical form.
    } else {  // content_block_stop
      if (block->kind == Block::tool_use && !block->has_input) {
        // A call without parameters streams no input: its arguments are the empty object, so
        // that the joined fragments always parse as JSON.
        block->has_input = true;
        auto ev = make_event(api::Event::Type::tool_call);
        ev.tool_call.index = block->tool_index;
        ev.tool_call.arguments = "{}";
        out.push_back(std::move(ev));
      }
    }
  } else if (type == "message_delta") {
    if (const json* d = member(j, "delta")) {
      if (auto stop = string_member(*d, "stop_reason"); !stop.empty() && !saw_finish_) {
        saw_finish_ = true;
        auto ev = make_event(api::Event::Type::finish);
        ev.finish = finish_reason_from_stop(stop);
        out.push_back(std::move(ev));
      }
    }
    // Counts here are cumulative; newer API versions repeat the input counts as well.
    if (const json* u = member(j, "usage")) {
      int_member(*u, "input_tokens", input_tokens_);
      int_member(*u, "cache_read_input_tokens", cache_read_);
      int_member(*u, "cache_creation_input_tokens", cache_write_);
      int_member(*u, "output_tokens", output_tokens_);
      usage_pending_ = true;
    }
  } else if (type == "message_stop") {
    saw_stop_ = true;
    flush(out);
    return Status::done;
  }
  // Unknown event types are ignored, as Anthropic's versioning policy asks.
  return Status::ok;
}

void StreamDecoder::flush(std::vector<api::Event>& out) {
  if (!usage_pending_) return;
  usage_pending_ = false;
  usage_ = usage_of(clamp_count(input_tokens_), clamp_count(cache_read_), clamp_count(cache_write_),
                    clamp_count(output_tokens_));
  auto ev = make_event(api::Event::Type::usage);
  ev.usage = usage_;
  out.push_back(std::move(ev));
}

// ---------------------------------------------------------------------------------------------
// (d) errors

namespace {

// The HTTP status Anthropic documents for an error type ("API > Errors"); 0 when unknown.
int status_of_type(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 403;  // the provider account, not the client: like 403
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "api_error") return 500;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 0;
}

}  // namespace

api::Error error_from_type(std::string_view type, std::string_view message,
                           std::string_view secret) {
  const int status = status_of_type(type);
  if (status == 0) {
    std::string m = "upstream error";
    if (const auto s = scrub_message(message, secret); !s.empty()) m += ": " + s;
    api::Error e = api::Error::make(api::ErrorKind::upstream, std::move(m), {}, "upstream_error");
    e.retryable = true;
    return e;
  }
  api::Error e = map_status_error(status, message, -1, secret);
  if (type == "overloaded_error") {
    e.message = "upstream overloaded";
    e.code = "upstream_overloaded";
  }
  return e;
}

api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view api_key) {
  std::string_view message;
  std::string_view type;
  json j;
  if (!body.empty() && body.size() <= 64 * 1024) {
    j = api::parse_json(body);
    if (const json* e = member(j, "error"); e && e->is_object()) {
      message = string_member(*e, "message");
      type = string_member(*e, "type");
    }
  }
  const int retry_after_s = parse_retry_after(retry_after, std::chrono::system_clock::now());
  api::Error e = map_status_error(status, message, retry_after_s, api_key);
  if (status == 529 || type == "overloaded_error") {
    e.message = "upstream overloaded";
    e.code = "upstream_overloaded";
  }
  return e;
}

}  // namespace infergate::adapters::anthropic
