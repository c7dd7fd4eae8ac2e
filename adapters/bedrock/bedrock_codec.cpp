#include "bedrock_codec.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "infergate/adapters/upstream_error.hpp"
#include "infergate/api/json_text.hpp"
#include "sigv4.hpp"

namespace infergate::adapters::bedrock {

namespace {

using json = nlohmann::json;

constexpr std::int64_t kMaxTokenCount = 1'000'000'000'000;

const json* member(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
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
  return false;
}

std::int64_t clamp_count(std::int64_t v) {
  return v < 0 ? 0 : (v > kMaxTokenCount ? kMaxTokenCount : v);
}

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

// TokenUsage: inputTokens counts only the uncached part of the prompt; the canonical
// prompt_tokens (OpenAI's meaning) includes the cache reads and writes.
api::Usage parse_usage(const json& u) {
  api::Usage usage;
  usage.reported = true;
  std::int64_t input = 0, output = 0, read = 0, write = 0;
  int_member(u, "inputTokens", input);
  int_member(u, "outputTokens", output);
  int_member(u, "cacheReadInputTokens", read);
  int_member(u, "cacheWriteInputTokens", write);
  usage.cached_tokens = clamp_count(read);
  usage.cache_write_tokens = clamp_count(write);
  usage.prompt_tokens =
      clamp_count(clamp_count(input) + usage.cached_tokens + usage.cache_write_tokens);
  usage.completion_tokens = clamp_count(output);
  return usage;
}

api::FinishReason finish_of(std::string_view stop_reason) {
  using api::FinishReason;
  if (stop_reason.empty()) return FinishReason::none;
  if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return FinishReason::stop;
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded")
    return FinishReason::length;
  if (stop_reason == "tool_use") return FinishReason::tool_calls;
  if (stop_reason == "guardrail_intervened" || stop_reason == "content_filtered")
    return FinishReason::content_filter;
  return FinishReason::stop;
}

// ---------------------------------------------------------------------------------------------
// request translation

struct Translator {
  std::vector<std::string>& dropped;
  api::Error error;
  bool failed = false;

  bool fail(std::string message, std::string param) {
    if (!failed) error = bad_request(std::move(message), std::move(param));
    failed = true;
    return false;
  }
  void drop(std::string name) {
    for (const auto& d : dropped)
      if (d == name) return;
    dropped.push_back(std::move(name));
  }

  // Appends text blocks for an OpenAI content value (string or array of parts). Images are
  // handled when `images` is set; other part types are dropped.
  bool content_blocks(const json& content, json& blocks, bool images, const std::string& where) {
    if (content.is_null()) return true;
    if (content.is_string()) {
      if (!content.get_ref<const std::string&>().empty()) blocks.push_back(json{{"text", content}});
      return true;
    }
    if (!content.is_array()) return fail(where + " must be a string or an array", where);
    for (const auto& part : content) {
      const auto type = string_member(part, "type");
      if (type == "text") {
        const json* t = member(part, "text");
        if (!t || !t->is_string()) return fail(where + " has a text part without text", where);
        if (!t->get_ref<const std::string&>().empty()) blocks.push_back(json{{"text", *t}});
      } else if (type == "image_url" && images) {
        const json* iu = member(part, "image_url");
        std::string_view url = iu && iu->is_string()
                                   ? std::string_view(iu->get_ref<const std::string&>())
                                   : (iu ? string_member(*iu, "url") : "");
        if (!image_block(url, blocks, where)) return false;
      } else {
        drop(where + "." + (type.empty() ? std::string("part") : std::string(type)));
      }
    }
    return true;
  }

