#include "gemini_codec.hpp"

#include <chrono>
#include <cmath>
#include <map>
#include <utility>

#include "infergate/adapters/upstream_error.hpp"
#include "infergate/api/json_text.hpp"

namespace infergate::adapters::gemini {

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

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

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

// Token counts are int32 in the API; proto3 JSON may also write int64 as strings.
bool count_member(const json& obj, std::string_view key, std::int64_t& out) {
  const json* v = member(obj, key);
  if (!v) return false;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    out = u > static_cast<std::uint64_t>(kMaxTokenCount) ? kMaxTokenCount
                                                         : static_cast<std::int64_t>(u);
    return true;
  }
  if (v->is_number_integer()) {
    out = std::max<std::int64_t>(0, v->get<std::int64_t>());
    return true;
  }
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!(d >= 0 && d <= 1e15)) return false;  // also rejects NaN
    out = static_cast<std::int64_t>(d);
    return true;
  }
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty() || s.size() > 15 || s.find_first_not_of("0123456789") != std::string::npos)
      return false;
    out = std::stoll(s);
    return true;
  }
  return false;
}

api::Error invalid(std::string message, std::string param = {}) {
  return api::Error::make(api::ErrorKind::invalid_request, std::move(message), std::move(param));
}

api::Error malformed(std::string_view what) {
  api::Error e =
      api::Error::make(api::ErrorKind::upstream, std::string(what), {}, "upstream_malformed");
  e.retryable = true;
  return e;
}

// ---------------------------------------------------------------------------------------------
// Schema

constexpr std::string_view kCopiedSchemaKeys[] = {
    "title",   "description", "nullable",      "example",       "default",
    "pattern", "minLength",   "maxLength",     "minItems",      "maxItems",
    "minimum", "maximum",     "minProperties", "maxProperties", "propertyOrdering"};

bool copied_key(std::string_view k) {
  for (auto c : kCopiedSchemaKeys)
    if (c == k) return true;
  return false;
}

// "#/$defs/Name" or "#/definitions/Name" in the root schema.
const json* resolve_ref(const json& root, std::string_view ref) {
  for (std::string_view prefix : {"#/$defs/", "#/definitions/"}) {
    if (!starts_with(ref, prefix)) continue;
    const json* defs = member(root, prefix.substr(2, prefix.size() - 3));
    if (!defs || !defs->is_object()) return nullptr;
    return member(*defs, ref.substr(prefix.size()));
  }
  return nullptr;
}

json sanitize(const json& s, const json& root, int depth);

// Copies `from`'s members that `into` lacks.
void merge_missing(json& into, const json& from) {
  if (!from.is_object()) return;
  for (auto it = from.begin(); it != from.end(); ++it)
    if (!into.contains(it.key())) into[it.key()] = it.value();
}

