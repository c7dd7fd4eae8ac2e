#include "infergate/adapters/openai_codec.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <initializer_list>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "infergate/adapters/upstream_error.hpp"
#include "infergate/api/json_text.hpp"

namespace infergate::adapters::openai {

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

// Appends `s` as a JSON string literal. Keys and ids here come from parsed JSON or validated
// config, so they are valid UTF-8; only escaping is needed.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
}

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

std::int64_t clamp_count(std::int64_t v) {
  return v < 0 ? 0 : (v > kMaxTokenCount ? kMaxTokenCount : v);
}

api::Error malformed(std::string_view what) {
  api::Error e =
      api::Error::make(api::ErrorKind::upstream, std::string(what), {}, "upstream_malformed");
  e.retryable = true;
  return e;
}

api::Event make_event(api::Event::Type type, int choice) {
  api::Event ev;
  ev.type = type;
  ev.choice = choice;
  return ev;
}

// --- the hot path: upstream responses and stream chunks, read with simdjson -----------------
// nlohmann's DOM parse cost ~130 instructions per byte of a completion (callgrind: a third of the
// gateway's per-request work); simdjson reads the same bytes ~10x faster. Strings and elements
// point into the thread's parser: valid until the next parse on this thread.
namespace sj {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

bool parse(std::string_view text, element& out) {
  thread_local simdjson::dom::parser parser;
  thread_local std::string padded;
  if (padded.size() < text.size() + simdjson::SIMDJSON_PADDING)
    padded.resize(text.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(padded.data(), text.data(), text.size());
  return parser.parse(padded.data(), text.size(), /*realloc_if_needed=*/false).get(out) ==
         simdjson::SUCCESS;
}

bool member(element obj, std::string_view key, element& out) {
  object o;
  if (obj.get_object().get(o) != simdjson::SUCCESS) return false;
  return o.at_key(key).get(out) == simdjson::SUCCESS;
}

std::string_view string_member(element obj, std::string_view key) {
  element v;
  std::string_view s;
  if (!member(obj, key, v) || v.get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

// An integer (floats with an integral value accepted: some servers emit 12.0).
bool int_value(element v, std::int64_t& out) {
  if (std::uint64_t u; v.is_uint64() && v.get_uint64().get(u) == simdjson::SUCCESS) {
    out = u > static_cast<std::uint64_t>(kMaxTokenCount) ? kMaxTokenCount
                                                         : static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_int64()) return v.get_int64().get(out) == simdjson::SUCCESS;
  if (double d; v.is_double() && v.get_double().get(d) == simdjson::SUCCESS) {
    if (!(d >= -1e15 && d <= 1e15)) return false;  // also rejects NaN
    out = static_cast<std::int64_t>(d);
    return true;
  }
  return false;
}

bool int_member(element obj, std::string_view key, std::int64_t& out) {
  element v;
  return member(obj, key, v) && int_value(v, out);
}

api::Usage parse_usage(element u) {
  api::Usage usage;
  usage.reported = true;
  std::int64_t v = 0;
  if (int_member(u, "prompt_tokens", v)) usage.prompt_tokens = clamp_count(v);
  if (int_member(u, "completion_tokens", v)) usage.completion_tokens = clamp_count(v);
  if (element d; member(u, "prompt_tokens_details", d) && int_member(d, "cached_tokens", v))
    usage.cached_tokens = clamp_count(v);
  return usage;
}

api::Error error_from_json(element e, std::string_view secret) {
  if (std::string_view text; e.get_string().get(text) == simdjson::SUCCESS)
    return error_from_object(scrub_message(text, secret), "", "");
  std::string code;
  if (element c; member(e, "code", c)) {
    std::int64_t n = 0;
    if (std::string_view cs; c.get_string().get(cs) == simdjson::SUCCESS)
      code = cs;
    else if (c.is_int64() && c.get_int64().get(n) == simdjson::SUCCESS)
      code = std::to_string(n);
  }
  return error_from_object(scrub_message(string_member(e, "message"), secret),
                           string_member(e, "type"), code);
}

int index_of(element obj, std::size_t position, int limit) {
  std::int64_t idx = static_cast<std::int64_t>(position);
  if (element v; member(obj, "index", v) && !v.is_null() && !int_value(v, idx)) return -1;
  return idx >= 0 && idx < limit ? static_cast<int>(idx) : -1;
}

void append_start(element j, std::vector<api::Event>& out) {
  api::Event ev = make_event(api::Event::Type::start, 0);
  ev.text = string_member(j, "id");
  ev.model = string_member(j, "model");
  std::int64_t created = 0;
  if (int_member(j, "created", created) && created > 0) ev.created = created;
  out.push_back(std::move(ev));
}

std::string_view reasoning_of(element msg) {
  auto r = string_member(msg, "reasoning_content");
  return r.empty() ? string_member(msg, "reasoning") : r;
}

std::string arguments_of(element fn) {
  element a;
  if (!member(fn, "arguments", a) || a.is_null()) return {};
  if (std::string_view text; a.get_string().get(text) == simdjson::SUCCESS)
    return std::string(text);
  return simdjson::minify(a);
}

bool has_error(element j, element& e) { return member(j, "error", e) && !e.is_null(); }

// The events of one choice's message (whole response) or delta (stream chunk). Returns false on
// an invalid tool call.
bool append_message(element msg, int idx, bool skip_empty_content, std::vector<api::Event>& out) {
  if (auto r = reasoning_of(msg); !r.empty()) {
    auto ev = make_event(api::Event::Type::reasoning, idx);
    ev.text = r;
    out.push_back(std::move(ev));
  }
  if (element content; member(msg, "content", content)) {
    std::string_view text;
    if (content.get_string().get(text) == simdjson::SUCCESS &&
        !(skip_empty_content && text.empty())) {
      auto ev = make_event(api::Event::Type::text, idx);
      ev.text = text;
      out.push_back(std::move(ev));
    }
  }
  array calls;
  if (element c; member(msg, "tool_calls", c) && c.get_array().get(calls) == simdjson::SUCCESS) {
    std::size_t k = 0;
    for (element tc : calls) {
      const int tidx = index_of(tc, k++, kMaxToolCalls);
      if (!tc.is_object() || tidx < 0) return false;
      auto ev = make_event(api::Event::Type::tool_call, idx);
      ev.tool_call.index = tidx;
      ev.tool_call.id = string_member(tc, "id");
      if (element fn; member(tc, "function", fn) && fn.is_object()) {
        ev.tool_call.name = string_member(fn, "name");
        ev.tool_call.arguments = arguments_of(fn);
      }
      out.push_back(std::move(ev));
    }
  }
  return true;
}

// A legacy text_completion choice (whole or chunk): `text` is the content.
void append_legacy_text(element choice, int idx, bool skip_empty, std::vector<api::Event>& out) {
  element t;
  std::string_view text;
  if (!member(choice, "text", t) || t.get_string().get(text) != simdjson::SUCCESS) return;
  if (skip_empty && text.empty()) return;
  auto ev = make_event(api::Event::Type::text, idx);
  ev.text = text;
  out.push_back(std::move(ev));
}

}  // namespace sj

}  // namespace

// ---------------------------------------------------------------------------------------------
// (a) request

namespace {

// The client's members forwarded byte for byte (no DOM walk, no re-escaping: a large prompt
// costs a memcpy). False when the raw text cannot be walked; `out` is then left for the DOM path.
bool encode_raw_request_body(const api::ChatRequest& request, std::string_view upstream_model,
                             std::string& out) {
  const std::size_t start = out.size();
  out.reserve(start + request.raw_body.size() + upstream_model.size() + 64);
  bool first = true;
  // `"k":` — the walker hands out keys only when they hold no escape.
  auto append_key = [&out](std::string_view k) {
    out += '"';
    out += k;
    out += "\":";
  };
  auto key = [&](std::string_view k) {
    out += first ? '{' : ',';
    first = false;
    append_key(k);
  };
  bool saw_stream = false;
  std::string_view stream_options;
  const bool walked =
      api::for_each_raw_member(request.raw_body, [&](std::string_view k, std::string_view v) {
        if (k == "model") return;
        if (k == "stream") {
          saw_stream = true;
          return;
        }
        if (k == "stream_options" && request.stream) {
          stream_options = v;
          return;
        }
        key(k);
        out += v;
      });
  if (!walked) {
    out.resize(start);
    return false;
  }
  key("model");
  append_json_string(out, upstream_model);
  if (request.stream) {
    key("stream");
    out += "true";
    key("stream_options");
    out += '{';
    if (!stream_options.empty() && stream_options.front() == '{') {
      const bool inner_ok =
          api::for_each_raw_member(stream_options, [&](std::string_view k, std::string_view v) {
            if (k == "include_usage") return;
            append_key(k);
            out += v;
            out += ',';
          });
      if (!inner_ok) {
        out.resize(start);
        return false;
      }
    }
    out += "\"include_usage\":true}";
  } else if (saw_stream) {
    key("stream");
    out += "false";
  }
  out += '}';
  return true;
}

}  // namespace

void encode_request_body(const api::ChatRequest& request, std::string_view upstream_model,
                         std::string& out) {
  if (!request.raw_body.empty() && encode_raw_request_body(request, upstream_model, out)) return;
  // nlohmann's serializer writes straight into `out`: no copy of the (possibly large) message
  // tree, no intermediate string per field.
  nlohmann::detail::serializer<json> ser(nlohmann::detail::output_adapter<char, std::string>(out),
                                         ' ', json::error_handler_t::replace);
  bool first = true;
  auto key = [&](std::string_view k) {
    out += first ? '{' : ',';
    first = false;
    append_json_string(out, k);
    out += ':';
  };
  const json& body = request.body;
  const json* stream_options = nullptr;
  if (body.is_object()) {
    for (auto it = body.begin(); it != body.end(); ++it) {
      const std::string& k = it.key();
      if (k == "model" || k == "stream") continue;
      if (k == "stream_options" && request.stream) {
        stream_options = &it.value();
        continue;
      }
      key(k);
      ser.dump(it.value(), false, false, 0);
    }
  }
  key("model");
  append_json_string(out, upstream_model);
  if (request.stream) {
    key("stream");
    out += "true";
    key("stream_options");
    out += '{';
    if (stream_options && stream_options->is_object()) {
      for (auto it = stream_options->begin(); it != stream_options->end(); ++it) {
        if (it.key() == "include_usage") continue;
        append_json_string(out, it.key());
        out += ':';
        ser.dump(it.value(), false, false, 0);
        out += ',';
      }
    }
    out += "\"include_usage\":true}";
  } else if (member(body, "stream")) {
    key("stream");
    out += "false";
  }
  out += '}';
}

void request_headers(const config::ProviderConfig& provider, bool stream,
                     std::string_view request_id, const HeaderSink& add) {
  // The provider's own headers win over the defaults (e.g. Azure's api-key instead of a bearer
  // token); those that belong to the transport are dropped.
  auto provider_sets = [&](std::string_view name) {
    for (const auto& [k, v] : provider.headers)
      if (iequals(k, name)) return true;
    return false;
  };
  if (!provider.api_key.empty() && !provider_sets("authorization")) {
    std::string auth;
    auth.reserve(7 + provider.api_key.size());
    auth += "Bearer ";
    auth += provider.api_key;
    add("Authorization", auth);
  }
  for (const auto& [k, v] : provider.headers) {
    if (iequals(k, "host") || iequals(k, "content-length") || iequals(k, "transfer-encoding") ||
        iequals(k, "connection"))
      continue;
    add(k, v);
  }
  if (!provider_sets("content-type")) add("Content-Type", "application/json");
  if (!provider_sets("accept")) add("Accept", stream ? "text/event-stream" : "application/json");
  if (!request_id.empty() && !provider_sets("x-request-id")) add("x-request-id", request_id);
}

// ---------------------------------------------------------------------------------------------
// (b) whole response

bool decode_completion(std::string_view body, std::vector<api::Event>& out, api::Error& err,
                       std::string_view secret) {
  sj::element j;
  if (!sj::parse(body, j) || !j.is_object()) {
    err = malformed("upstream returned malformed JSON");
    return false;
  }
  if (sj::element e; sj::has_error(j, e)) {
    err = sj::error_from_json(e, secret);
    return false;
  }
  sj::array choices;
  if (sj::element c; !sj::member(j, "choices", c) || c.get_array().get(choices)) {
    err = malformed("upstream response has no choices");
    return false;
  }
  sj::append_start(j, out);
  std::size_t pos = 0;
  for (sj::element c : choices) {
    const int idx = sj::index_of(c, pos++, kMaxChoices);
    if (!c.is_object() || idx < 0) {
      err = malformed("upstream response has an invalid choice");
      return false;
    }
    if (sj::element msg; sj::member(c, "message", msg) && msg.is_object()) {
      if (!sj::append_message(msg, idx, /*skip_empty_content=*/false, out)) {
        err = malformed("upstream response has an invalid tool call");
        return false;
      }
    }
    sj::append_legacy_text(c, idx, /*skip_empty=*/false, out);
    if (auto reason = sj::string_member(c, "finish_reason"); !reason.empty()) {
      auto ev = make_event(api::Event::Type::finish, idx);
      ev.finish = api::finish_reason_from_openai(reason);
      out.push_back(std::move(ev));
    }
  }
  if (sj::element u; sj::member(j, "usage", u) && u.is_object()) {
    auto ev = make_event(api::Event::Type::usage, 0);
    ev.usage = sj::parse_usage(u);
    out.push_back(std::move(ev));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// (c) stream chunks

ChunkDecoder::Status ChunkDecoder::decode(std::string_view data, std::vector<api::Event>& out,
                                          std::string_view event_type) {
  auto fail = [&](api::Error e) {
    auto ev = make_event(api::Event::Type::error, 0);
    ev.error = std::move(e);
    out.push_back(std::move(ev));
    return Status::error;
  };
  while (!data.empty() && (data.front() == ' ' || data.front() == '\n')) data.remove_prefix(1);
  while (!data.empty() && (data.back() == ' ' || data.back() == '\n')) data.remove_suffix(1);
  if (data == "[DONE]") {
    saw_done_ = true;
    flush(out);
    return Status::done;
  }
  sj::element j;
  if (!sj::parse(data, j) || !j.is_object())
    return fail(malformed("upstream sent a malformed stream chunk"));
  if (sj::element e; sj::has_error(j, e)) return fail(sj::error_from_json(e, secret_));
  if (event_type == "error") return fail(sj::error_from_json(j, secret_));

  sj::element choices;
  const bool has_choices = sj::member(j, "choices", choices) && !choices.is_null();
  if (has_choices && !choices.is_array())
    return fail(malformed("upstream sent a malformed stream chunk"));
  if (!started_) {
    started_ = true;
    sj::append_start(j, out);
  }
  if (has_choices) {
    std::size_t pos = 0;
    for (sj::element c : sj::array(choices)) {
      const int idx = sj::index_of(c, pos++, kMaxChoices);
      if (!c.is_object() || idx < 0) return fail(malformed("upstream sent an invalid choice"));
      if (sj::element delta; sj::member(c, "delta", delta) && delta.is_object()) {
        if (!sj::append_message(delta, idx, /*skip_empty_content=*/true, out))
          return fail(malformed("upstream sent an invalid tool call"));
      }
      sj::append_legacy_text(c, idx, /*skip_empty=*/true, out);
      if (auto reason = sj::string_member(c, "finish_reason"); !reason.empty()) {
        saw_finish_ = true;
        auto ev = make_event(api::Event::Type::finish, idx);
        ev.finish = api::finish_reason_from_openai(reason);
        out.push_back(std::move(ev));
      }
    }
  }
  if (sj::element u; sj::member(j, "usage", u) && u.is_object()) {
    usage_ = sj::parse_usage(u);
    usage_pending_ = true;
  }
  return Status::ok;
}

void ChunkDecoder::flush(std::vector<api::Event>& out) {
  if (!usage_pending_) return;
  usage_pending_ = false;
  auto ev = make_event(api::Event::Type::usage, 0);
  ev.usage = usage_;
  out.push_back(std::move(ev));
}

// ---------------------------------------------------------------------------------------------
// (d) errors

api::Error error_from_object(std::string_view message, std::string_view type,
                             std::string_view code) {
  auto has = [](std::string_view s, std::string_view what) {
    return s.find(what) != std::string_view::npos;
  };
  if (has(type, "auth") || has(type, "permission") || has(code, "api_key") || has(code, "auth")) {
    api::Error e = api::Error::make(api::ErrorKind::upstream, "upstream authentication failed", {},
                                    "upstream_auth_failed");
    e.retryable = true;
    return e;
  }
  if (has(type, "rate_limit") || has(code, "rate_limit")) {
    api::Error e = api::Error::make(api::ErrorKind::rate_limited, "upstream rate limit exceeded",
                                    {}, "upstream_rate_limited");
    e.retryable = true;
    return e;
  }
  if (type == "invalid_request_error") {
    return api::Error::make(
        api::ErrorKind::invalid_request,
        message.empty() ? std::string("upstream rejected the request") : std::string(message));
  }
  std::string m = "upstream error";
  if (!message.empty()) {
    m += ": ";
    m += message;
  }
  api::Error e = api::Error::make(api::ErrorKind::upstream, std::move(m), {}, "upstream_error");
  e.retryable = true;
  return e;
}

api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view api_key) {
  std::string_view message;
  json j;
  if (!body.empty() && body.size() <= 64 * 1024) {
    j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (const json* e = member(j, "error"); e) {
      message = e->is_string() ? std::string_view(e->get_ref<const std::string&>())
                               : string_member(*e, "message");
    }
    if (message.empty()) message = string_member(j, "message");
    if (message.empty()) message = string_member(j, "detail");  // FastAPI servers (vLLM, TGI)
  }
  return map_status_error(
      status, message, parse_retry_after(retry_after, std::chrono::system_clock::now()), api_key);
}

}  // namespace infergate::adapters::openai

// ---------------------------------------------------------------------------------------------
// (e) embeddings, (f) images

namespace infergate::adapters::openai {

namespace {

// `body` re-serialised with `model` (and the given overrides) replaced.
void encode_with(const json& body, std::string_view upstream_model,
                 std::initializer_list<std::pair<const char*, json>> overrides, std::string& out) {
  json copy = body.is_object() ? body : json::object();
  copy["model"] = std::string(upstream_model);
  for (const auto& [k, v] : overrides) copy[k] = v;
  out += copy.dump(-1, ' ', false, json::error_handler_t::replace);
}

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

}  // namespace

bool decode_base64(std::string_view in, std::string& out, std::size_t max_bytes) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  const std::size_t size = in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1);
  if (size > max_bytes) return false;
  out.clear();
  out.reserve(size);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    const int v = base64_value(static_cast<unsigned char>(ch));
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

std::string_view sniff_image_type(std::string_view b, std::string_view fallback) {
  if (b.size() >= 8 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8))
    return "image/png";
  if (b.size() >= 3 && b.substr(0, 3) == "\xff\xd8\xff") return "image/jpeg";
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return "image/webp";
  if (b.size() >= 6 && (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a"))
    return "image/gif";
  return fallback;
}

void encode_embeddings_body(const api::EmbeddingsRequest& request, std::string_view upstream_model,
                            std::string& out) {
  encode_with(request.body, upstream_model, {{"encoding_format", "float"}}, out);
}

bool decode_embeddings(std::string_view body, std::size_t expected, api::EmbeddingsResponse& out,
                       api::Error& err, std::string_view secret) {
  sj::element j;
  if (!sj::parse(body, j) || !j.is_object()) {
    err = malformed("upstream returned malformed JSON");
    return false;
  }
  if (sj::element e; sj::has_error(j, e)) {
    err = sj::error_from_json(e, secret);
    return false;
  }
  sj::array data;
  if (sj::element d; !sj::member(j, "data", d) || d.get_array().get(data)) {
    err = malformed("upstream embeddings response has no data");
    return false;
  }
  if (expected == 0 || expected > kMaxEmbeddingVectors || data.size() != expected) {
    err = malformed("upstream returned a different number of embeddings than inputs");
    return false;
  }
  out.data.assign(expected, {});
  std::vector<bool> seen(expected, false);
  std::size_t pos = 0;
  std::string raw;
  for (sj::element item : data) {
    const int idx = sj::index_of(item, pos++, static_cast<int>(expected));
    if (!item.is_object() || idx < 0 || seen[static_cast<std::size_t>(idx)]) {
      err = malformed("upstream embeddings response has an invalid index");
      return false;
    }
    seen[static_cast<std::size_t>(idx)] = true;
    auto& vec = out.data[static_cast<std::size_t>(idx)];
    sj::element emb;
    if (!sj::member(item, "embedding", emb)) {
      err = malformed("upstream embedding has no vector");
      return false;
    }
    if (std::string_view text; emb.get_string().get(text) == simdjson::SUCCESS) {
      if (!decode_base64(text, raw, kMaxEmbeddingDimensions * 4) || raw.size() % 4 != 0) {
        err = malformed("upstream embedding is not valid base64 float32");
        return false;
      }
      vec.resize(raw.size() / 4);
      for (std::size_t k = 0; k < vec.size(); ++k) {
        std::uint32_t bits = 0;
        for (int b = 0; b < 4; ++b)
          bits |=
              std::uint32_t{static_cast<unsigned char>(raw[k * 4 + static_cast<std::size_t>(b)])}
              << (8 * b);
        vec[k] = std::bit_cast<float>(bits);
      }
      continue;
    }
    sj::array values;
    if (emb.get_array().get(values) || values.size() > kMaxEmbeddingDimensions) {
      err = malformed("upstream embedding is not an array of numbers");
      return false;
    }
    vec.reserve(values.size());
    for (sj::element v : values) {
      double d = 0;
      if (v.get_double().get(d) != simdjson::SUCCESS) {
        std::int64_t i = 0;
        if (v.get_int64().get(i) != simdjson::SUCCESS) {
          err = malformed("upstream embedding is not an array of numbers");
          return false;
        }
        d = static_cast<double>(i);
      }
      vec.push_back(static_cast<float>(d));
    }
  }
  out.model = std::string(sj::string_member(j, "model"));
  if (sj::element u; sj::member(j, "usage", u) && u.is_object()) {
    out.usage = sj::parse_usage(u);
    // Embeddings report prompt_tokens and total_tokens only.
    std::int64_t total = 0;
    if (out.usage.completion_tokens == 0 && sj::int_member(u, "total_tokens", total) &&
        out.usage.prompt_tokens == 0)
      out.usage.prompt_tokens = clamp_count(total);
  }
  return true;
}

void encode_image_body(const api::ImageRequest& request, std::string_view upstream_model,
                       std::string& out) {
  encode_with(request.body, upstream_model, {}, out);
}

bool decode_images(std::string_view body, std::size_t max_images, api::ImageResponse& out,
                   api::Error& err, std::string_view secret) {
  sj::element j;
  if (!sj::parse(body, j) || !j.is_object()) {
    err = malformed("upstream returned malformed JSON");
    return false;
  }
  if (sj::element e; sj::has_error(j, e)) {
    err = sj::error_from_json(e, secret);
    return false;
  }
  sj::array data;
  if (sj::element d; !sj::member(j, "data", d) || d.get_array().get(data)) {
    err = malformed("upstream image response has no data");
    return false;
  }
  if (data.size() == 0 || data.size() > std::min(max_images, kMaxImagesPerResponse)) {
    err = malformed("upstream returned an unexpected number of images");
    return false;
  }
  std::int64_t created = 0;
  if (sj::int_member(j, "created", created) && created > 0) out.created = created;
  std::string fallback = "image/png";
  if (auto fmt = sj::string_member(j, "output_format"); fmt == "jpeg" || fmt == "webp")
    fallback = "image/" + std::string(fmt);
  out.images.clear();
  for (sj::element item : data) {
    if (!item.is_object()) {
      err = malformed("upstream image entry is not an object");
      return false;
    }
    api::GeneratedImage im;
    if (auto b64 = sj::string_member(item, "b64_json"); !b64.empty()) {
      if (!decode_base64(b64, im.bytes, kMaxImageBytes)) {
        err = malformed("upstream image is not valid base64 (or too large)");
        return false;
      }
      im.content_type = std::string(sniff_image_type(im.bytes, fallback));
    } else if (auto url = sj::string_member(item, "url"); !url.empty()) {
      if (url.size() > kMaxImageBytes * 2) {
        err = malformed("upstream image URL is too long");
        return false;
      }
      im.url = std::string(url);
    } else {
      err = malformed("upstream image has neither b64_json nor url");
      return false;
    }
    im.revised_prompt = std::string(sj::string_member(item, "revised_prompt"));
    out.images.push_back(std::move(im));
  }
  if (sj::element u; sj::member(j, "usage", u) && u.is_object()) {
    // gpt-image-1: input_tokens / output_tokens.
    std::int64_t v = 0;
    out.usage.reported = true;
    if (sj::int_member(u, "input_tokens", v)) out.usage.prompt_tokens = clamp_count(v);
    if (sj::int_member(u, "output_tokens", v)) out.usage.completion_tokens = clamp_count(v);
  }
  return true;
}

}  // namespace infergate::adapters::openai