  // data:image/<format>;base64,<data> -> {"image": {"format", "source": {"bytes": <base64>}}}.
  bool image_block(std::string_view url, json& blocks, const std::string& where) {
    if (url.starts_with("http://") || url.starts_with("https://")) {
      drop(where + ".image_url");  // Converse takes image bytes or S3 locations only
      return true;
    }
    constexpr std::string_view kPrefix = "data:image/";
    const auto semi = url.find(";base64,");
    if (!url.starts_with(kPrefix) || semi == std::string_view::npos)
      return fail(where + " has an image_url that is neither a data: URL nor http(s)", where);
    std::string format(url.substr(kPrefix.size(), semi - kPrefix.size()));
    if (format == "jpg") format = "jpeg";
    if (format != "png" && format != "jpeg" && format != "gif" && format != "webp")
      return fail(where + " has an image format Bedrock does not take (png, jpeg, gif, webp)",
                  where);
    const std::string_view data = url.substr(semi + 8);
    if (data.empty() ||
        data.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789+/=") != std::string_view::npos)
      return fail(where + " has invalid base64 image data", where);
    blocks.push_back(json{{"image", {{"format", format}, {"source", {{"bytes", data}}}}}});
    return true;
  }

  // Appends `blocks` as a message of `role`, merged into the previous one when it has the same
  // role (Converse expects alternating turns; tool results travel in user turns).
  static void push_message(json& messages, std::string_view role, json blocks) {
    if (blocks.empty()) return;
    if (!messages.empty() && messages.back()["role"] == role) {
      for (auto& b : blocks) messages.back()["content"].push_back(std::move(b));
      return;
    }
    messages.push_back(json{{"role", role}, {"content", std::move(blocks)}});
  }

  bool messages(const json& in, json& system, json& out) {
    if (!in.is_array() || in.empty()) return fail("messages must be a non-empty array", "messages");
    for (std::size_t i = 0; i < in.size(); ++i) {
      const json& m = in[i];
      const std::string where = "messages[" + std::to_string(i) + "]";
      const auto role = string_member(m, "role");
      const json* content = member(m, "content");
      const json null_content;
      const json& c = content ? *content : null_content;
      if (role == "system" || role == "developer") {
        json blocks = json::array();
        if (!content_blocks(c, blocks, false, where + ".content")) return false;
        for (auto& b : blocks) system.push_back(std::move(b));
      } else if (role == "user") {
        json blocks = json::array();
        if (!content_blocks(c, blocks, true, where + ".content")) return false;
        push_message(out, "user", std::move(blocks));
      } else if (role == "assistant") {
        json blocks = json::array();
        if (!content_blocks(c, blocks, false, where + ".content")) return false;
        if (const json* calls = member(m, "tool_calls"); calls && !calls->is_null()) {
          if (!calls->is_array()) return fail(where + ".tool_calls must be an array", where);
          for (std::size_t k = 0; k < calls->size(); ++k) {
            const json& tc = (*calls)[k];
            const std::string tw = where + ".tool_calls[" + std::to_string(k) + "]";
            const json* fn = member(tc, "function");
            const auto id = string_member(tc, "id");
            const auto name = fn ? string_member(*fn, "name") : std::string_view{};
            if (id.empty() || name.empty())
              return fail(tw + " needs an id and a function name", tw);
            json input = json::object();
            if (const json* args = member(*fn, "arguments"); args && args->is_string()) {
              const auto& text = args->get_ref<const std::string&>();
              if (!text.empty()) input = api::parse_json(text);
            } else if (args && args->is_object()) {
              input = *args;
            }
            if (!input.is_object())
              return fail(tw + ".function.arguments is not a JSON object",
                          tw + ".function.arguments");
            blocks.push_back(json{
                {"toolUse", {{"toolUseId", id}, {"name", name}, {"input", std::move(input)}}}});
          }
        }
        push_message(out, "assistant", std::move(blocks));
      } else if (role == "tool") {
        const auto id = string_member(m, "tool_call_id");
        if (id.empty()) return fail(where + ".tool_call_id is required", where + ".tool_call_id");
        json result = json::array();
        if (c.is_object()) {
          result.push_back(json{{"json", c}});
        } else {
          if (!content_blocks(c, result, false, where + ".content")) return false;
          if (result.empty()) result.push_back(json{{"text", ""}});
        }
        push_message(out, "user",
                     json::array({json{
                         {"toolResult", {{"toolUseId", id}, {"content", std::move(result)}}}}}));
      } else {
        return fail(where + ".role is not one Bedrock can take", where + ".role");
      }
    }
    if (out.empty()) return fail("messages has no user or assistant content", "messages");
    return true;
  }

  bool tools(const json& body, json& out) {
    const json* tools = member(body, "tools");
    if (!tools || tools->is_null()) {
      if (member(body, "tool_choice")) drop("tool_choice");
      return true;
    }
    if (!tools->is_array()) return fail("tools must be an array", "tools");
    json specs = json::array();
    for (std::size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (string_member(t, "type") != "function") {
        drop(where);
        continue;
      }
      const json* fn = member(t, "function");
      const auto name = fn ? string_member(*fn, "name") : std::string_view{};
      if (name.empty()) return fail(where + ".function.name is required", where);
      json spec = {{"name", name}};
      if (auto d = string_member(*fn, "description"); !d.empty()) spec["description"] = d;
      const json* params = member(*fn, "parameters");
      spec["inputSchema"] = {
          {"json", params && params->is_object()
                       ? *params
                       : json{{"type", "object"}, {"properties", json::object()}}}};
      specs.push_back(json{{"toolSpec", std::move(spec)}});
    }
    if (specs.empty()) return true;
    json config = {{"tools", std::move(specs)}};
    if (const json* choice = member(body, "tool_choice"); choice && !choice->is_null()) {
      if (choice->is_string() && *choice == "auto") {
        config["toolChoice"] = {{"auto", json::object()}};
      } else if (choice->is_string() && *choice == "required") {
        config["toolChoice"] = {{"any", json::object()}};
      } else if (choice->is_object() && string_member(*choice, "type") == "function" &&
                 member(*choice, "function") &&
                 !string_member(*member(*choice, "function"), "name").empty()) {
        config["toolChoice"] = {
            {"tool", {{"name", string_member(*member(*choice, "function"), "name")}}}};
      } else {
        drop("tool_choice");  // "none" and anything else: Converse has no way to say it
      }
    }
    out["toolConfig"] = std::move(config);
    return true;
  }

  bool inference(const json& body, json& out) {
    json cfg = json::object();
    for (const char* key : {"max_completion_tokens", "max_tokens"}) {
      if (const json* v = member(body, key); v && !v->is_null()) {
        if (!v->is_number_integer() || v->get<std::int64_t>() < 1)
          return fail(std::string(key) + " must be a positive integer", key);
        if (!cfg.contains("maxTokens")) cfg["maxTokens"] = *v;
      }
    }
    if (const json* v = member(body, "temperature"); v && !v->is_null()) {
      if (!v->is_number()) return fail("temperature must be a number", "temperature");
      cfg["temperature"] = *v;
    }
    if (const json* v = member(body, "top_p"); v && !v->is_null()) {
      if (!v->is_number()) return fail("top_p must be a number", "top_p");
      cfg["topP"] = *v;
    }
    if (const json* v = member(body, "stop"); v && !v->is_null()) {
      json stops = json::array();
      if (v->is_string()) {
        stops.push_back(*v);
      } else if (v->is_array() && v->size() <= kMaxStopSequences) {
        for (const auto& s : *v) {
          if (!s.is_string()) return fail("stop must be a string or an array of strings", "stop");
          stops.push_back(s);
        }
      } else {
        return fail("stop must be a string or an array of at most 16 strings", "stop");
      }
      cfg["stopSequences"] = std::move(stops);
    }
    if (!cfg.empty()) out["inferenceConfig"] = std::move(cfg);
    return true;
  }
};

// Fields of the OpenAI request that need no translation (or are the gateway's own).
bool handled_elsewhere(std::string_view k) {
  return k == "model" || k == "messages" || k == "stream" || k == "stream_options" || k == "user" ||
         k == "store" || k == "metadata" || k == "parallel_tool_calls" || k == "max_tokens" ||
         k == "max_completion_tokens" || k == "temperature" || k == "top_p" || k == "stop" ||
         k == "tools" || k == "tool_choice";
}

// Values of unsupported fields that ask for nothing beyond the default, so dropping them loses
// nothing.
bool is_default(std::string_view k, const json& v) {
  if (v.is_null()) return true;
  if (k == "n") return v.is_number_integer() && v.get<std::int64_t>() == 1;
  if (k == "logprobs") return v.is_boolean() && !v.get<bool>();
  if (k == "presence_penalty" || k == "frequency_penalty") return v.is_number() && v == 0;
  if (k == "response_format") return string_member(v, "type") == "text";
  return false;
}

void append_start(std::string_view id, std::string_view model, std::int64_t created,
                  std::vector<api::Event>& out) {
  auto ev = make_event(api::Event::Type::start);
  ev.text = id;
  ev.model = model;
  ev.created = created;
  out.push_back(std::move(ev));
}

std::string lower_first(std::string_view s) {
  std::string out(s);
  if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z')
    out[0] = static_cast<char>(out[0] - 'A' + 'a');
  return out;
}

}  // namespace

std::string converse_path(std::string_view model_id, bool stream) {
  std::string path = "/model/";
  path += sigv4::uri_encode(model_id, false);
  path += stream ? "/converse-stream" : "/converse";
  return path;
}

std::string count_tokens_path(std::string_view model_id) {
  std::string path = "/model/";
  path += sigv4::uri_encode(model_id, false);
  path += "/count-tokens";
  return path;
}

EncodeResult encode_count_tokens_request(const api::ChatRequest& request, std::string& out) {
  std::string full;
  EncodeResult result = encode_request(request, full);
  if (!result.ok) return result;
  json whole = json::parse(full, nullptr, /*allow_exceptions=*/false);
  if (!whole.is_object()) {
    result.ok = false;
    result.error = bad_request("the request could not be translated", "");
    return result;
  }
  // "CountTokens" / "ConverseTokensRequest": the Converse input that is counted.
  json converse = json::object();
  for (const char* key : {"messages", "system", "toolConfig"}) {
    auto it = whole.find(key);
    if (it != whole.end()) converse[key] = std::move(*it);
  }
  json req = json::object();
  req["input"] = json::object({{"converse", std::move(converse)}});
  out += req.dump(-1, ' ', false, json::error_handler_t::replace);
  return result;
}

bool decode_count_tokens(std::string_view body, std::int64_t& input_tokens, api::Error& err) {
  const json j = api::parse_json(body);
  const json* n = j.is_object() ? member(j, "inputTokens") : nullptr;
  if (!n || !n->is_number_integer() || n->get<std::int64_t>() < 0) {
    err = malformed("upstream token count has no valid inputTokens");
    return false;
  }
  input_tokens = n->get<std::int64_t>();
  return true;
}

EncodeResult encode_request(const api::ChatRequest& request, std::string& out) {
  EncodeResult result;
  Translator t{result.dropped, {}, false};
  const json& body = request.body;
  if (!body.is_object()) {
    result.error = bad_request("request body must be a JSON object", "");
    return result;
  }
  json req = json::object();
  json system = json::array();
  json messages = json::array();
  const json* in = member(body, "messages");
  if (!in) {
    result.error = bad_request("messages is required", "messages");
    return result;
  }
  if (!t.messages(*in, system, messages) || !t.inference(body, req) || !t.tools(body, req)) {
    result.error = t.error;
    return result;
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (handled_elsewhere(it.key()) || is_default(it.key(), it.value())) continue;
    t.drop(it.key());
  }
  req["messages"] = std::move(messages);
  if (!system.empty()) req["system"] = std::move(system);
  out += req.dump(-1, ' ', false, json::error_handler_t::replace);
  result.ok = true;
  return result;
}

bool decode_converse(std::string_view body, std::string_view id, std::string_view model,
                     std::int64_t created, std::vector<api::Event>& out, api::Error& err) {
  const json j = api::parse_json(body);
  if (j.is_discarded() || !j.is_object()) {
    err = malformed("upstream returned malformed JSON");
    return false;
  }
  const json* output = member(j, "output");
  const json* message = output ? member(*output, "message") : nullptr;
  const json* content = message ? member(*message, "content") : nullptr;
  if (!content || !content->is_array()) {
    err = malformed("upstream response has no output message");
    return false;
  }
  append_start(id, model, created, out);
  int tools = 0;
  for (const json& block : *content) {
    if (!block.is_object()) {
      err = malformed("upstream response has an invalid content block");
      return false;
    }
    if (const json* r = member(block, "reasoningContent")) {
      const json* rt = member(*r, "reasoningText");
      if (auto text = rt ? string_member(*rt, "text") : std::string_view{}; !text.empty()) {
        auto ev = make_event(api::Event::Type::reasoning);
        ev.text = text;
        out.push_back(std::move(ev));
      }
    } else if (const json* t = member(block, "text"); t && t->is_string()) {
      auto ev = make_event(api::Event::Type::text);
      ev.text = t->get<std::string>();
      out.push_back(std::move(ev));
    } else if (const json* tu = member(block, "toolUse"); tu && tu->is_object()) {
      if (tools >= kMaxToolCalls) {
        err = malformed("upstream response has too many tool calls");
        return false;
      }
      auto ev = make_event(api::Event::Type::tool_call);
      ev.tool_call.index = tools++;
      ev.tool_call.id = string_member(*tu, "toolUseId");
      ev.tool_call.name = string_member(*tu, "name");
      const json* input = member(*tu, "input");
      ev.tool_call.arguments = input && !input->is_null()
                                   ? input->dump(-1, ' ', false, json::error_handler_t::replace)
                                   : "{}";
      out.push_back(std::move(ev));
    }
  }
  auto fin = make_event(api::Event::Type::finish);
  fin.finish = finish_of(string_member(j, "stopReason"));
  if (fin.finish == api::FinishReason::none) fin.finish = api::FinishReason::stop;
  out.push_back(std::move(fin));
  if (const json* u = member(j, "usage"); u && u->is_object()) {
    auto ev = make_event(api::Event::Type::usage);
    ev.usage = parse_usage(*u);
    out.push_back(std::move(ev));
  }
  return true;
}

void StreamDecoder::ensure_start(std::vector<api::Event>& out) {
  if (started_) return;
  started_ = true;
  append_start(id_, model_, created_, out);
}

StreamDecoder::Status StreamDecoder::decode(const eventstream::Message& msg,
                                            std::vector<api::Event>& out, std::string_view secret) {
  auto fail = [&](api::Error e) {
    auto ev = make_event(api::Event::Type::error);
    ev.error = std::move(e);
    out.push_back(std::move(ev));
    return Status::error;
  };
  const auto message_type = msg.string_header(":message-type");
  if (message_type == "exception") {
    const json j = api::parse_json(msg.payload);
    return fail(map_exception(msg.string_header(":exception-type"), 0,
                              j.is_discarded() ? std::string_view{} : string_member(j, "message"),
                              -1, secret));
  }
  if (message_type == "error") {
    return fail(map_exception(msg.string_header(":error-code"), 0,
                              msg.string_header(":error-message"), -1, secret));
  }
  if (message_type != "event") return Status::ok;  // unknown message types are skipped

  const auto type = msg.string_header(":event-type");
  const json j = api::parse_json(msg.payload);
  if (j.is_discarded() || !j.is_object())
    return fail(malformed("upstream sent a malformed stream event"));

  if (type == "messageStart") {
    ensure_start(out);
  } else if (type == "contentBlockStart") {
    ensure_start(out);
    std::int64_t block = 0;
    if (!int_member(j, "contentBlockIndex", block))
      return fail(malformed("upstream sent a content block without an index"));
    const json* start = member(j, "start");
    if (const json* tu = start ? member(*start, "toolUse") : nullptr; tu && tu->is_object()) {
      if (tool_index_.size() >= static_cast<std::size_t>(kMaxToolCalls) || tool_index_.count(block))
        return fail(malformed("upstream sent an invalid tool call"));
      const int index = static_cast<int>(tool_index_.size());
      tool_index_[block] = index;
      auto ev = make_event(api::Event::Type::tool_call);
      ev.tool_call.index = index;
      ev.tool_call.id = string_member(*tu, "toolUseId");
      ev.tool_call.name = string_member(*tu, "name");
      out.push_back(std::move(ev));
    }
  } else if (type == "contentBlockDelta") {
    ensure_start(out);
    std::int64_t block = 0;
    const json* delta = member(j, "delta");
    if (!int_member(j, "contentBlockIndex", block) || !delta || !delta->is_object())
      return fail(malformed("upstream sent an invalid content block delta"));
    if (const json* t = member(*delta, "text"); t && t->is_string()) {
      if (!t->get_ref<const std::string&>().empty()) {
        auto ev = make_event(api::Event::Type::text);
        ev.text = t->get<std::string>();
        out.push_back(std::move(ev));
      }
    } else if (const json* tu = member(*delta, "toolUse"); tu && tu->is_object()) {
      auto it = tool_index_.find(block);
      if (it == tool_index_.end())
        return fail(malformed("upstream sent tool input for a block that is not a tool call"));
      if (auto input = string_member(*tu, "input"); !input.empty()) {
        auto ev = make_event(api::Event::Type::tool_call);
        ev.tool_call.index = it->second;
        ev.tool_call.arguments = input;
        out.push_back(std::move(ev));
      }
    } else if (const json* r = member(*delta, "reasoningContent"); r && r->is_object()) {
      if (auto text = string_member(*r, "text"); !text.empty()) {
        auto ev = make_event(api::Event::Type::reasoning);
        ev.text = text;
        out.push_back(std::move(ev));
      }
    }
  } else if (type == "messageStop") {
    ensure_start(out);
    saw_stop_ = true;
    auto ev = make_event(api::Event::Type::finish);
    ev.finish = finish_of(string_member(j, "stopReason"));
    if (ev.finish == api::FinishReason::none) ev.finish = api::FinishReason::stop;
    out.push_back(std::move(ev));
  } else if (type == "metadata") {
    if (const json* u = member(j, "usage"); u && u->is_object()) {
      usage_ = parse_usage(*u);
      auto ev = make_event(api::Event::Type::usage);
      ev.usage = usage_;
      out.push_back(std::move(ev));
    }
    if (saw_stop_) return Status::done;
  }
  // contentBlockStop and event types added later carry nothing the canonical events need.
  return Status::ok;
}

api::Error map_exception(std::string_view type, int status, std::string_view message,
                         int retry_after_s, std::string_view secret) {
  const std::string t = lower_first(type);
  int mapped = status > 0 ? status : 500;
  if (t == "throttlingException" || t == "modelNotReadyException" ||
      t == "serviceQuotaExceededException")
    mapped = 429;
  else if (t == "serviceUnavailableException")
    mapped = 503;
  else if (t == "internalServerException" || t == "modelStreamErrorException" ||
           t == "modelErrorException" || t == "internalFailure")
    mapped = 500;
  else if (t == "modelTimeoutException")
    mapped = 408;
  else if (t == "validationException")
    mapped = 400;
  else if (t == "accessDeniedException" || t == "unrecognizedClientException" ||
           t == "invalidSignatureException" || t == "expiredTokenException" ||
           t == "incompleteSignatureException" || t == "missingAuthenticationTokenException")
    mapped = 403;
  else if (t == "resourceNotFoundException")
    mapped = 404;
  api::Error err = map_status_error(mapped, message, retry_after_s, secret);
  if (status == 0 && mapped >= 500) {
    // Inside a stream: say which exception it was (the name holds no request data).
    err.message = "upstream stream failed (" + t.substr(0, 64) + ")";
  }
  return err;
}

api::Error map_http_error(int status, std::string_view error_type, std::string_view body,
                          std::string_view retry_after, std::string_view secret) {
  std::string_view message;
  json j;
  if (!body.empty() && body.size() <= 64 * 1024) {
    j = api::parse_json(body);
    message = string_member(j, "message");
    if (message.empty()) message = string_member(j, "Message");
  }
  const auto colon = error_type.find(':');
  const std::string_view type = error_type.substr(0, colon);
  return map_exception(type, status, message,
                       parse_retry_after(retry_after, std::chrono::system_clock::now()), secret);
}

}  // namespace infergate::adapters::bedrock