json sanitize(const json& s, const json& root, int depth) {
  json out = json::object();
  if (!s.is_object() || depth > kMaxSchemaDepth) return out;
  if (auto ref = string_member(s, "$ref"); !ref.empty()) {
    const json* target = resolve_ref(root, ref);
    if (target) out = sanitize(*target, root, depth + 1);
    if (auto d = string_member(s, "description"); !d.empty()) out["description"] = d;
    return out;
  }
  bool nullable = false;
  json all_of;
  for (auto it = s.begin(); it != s.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "type") {
      if (v.is_string()) {
        out["type"] = v;
      } else if (v.is_array()) {
        json types = json::array();
        for (const auto& t : v) {
          if (!t.is_string()) continue;
          if (t == "null") {
            nullable = true;
          } else {
            types.push_back(t);
          }
        }
        if (types.size() == 1) {
          out["type"] = types[0];
        } else if (types.size() > 1) {
          json any = json::array();
          for (const auto& t : types) any.push_back(json{{"type", t}});
          out["anyOf"] = std::move(any);
        }
      }
    } else if (copied_key(k)) {
      out[k] = v;
    } else if (k == "format") {
      out[k] = v;  // checked against the type below
    } else if (k == "enum") {
      if (v.is_array()) out["enum"] = v;
    } else if (k == "const") {
      if (!s.contains("enum")) out["enum"] = json::array({v});
    } else if (k == "properties") {
      if (!v.is_object()) continue;
      json props = json::object();
      for (auto p = v.begin(); p != v.end(); ++p)
        props[p.key()] = sanitize(p.value(), root, depth + 1);
      out["properties"] = std::move(props);
    } else if (k == "items") {
      if (v.is_object()) out["items"] = sanitize(v, root, depth + 1);
    } else if (k == "anyOf" || k == "oneOf") {
      if (!v.is_array() || out.contains("anyOf")) continue;
      json any = json::array();
      for (const auto& sub : v) {
        json x = sanitize(sub, root, depth + 1);
        if (x == json{{"type", "null"}}) {
          nullable = true;  // Optional[X] as anyOf [X, null]
          continue;
        }
        any.push_back(std::move(x));
      }
      if (any.size() == 1) {
        all_of = std::move(any[0]);  // merged below, like a one-entry allOf
      } else if (!any.empty()) {
        out["anyOf"] = std::move(any);
      }
    } else if (k == "allOf") {
      if (v.is_array() && v.size() == 1) all_of = sanitize(v[0], root, depth + 1);
    } else if (k == "required") {
      if (v.is_array()) out["required"] = v;  // filtered below
    }
    // Anything else (additionalProperties, $schema, $id, $defs, definitions, $comment, examples,
    // patternProperties, unevaluatedProperties, exclusiveMinimum, exclusiveMaximum, multipleOf,
    // uniqueItems, contentEncoding, readOnly, writeOnly, deprecated, not, if/then/else,
    // dependentRequired, strict, ...) has no place in Gemini's Schema object.
  }
  if (all_of.is_object()) merge_missing(out, all_of);
  if (nullable) out["nullable"] = true;
  if (auto req = out.find("required"); req != out.end()) {
    json kept = json::array();
    const json* props = member(out, "properties");
    for (const auto& r : *req)
      if (r.is_string() && props && props->contains(r.get_ref<const std::string&>()))
        kept.push_back(r);
    if (kept.empty()) {
      out.erase(req);
    } else {
      *req = std::move(kept);
    }
  }
  if (auto f = out.find("format"); f != out.end()) {
    // Gemini accepts only these formats on strings ("enum", "date-time"); numbers take
    // float/double/int32/int64.
    const auto type = string_member(out, "type");
    const bool keep = f->is_string() && (type != "string" || *f == "enum" || *f == "date-time");
    if (!keep) out.erase(f);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Request

// Informational OpenAI fields that do not change the answer: ignored without being reported.
constexpr std::string_view kIgnoredFields[] = {"model",    "stream", "stream_options", "user",
                                               "metadata", "store",  "service_tier"};

// The extension's mime type of an image URL's path; image/jpeg when it names none Gemini knows.
std::string_view guess_image_mime(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const auto dot = url.rfind('.');
  const auto ext = dot == std::string_view::npos ? std::string_view{} : url.substr(dot + 1);
  if (iequals(ext, "png")) return "image/png";
  if (iequals(ext, "webp")) return "image/webp";
  if (iequals(ext, "heic")) return "image/heic";
  if (iequals(ext, "heif")) return "image/heif";
  if (iequals(ext, "gif")) return "image/gif";
  return "image/jpeg";
}

// "data:<mime>;base64,<data>" -> inlineData. False when it is not a base64 data URL.
bool data_url_part(std::string_view url, json& part) {
  if (!starts_with(url, "data:")) return false;
  const auto comma = url.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view meta = url.substr(5, comma - 5);
  constexpr std::string_view kB64 = ";base64";
  if (meta.size() < kB64.size() || meta.substr(meta.size() - kB64.size()) != kB64) return false;
  meta.remove_suffix(kB64.size());
  if (meta.empty()) return false;
  part = json{{"inlineData",
               {{"mimeType", std::string(meta)}, {"data", std::string(url.substr(comma + 1))}}}};
  return true;
}

class RequestEncoder {
 public:
  RequestEncoder(const json& body, bool drop) : body_(body), drop_(drop) {}

  bool run(std::string& out, std::vector<std::string>& dropped, api::Error& err) {
    if (!body_.is_object()) return fail(err, invalid("request body must be an object"));
    json req = json::object();
    json gen = json::object();
    for (auto it = body_.begin(); it != body_.end(); ++it) {
      const std::string& k = it.key();
      const json& v = it.value();
      if (v.is_null() || contains(kIgnoredFields, k)) continue;
      if (k == "messages") {
        if (!messages(v, req)) return fail(err, std::move(err_));
      } else if (k == "temperature" || k == "top_p") {
        if (!v.is_number()) return fail(err, invalid(k + " must be a number", k));
        gen[k == "top_p" ? "topP" : "temperature"] = v;
      } else if (k == "presence_penalty" || k == "frequency_penalty") {
        if (!v.is_number()) return fail(err, invalid(k + " must be a number", k));
        // 0 is the default; models without penalty support reject even a zero.
        if (v.get<double>() != 0)
          gen[k == "presence_penalty" ? "presencePenalty" : "frequencyPenalty"] = v;
      } else if (k == "top_k" || k == "seed" || k == "n") {
        if (!v.is_number_integer()) return fail(err, invalid(k + " must be an integer", k));
        gen[k == "top_k" ? "topK" : (k == "seed" ? "seed" : "candidateCount")] = v;
      } else if (k == "max_tokens" || k == "max_completion_tokens") {
        if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
          return fail(err, invalid(k + " must be a positive integer", k));
        // max_completion_tokens wins over the deprecated max_tokens.
        if (k == "max_completion_tokens" || !member(body_, "max_completion_tokens"))
          gen["maxOutputTokens"] = v;
      } else if (k == "stop") {
        if (v.is_string()) {
          gen["stopSequences"] = json::array({v});
        } else if (v.is_array()) {
          for (const auto& s : v)
            if (!s.is_string()) return fail(err, invalid("stop must be strings", "stop"));
          if (!v.empty()) gen["stopSequences"] = v;
        } else {
          return fail(err, invalid("stop must be a string or an array of strings", "stop"));
        }
      } else if (k == "response_format") {
        response_format(v, gen);
      } else if (k == "reasoning_effort") {
        // Budgets of Gemini's OpenAI-compatible endpoint ("OpenAI compatibility", Thinking).
        const auto e = v.is_string() ? v.get<std::string>() : std::string();
        const int budget = e == "low" ? 1024 : e == "medium" ? 8192 : e == "high" ? 24576 : -1;
        if (budget < 0) {
          unsupported(k);
        } else {
          gen["thinkingConfig"] = json{{"thinkingBudget", budget}};
        }
      } else if (k == "tools") {
        tools(v, req);
      } else if (k == "tool_choice") {
        tool_choice(v, req);
      } else if (k == "parallel_tool_calls") {
        if (v == false) unsupported(k);  // Gemini may always call several functions
      } else if (k == "logprobs") {
        if (v != false) unsupported(k);
      } else if (k == "logit_bias") {
        if (!(v.is_object() && v.empty())) unsupported(k);
      } else if (k == "modalities") {
        if (v != json::array({"text"})) unsupported(k);
      } else {
        // top_logprobs, audio, prediction, web_search_options, functions, function_call, and
        // anything else this wire format has no field for.
        unsupported(k);
      }
    }
    if (failed_) return fail(err, std::move(err_));
    if (!req.contains("contents") || req["contents"].empty())
      return fail(
          err, invalid("messages must contain at least one user or assistant message", "messages"));
    if (!unsupported_.empty()) {
      if (!drop_) {
        std::string msg = "this deployment's provider (gemini) does not support: ";
        for (std::size_t i = 0; i < unsupported_.size(); ++i) {
          if (i) msg += ", ";
          msg += unsupported_[i];
        }
        return fail(err, invalid(std::move(msg), unsupported_.front()));
      }
      for (auto& u : unsupported_) dropped.push_back(std::move(u));
    }
    // A function-calling config without functions (every tool dropped) has nothing to govern.
    if (!req.contains("tools")) req.erase("toolConfig");
    if (!gen.empty()) req["generationConfig"] = std::move(gen);
    out += req.dump(-1, ' ', false, json::error_handler_t::replace);
    return true;
  }

 private:
  template <std::size_t N>
  static bool contains(const std::string_view (&list)[N], std::string_view k) {
    for (auto x : list)
      if (x == k) return true;
    return false;
  }
  static bool fail(api::Error& err, api::Error e) {
    err = std::move(e);
    return false;
  }
  bool error(api::Error e) {
    if (!failed_) err_ = std::move(e);
    failed_ = true;
    return false;
  }
  void unsupported(std::string name) {
    for (const auto& u : unsupported_)
      if (u == name) return;
    unsupported_.push_back(std::move(name));
  }

  // Appends `parts` to the last content when it has the same role (Gemini wants turns to
  // alternate; a tool-result turn followed by a user message becomes one user turn).
  static void push_content(json& contents, std::string_view role, json parts) {
    if (parts.empty()) return;
    if (!contents.empty() && contents.back()["role"] == role) {
      for (auto& p : parts) contents.back()["parts"].push_back(std::move(p));
      return;
    }
    contents.push_back(json{{"role", role}, {"parts", std::move(parts)}});
  }

  // OpenAI message content (string or array of parts) -> Gemini parts.
  bool content_parts(const json& content, const std::string& param, bool text_only, json& parts) {
    if (content.is_null()) return true;
    if (content.is_string()) {
      if (!content.get_ref<const std::string&>().empty()) parts.push_back(json{{"text", content}});
      return true;
    }
    if (!content.is_array()) return error(invalid("content must be a string or an array", param));
    for (std::size_t i = 0; i < content.size(); ++i) {
      const json& p = content[i];
      const std::string pp = param + "[" + std::to_string(i) + "]";
      const auto type = string_member(p, "type");
      if (type == "text" || type == "refusal") {
        auto t = string_member(p, type == "text" ? "text" : "refusal");
        if (!t.empty()) parts.push_back(json{{"text", t}});
        continue;
      }
      if (text_only) return error(invalid("only text parts are allowed here", pp));
      if (type == "image_url") {
        const json* iu = member(p, "image_url");
        std::string_view url = iu && iu->is_string()
                                   ? std::string_view(iu->get_ref<const std::string&>())
                                   : (iu ? string_member(*iu, "url") : "");
        json part;
        if (data_url_part(url, part)) {
          parts.push_back(std::move(part));
        } else if (starts_with(url, "https://") || starts_with(url, "http://") ||
                   starts_with(url, "gs://")) {
          // "File input methods": a URI with its (required) IANA mime type.
          parts.push_back(json{
              {"fileData",
               {{"mimeType", std::string(guess_image_mime(url))}, {"fileUri", std::string(url)}}}});
        } else {
          return error(invalid("image_url.url must be an http(s) URL or a base64 data URL", pp));
        }
      } else if (type == "input_audio") {
        const json* a = member(p, "input_audio");
        const auto data = a ? string_member(*a, "data") : std::string_view{};
        const auto format = a ? string_member(*a, "format") : std::string_view{};
        if (data.empty() || format.empty() ||
            format.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") !=
                std::string_view::npos)
          return error(invalid("input_audio needs data and format", pp));
        parts.push_back(
            json{{"inlineData",
                  {{"mimeType", "audio/" + std::string(format)}, {"data", std::string(data)}}}});
      } else if (type == "file") {
        const json* f = member(p, "file");
        json part;
        if (!f || !data_url_part(string_member(*f, "file_data"), part))
          return error(
              invalid("file parts need file_data as a base64 data URL (file_id is not "
                      "supported by gemini deployments)",
                      pp));
        parts.push_back(std::move(part));
      } else {
        return error(invalid("unsupported content part type '" + std::string(type) + "'", pp));
      }
    }
    return true;
  }

  bool messages(const json& msgs, json& req) {
    if (!msgs.is_array()) return error(invalid("messages must be an array", "messages"));
    json system_parts = json::array();
    json contents = json::array();
    std::map<std::string, std::string> call_names;  // tool_call id -> function name
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      const json& m = msgs[i];
      const std::string param = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) return error(invalid("message must be an object", param));
      const auto role = string_member(m, "role");
      const json null_content;
      const json* content = member(m, "content");
      if (!content) content = &null_content;
      if (role == "system" || role == "developer") {
        if (!content_parts(*content, param + ".content", true, system_parts)) return false;
      } else if (role == "user") {
        json parts = json::array();
        if (!content_parts(*content, param + ".content", false, parts)) return false;
        push_content(contents, "user", std::move(parts));
      } else if (role == "assistant") {
        json parts = json::array();
        if (!content_parts(*content, param + ".content", true, parts)) return false;
        if (const json* calls = member(m, "tool_calls")) {
          if (!calls->is_array()) return error(invalid("must be an array", param + ".tool_calls"));
          bool first = true;
          for (std::size_t k = 0; k < calls->size(); ++k) {
            const json& tc = (*calls)[k];
            const std::string cp = param + ".tool_calls[" + std::to_string(k) + "]";
            const json* fn = member(tc, "function");
            const auto name = fn ? string_member(*fn, "name") : std::string_view{};
            if (name.empty()) return error(invalid("tool call needs function.name", cp));
            json args = json::object();
            if (const json* a = member(*fn, "arguments")) {
              if (a->is_object()) {
                args = *a;
              } else if (a->is_string() && !a->get_ref<const std::string&>().empty()) {
                args = api::parse_json(a->get_ref<const std::string&>());
                if (args.is_discarded() || !args.is_object())
                  return error(invalid("tool call arguments must be a JSON object",
                                       cp + ".function.arguments"));
              }
            }
            json part = json{{"functionCall", {{"name", name}, {"args", std::move(args)}}}};
            std::string_view sig;
            if (const json* extra = member(tc, "extra_content"))
              if (const json* g = member(*extra, "google"))
                sig = string_member(*g, "thought_signature");
            if (!sig.empty()) {
              part["thoughtSignature"] = sig;
            } else if (first) {
              part["thoughtSignature"] = kDummyThoughtSignature;
            }
            first = false;
            parts.push_back(std::move(part));
            if (auto id = string_member(tc, "id"); !id.empty())
              call_names[std::string(id)] = std::string(name);
          }
        }
        push_content(contents, "model", std::move(parts));
      } else if (role == "tool") {
        const auto id = string_member(m, "tool_call_id");
        auto found = call_names.find(std::string(id));
        if (found == call_names.end())
          return error(
              invalid("tool message answers no earlier tool call", param + ".tool_call_id"));
        json text_parts = json::array();
        if (!content_parts(*content, param + ".content", true, text_parts)) return false;
        std::string text;
        for (const auto& p : text_parts) text += p["text"].get_ref<const std::string&>();
        json response = api::parse_json(text);
        if (response.is_discarded() || !response.is_object())
          response = json{{"content", std::move(text)}};
        json part = json{
            {"functionResponse", {{"name", found->second}, {"response", std::move(response)}}}};
        push_content(contents, "user", json::array({std::move(part)}));
      } else {
        return error(
            invalid("unsupported message role '" + std::string(role) + "'", param + ".role"));
      }
    }
    if (!system_parts.empty()) req["systemInstruction"] = json{{"parts", std::move(system_parts)}};
    req["contents"] = std::move(contents);
    return true;
  }

  void response_format(const json& v, json& gen) {
    const auto type = string_member(v, "type");
    if (type == "text") return;
    if (type == "json_object") {
      gen["responseMimeType"] = "application/json";
    } else if (type == "json_schema") {
      gen["responseMimeType"] = "application/json";
      if (const json* js = member(v, "json_schema"))
        if (const json* schema = member(*js, "schema"); schema && schema->is_object())
          gen["responseSchema"] = sanitize_schema(*schema);
    } else {
      unsupported("response_format");
    }
  }

  void tools(const json& v, json& req) {
    if (!v.is_array()) {
      error(invalid("tools must be an array", "tools"));
      return;
    }
    json decls = json::array();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const json& t = v[i];
      const json* fn = member(t, "function");
      if (string_member(t, "type") != "function" || !fn) {
        unsupported("tools[" + std::to_string(i) + "]");
        continue;
      }
      const auto name = string_member(*fn, "name");
      if (name.empty()) {
        error(invalid("tool needs function.name", "tools[" + std::to_string(i) + "]"));
        return;
      }
      json d = json{{"name", name}};
      if (auto desc = string_member(*fn, "description"); !desc.empty()) d["description"] = desc;
      if (const json* params = member(*fn, "parameters"); params && params->is_object()) {
        json p = sanitize_schema(*params);
        // Gemini rejects an OBJECT schema without properties ("should be non-empty for OBJECT
        // type"): a function without parameters simply has none.
        const json* props = member(p, "properties");
        if (props && props->is_object() && !props->empty()) d["parameters"] = std::move(p);
      }
      decls.push_back(std::move(d));
    }
    if (!decls.empty()) req["tools"] = json::array({json{{"functionDeclarations", decls}}});
  }

  void tool_choice(const json& v, json& req) {
    json cfg;
    if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      if (s == "auto") {
        cfg = json{{"mode", "AUTO"}};
      } else if (s == "none") {
        cfg = json{{"mode", "NONE"}};
      } else if (s == "required") {
        cfg = json{{"mode", "ANY"}};
      } else {
        error(invalid("tool_choice must be auto, none, required or a function", "tool_choice"));
        return;
      }
    } else if (string_member(v, "type") == "function") {
      const json* fn = member(v, "function");
      const auto name = fn ? string_member(*fn, "name") : std::string_view{};
      if (name.empty()) {
        error(invalid("tool_choice.function.name is required", "tool_choice"));
        return;
      }
      cfg = json{{"mode", "ANY"}, {"allowedFunctionNames", json::array({name})}};
    } else {
      unsupported("tool_choice");
      return;
    }
    req["toolConfig"] = json{{"functionCallingConfig", std::move(cfg)}};
  }

  const json& body_;
  bool drop_;
  std::vector<std::string> unsupported_;
  api::Error err_;
  bool failed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Response

api::Event make_event(api::Event::Type type, int choice) {
  api::Event ev;
  ev.type = type;
  ev.choice = choice;
  return ev;
}

api::Usage parse_usage(const json& u) {
  api::Usage usage;
  usage.reported = true;
  std::int64_t v = 0;
  if (count_member(u, "promptTokenCount", v)) usage.prompt_tokens = v;
  std::int64_t completion = 0;
  if (count_member(u, "candidatesTokenCount", v)) completion += v;
  if (count_member(u, "thoughtsTokenCount", v)) completion += v;  // billed as output
  usage.completion_tokens = std::min(completion, kMaxTokenCount);
  if (count_member(u, "cachedContentTokenCount", v))
    usage.cached_tokens = std::min(v, usage.prompt_tokens);
  return usage;
}

// Seconds from a google.rpc.RetryInfo detail ("retryDelay": "37s" / "1.5s"), or -1.
int retry_info_seconds(const json& e) {
  const json* details = member(e, "details");
  if (!details || !details->is_array()) return -1;
  for (const auto& d : *details) {
    if (string_member(d, "@type") != "type.googleapis.com/google.rpc.RetryInfo") continue;
    auto delay = string_member(d, "retryDelay");
    if (delay.size() < 2 || delay.size() > 16 || delay.back() != 's') return -1;
    delay.remove_suffix(1);
    if (delay.find_first_not_of("0123456789.") != std::string_view::npos) return -1;
    const double s = std::strtod(std::string(delay).c_str(), nullptr);
    if (!(s >= 0)) return -1;
    return static_cast<int>(std::min<double>(std::ceil(s), kMaxRetryAfterS));
  }
  return -1;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// (a) request

std::string method_path(std::string_view model, bool stream) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "/";
  if (!starts_with(model, "models/") && !starts_with(model, "tunedModels/")) out += "models/";
  for (char ch : model) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || c == '/') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += stream ? ":streamGenerateContent" : ":generateContent";
  return out;
}

std::string count_tokens_path(std::string_view model) {
  std::string out = method_path(model, /*stream=*/false);
  constexpr std::string_view kGenerate = ":generateContent";
  out.resize(out.size() - kGenerate.size());
  out += ":countTokens";
  return out;
}

json sanitize_schema(const json& schema) { return sanitize(schema, schema, 0); }

bool encode_request(const api::ChatRequest& request, bool drop_unsupported, std::string& out,
                    std::vector<std::string>& dropped, api::Error& err) {
  RequestEncoder enc(request.body, drop_unsupported);
  return enc.run(out, dropped, err);
}

void request_headers(const config::ProviderConfig& provider, bool stream,
                     std::string_view request_id, const HeaderSink& add) {
  auto provider_sets = [&](std::string_view name) {
    for (const auto& [k, v] : provider.headers)
      if (iequals(k, name)) return true;
    return false;
  };
  if (!provider.api_key.empty() && !provider_sets("x-goog-api-key"))
    add("x-goog-api-key", provider.api_key);
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
// (b) responses

api::FinishReason finish_reason(std::string_view reason, bool called) {
  if (reason == "STOP") return called ? api::FinishReason::tool_calls : api::FinishReason::stop;
  if (reason == "MAX_TOKENS") return api::FinishReason::length;
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason == "IMAGE_SAFETY" ||
      reason == "IMAGE_PROHIBITED_CONTENT" || reason == "IMAGE_RECITATION")
    return api::FinishReason::content_filter;
  // LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, ...
  return called ? api::FinishReason::tool_calls : api::FinishReason::stop;
}

ResponseDecoder::Candidate& ResponseDecoder::candidate(int index) {
  if (static_cast<std::size_t>(index) >= candidates_.size())
    candidates_.resize(static_cast<std::size_t>(index) + 1);
  return candidates_[static_cast<std::size_t>(index)];
}

bool ResponseDecoder::complete() const {
  if (blocked_) return true;
  bool any = false;
  for (const auto& c : candidates_) {
    if (!c.seen) continue;
    any = true;
    if (!c.finished) return false;
  }
  return any;
}

ResponseDecoder::Status ResponseDecoder::decode(std::string_view json_text,
                                                std::vector<api::Event>& out) {
  auto fail = [&](api::Error e) {
    auto ev = make_event(api::Event::Type::error, 0);
    ev.error = std::move(e);
    out.push_back(std::move(ev));
    return Status::error;
  };
  const json j = api::parse_json(json_text);
  if (j.is_discarded() || !j.is_object())
    return fail(malformed("upstream sent a malformed GenerateContentResponse"));
  if (const json* e = member(j, "error")) return fail(error_from_object(*e, 0, -1, secret_));

  const json* cands = member(j, "candidates");
  if (cands && !cands->is_array())
    return fail(malformed("upstream sent a malformed GenerateContentResponse"));
  if (!started_) {
    started_ = true;
    auto ev = make_event(api::Event::Type::start, 0);
    ev.text = string_member(j, "responseId");
    ev.model = string_member(j, "modelVersion");
    out.push_back(std::move(ev));
    // Tool-call ids: Gemini gives none (the Gemini API's FunctionCall.id is optional), so they
    // are synthesized, unique within the response and, through the responseId, the conversation.
    id_prefix_ = "call_";
    for (char ch : std::string_view(out.back().text).substr(0, 24))
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        id_prefix_ += ch;
    if (id_prefix_.size() > 5) id_prefix_ += '_';
  }

  if (cands) {
    for (std::size_t pos = 0; pos < cands->size(); ++pos) {
      const json& c = (*cands)[pos];
      if (!c.is_object()) return fail(malformed("upstream sent an invalid candidate"));
      std::int64_t idx = static_cast<std::int64_t>(pos);
      if (const json* iv = member(c, "index")) {
        if (!iv->is_number_integer()) return fail(malformed("upstream sent an invalid candidate"));
        idx = iv->get<std::int64_t>();
      }
      if (idx < 0 || idx >= kMaxCandidates)
        return fail(malformed("upstream sent an invalid candidate"));
      const int ci = static_cast<int>(idx);
      Candidate& cs = candidate(ci);
      cs.seen = true;
      if (const json* content = member(c, "content")) {
        const json* parts = member(*content, "parts");
        if (parts && !parts->is_array()) return fail(malformed("upstream sent invalid parts"));
        for (std::size_t k = 0; parts && k < parts->size(); ++k) {
          const json& p = (*parts)[k];
          if (const json* fc = member(p, "functionCall")) {
            if (cs.tool_calls >= kMaxToolCalls)
              return fail(malformed("upstream sent too many function calls"));
            auto ev = make_event(api::Event::Type::tool_call, ci);
            ev.tool_call.index = cs.tool_calls++;
            auto id = string_member(*fc, "id");
            ev.tool_call.id =
                id.empty() ? id_prefix_ + std::to_string(next_call_) : std::string(id);
            ++next_call_;
            ev.tool_call.name = string_member(*fc, "name");
            const json* args = member(*fc, "args");
            ev.tool_call.arguments =
                args ? args->dump(-1, ' ', false, json::error_handler_t::replace) : "{}";
            cs.called = true;
            out.push_back(std::move(ev));
            continue;
          }
          const json* text = member(p, "text");
          if (!text || !text->is_string() || text->get_ref<const std::string&>().empty())
            continue;  // inlineData, executableCode, a bare thoughtSignature, ...
          const json* thought = member(p, "thought");
          auto ev = make_event(
              thought && *thought == true ? api::Event::Type::reasoning : api::Event::Type::text,
              ci);
          ev.text = text->get<std::string>();
          out.push_back(std::move(ev));
        }
      }
      if (auto reason = string_member(c, "finishReason");
          !reason.empty() && reason != "FINISH_REASON_UNSPECIFIED") {
        cs.finished = true;
        auto ev = make_event(api::Event::Type::finish, ci);
        ev.finish = finish_reason(reason, cs.called);
        out.push_back(std::move(ev));
      }
    }
  }
  if ((!cands || cands->empty()) && !blocked_) {
    // The prompt itself was blocked: no candidates, only promptFeedback.blockReason.
    if (const json* fb = member(j, "promptFeedback");
        fb && !string_member(*fb, "blockReason").empty()) {
      blocked_ = true;
      auto ev = make_event(api::Event::Type::finish, 0);
      ev.finish = api::FinishReason::content_filter;
      out.push_back(std::move(ev));
    }
  }
  if (const json* u = member(j, "usageMetadata"); u && u->is_object()) {
    usage_ = parse_usage(*u);
    usage_pending_ = true;
  }
  return Status::ok;
}

void ResponseDecoder::flush(std::vector<api::Event>& out) {
  if (!usage_pending_) return;
  usage_pending_ = false;
  auto ev = make_event(api::Event::Type::usage, 0);
  ev.usage = usage_;
  out.push_back(std::move(ev));
}

bool decode_response(std::string_view body, std::vector<api::Event>& out, api::Error& err,
                     std::string_view secret) {
  ResponseDecoder dec(secret);
  std::vector<api::Event> events;
  if (dec.decode(body, events) == ResponseDecoder::Status::error) {
    err = std::move(events.back().error);
    return false;
  }
  dec.flush(events);
  for (auto& ev : events) out.push_back(std::move(ev));
  return true;
}

bool encode_count_tokens_request(const api::ChatRequest& request, std::string_view upstream_model,
                                 bool drop_unsupported, std::string& out,
                                 std::vector<std::string>& dropped, api::Error& err) {
  std::string full;
  if (!encode_request(request, drop_unsupported, full, dropped, err)) return false;
  json whole = json::parse(full, nullptr, /*allow_exceptions=*/false);
  if (!whole.is_object()) {
    err = invalid("the request could not be translated");
    return false;
  }
  // "Counting tokens > models.countTokens": generateContentRequest (with its required `model`)
  // counts the system instruction and the function declarations too; bare `contents` would not.
  json inner = json::object();
  inner["model"] =
      starts_with(upstream_model, "models/") || starts_with(upstream_model, "tunedModels/")
          ? std::string(upstream_model)
          : "models/" + std::string(upstream_model);
  for (const char* key : {"contents", "systemInstruction", "tools"}) {
    auto it = whole.find(key);
    if (it != whole.end()) inner[key] = std::move(*it);
  }
  json req = json::object();
  req["generateContentRequest"] = std::move(inner);
  out += req.dump(-1, ' ', false, json::error_handler_t::replace);
  return true;
}

bool decode_count_tokens(std::string_view body, std::int64_t& total_tokens, api::Error& err,
                         std::string_view secret) {
  const json j = api::parse_json(body);
  if (j.is_discarded() || !j.is_object()) {
    err = malformed("upstream sent a malformed CountTokensResponse");
    return false;
  }
  if (const json* e = member(j, "error")) {
    err = error_from_object(*e, 0, -1, secret);
    return false;
  }
  // proto3 JSON leaves out zero-valued fields: an object without totalTokens counts 0.
  std::int64_t n = 0;
  if (member(j, "totalTokens") != nullptr && !count_member(j, "totalTokens", n)) {
    err = malformed("upstream sent a malformed CountTokensResponse");
    return false;
  }
  total_tokens = n;
  return true;
}

// ---------------------------------------------------------------------------------------------
// (c) errors

api::Error error_from_object(const json& e, int http_status, int retry_after_s,
                             std::string_view secret) {
  int code = http_status;
  if (const json* c = member(e, "code"); c && c->is_number_integer() && (code < 300)) {
    const auto v = c->get<std::int64_t>();
    if (v >= 400 && v <= 599) code = static_cast<int>(v);
  }
  if (code < 300) code = 500;  // an error object without a usable code: the upstream failed
  const auto status = string_member(e, "status");
  const auto message = e.is_string() ? std::string_view(e.get_ref<const std::string&>())
                                     : string_member(e, "message");
  bool key_problem = status == "UNAUTHENTICATED" || status == "PERMISSION_DENIED";
  if (const json* details = member(e, "details"); details && details->is_array()) {
    for (const auto& d : *details)
      if (string_member(d, "reason").find("API_KEY") != std::string_view::npos) key_problem = true;
  }
  if (retry_after_s < 0) retry_after_s = retry_info_seconds(e);
  if (key_problem) return map_status_error(401, {}, retry_after_s, secret);
  if (status == "FAILED_PRECONDITION") {
    // "Gemini API free tier is not available in your country...": the deployment's account, not
    // the request; another deployment may serve it.
    api::Error err = api::Error::make(api::ErrorKind::upstream,
                                      "upstream precondition failed (account, billing or region)",
                                      {}, "upstream_error");
    err.retryable = true;
    return err;
  }
  return map_status_error(code, message, retry_after_s, secret);
}

api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view api_key) {
  const int ra = parse_retry_after(retry_after, std::chrono::system_clock::now());
  if (!body.empty() && body.size() <= 64 * 1024) {
    json j = api::parse_json(body);
    // Google's error body; some front ends wrap it in an array.
    if (j.is_array() && j.size() == 1) j = j[0];
    if (const json* e = member(j, "error"); e && (e->is_object() || e->is_string()))
      return error_from_object(*e, status, ra, api_key);
  }
  return map_status_error(status, {}, ra, api_key);
}

}  // namespace infergate::adapters::gemini
