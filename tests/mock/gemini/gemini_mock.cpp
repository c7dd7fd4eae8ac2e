#include "gemini_mock.hpp"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace infergate::mock::gemini {
namespace {

using json = nlohmann::json;

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool allowed(std::string_view key, std::initializer_list<std::string_view> keys) {
  for (auto k : keys)
    if (k == key) return true;
  return false;
}

std::optional<std::string> unknown(std::string_view where, std::string_view key) {
  std::string m = "Invalid JSON payload received. Unknown name \"";
  m += key;
  m += "\"";
  if (!where.empty()) {
    m += " at '";
    m += where;
    m += "'";
  }
  m += ": Cannot find field.";
  return m;
}

json usage_json(const Answer& a, bool final_chunk) {
  json u = {{"promptTokenCount", a.prompt_tokens}};
  if (final_chunk) {
    u["candidatesTokenCount"] = a.completion_tokens;
    u["totalTokenCount"] = a.prompt_tokens + a.completion_tokens;
    if (a.cached_tokens > 0) u["cachedContentTokenCount"] = a.cached_tokens;
  } else {
    u["totalTokenCount"] = a.prompt_tokens;
  }
  u["promptTokensDetails"] =
      json::array({json{{"modality", "TEXT"}, {"tokenCount", a.prompt_tokens}}});
  return u;
}

// The model's function-call parts. Parallel calls are several functionCall parts in one
// candidate's content ("Function calling > Parallel function calling"); only the first carries
// the thought signature ("Thought signatures": in parallel calls, the first functionCall part).
json function_call_parts(const Answer& a) {
  json parts = json::array({json{
      {"functionCall", {{"name", kToolName}, {"args", {{"city", "Paris"}, {"unit", "celsius"}}}}},
      {"thoughtSignature", kThoughtSignature}}});
  if (a.parallel)
    parts.push_back(
        json{{"functionCall", {{"name", kToolName2}, {"args", {{"timezone", "Europe/Paris"}}}}}});
  return parts;
}

}  // namespace

bool parse_route(std::string_view target, Route& out) {
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  std::string_view rest;
  for (std::string_view prefix : {"/v1beta/models/", "/v1/models/"}) {
    if (target.substr(0, prefix.size()) == prefix) rest = target.substr(prefix.size());
  }
  const auto colon = rest.rfind(':');
  if (rest.empty() || colon == std::string_view::npos || colon == 0) return false;
  if (!percent_decode(rest.substr(0, colon), out.model)) return false;
  out.method = std::string(rest.substr(colon + 1));
  if (out.method != "generateContent" && out.method != "streamGenerateContent" &&
      out.method != "countTokens")
    return false;
  out.alt_sse = false;
  out.key_in_query = false;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item == "alt=sse") out.alt_sse = true;
    if (item.substr(0, 4) == "key=" && item.size() > 4) out.key_in_query = true;
  }
  return true;
}

std::optional<std::string> count_tokens(std::string_view body, std::string_view model,
                                        std::int64_t& total_tokens) {
  total_tokens = 0;
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return "Invalid JSON payload received. Expected an object.";
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed(it.key(), {"contents", "generateContentRequest"})) return unknown("", it.key());
  const bool has_contents = j.contains("contents");
  const bool has_request = j.contains("generateContentRequest");
  if (has_contents == has_request)
    return "* CountTokensRequest: exactly one of contents and generateContentRequest must be set.";
  json inner;
  if (has_contents) {
    inner = json::object({{"contents", j["contents"]}});
  } else {
    inner = j["generateContentRequest"];
    if (!inner.is_object()) return "Invalid value at 'generate_content_request'";
    const auto m = inner.find("model");
    if (m == inner.end() || !m->is_string())
      return "* GenerateContentRequest.model: model is required.";
    if (m->get_ref<const std::string&>() != "models/" + std::string(model))
      return "* GenerateContentRequest.model: must name the model of the request path.";
    inner.erase("model");
  }
  Call call;
  if (auto bad = parse_request(inner.dump(), call)) return bad;
  std::int64_t n = call.prompt_tokens + static_cast<std::int64_t>(inner["contents"].size());
  if (auto t = inner.find("tools"); t != inner.end()) {
    for (const auto& tool : *t) {
      auto fds = tool.find("functionDeclarations");
      if (fds == tool.end() || !fds->is_array()) continue;
      for (const auto& fd : *fds) {
        n += 1;
        if (auto d = fd.find("description"); d != fd.end() && d->is_string())
          n += count_words(d->get_ref<const std::string&>());
      }
    }
  }
  total_tokens = n;
  return std::nullopt;
}

std::optional<std::string> parse_request(std::string_view body, Call& call) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "Invalid JSON payload received. Unexpected token.";
  if (!j.is_object()) return "Invalid JSON payload received. Expected an object.";
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!allowed(it.key(), {"contents", "tools", "toolConfig", "safetySettings",
                            "systemInstruction", "generationConfig", "cachedContent"}))
      return unknown("", it.key());
  }
  std::vector<std::string> seen;  // for inspect=1
  auto check_parts = [&](const json& parts, const std::string& where,
                         bool user) -> std::optional<std::string> {
    if (!parts.is_array() || parts.empty())
      return "* GenerateContentRequest." + where + ".parts: contents.parts must not be empty.";
    for (const auto& p : parts) {
      if (!p.is_object()) return "Invalid JSON payload received at '" + where + "'.";
      int data = 0;
      for (auto it = p.begin(); it != p.end(); ++it) {
        const auto& k = it.key();
        if (allowed(k, {"text", "inlineData", "fileData", "functionCall", "functionResponse",
                        "executableCode", "codeExecutionResult"})) {
          ++data;
        } else if (!allowed(k, {"thought", "thoughtSignature", "videoMetadata", "partMetadata"})) {
          return unknown(where + ".parts[0]", k);
        }
      }
      if (data != 1)
        return "* GenerateContentRequest." + where + ": a part needs exactly one data field.";
      if (auto t = p.find("text"); t != p.end()) {
        if (!t->is_string()) return "Invalid value at '" + where + ".parts[0].text'";
        if (t->get_ref<const std::string&>().empty())
          return "Unable to submit request because it has an empty text parameter.";
        call.prompt_tokens += count_words(t->get_ref<const std::string&>());
        if (user) call.last_user_text = t->get<std::string>();
      }
      if (auto fc = p.find("functionCall"); fc != p.end()) {
        if (!fc->is_object() || !fc->contains("name") ||
            (fc->contains("args") && !(*fc)["args"].is_object()))
          return "* GenerateContentRequest." + where + ".functionCall: invalid.";
      }
      // inspect=1: a functionResponse {name, response} is a tool result (named, as Gemini has
      // no call ids here), an inlineData {mimeType, data (base64)} an image ("Content > Part").
      if (auto fr = p.find("functionResponse"); fr != p.end()) {
        if (!fr->is_object() || !fr->contains("name") || !fr->contains("response") ||
            !(*fr)["response"].is_object())
          return "* GenerateContentRequest." + where +
                 ".functionResponse: name and response (an object) are required.";
        const json& name = (*fr)["name"];
        seen.push_back(describe_tool_result(
            name.is_string() ? name.get<std::string>() : name.dump(), (*fr)["response"].dump()));
      }
      if (auto d = p.find("inlineData"); d != p.end()) {
        if (!d->is_object() || !d->contains("mimeType") || !d->contains("data"))
          return "* GenerateContentRequest." + where +
                 ".inlineData: mimeType and data are required.";
        std::string bytes;
        if (!(*d)["mimeType"].is_string() || !(*d)["data"].is_string() ||
            !base64_decode((*d)["data"].get_ref<const std::string&>(), bytes))
          return "Invalid value at '" + where +
                 ".inline_data.data' (TYPE_BYTES), Base64 decoding "
                 "failed";
        seen.push_back(describe_image((*d)["mimeType"].get_ref<const std::string&>(), bytes));
      }
      if (auto d = p.find("fileData"); d != p.end()) {
        if (!d->is_object() || !d->contains("fileUri"))
          return "* GenerateContentRequest." + where + ".fileData: fileUri is required.";
      }
    }
    return std::nullopt;
  };
  auto contents = j.find("contents");
  if (contents == j.end() || !contents->is_array() || contents->empty())
    return "* GenerateContentRequest.contents: contents is not specified";
  for (std::size_t i = 0; i < contents->size(); ++i) {
    const json& c = (*contents)[i];
    const std::string where = "contents[" + std::to_string(i) + "]";
    if (!c.is_object()) return "Invalid JSON payload received at '" + where + "'.";
    for (auto it = c.begin(); it != c.end(); ++it)
      if (!allowed(it.key(), {"role", "parts"})) return unknown(where, it.key());
    std::string role = c.value("role", "user");
    if (role != "user" && role != "model") return "Please use a valid role: user, model.";
    if (auto e = check_parts(c.contains("parts") ? c["parts"] : json(), where, role == "user"))
      return e;
  }
  call.inspection = inspection_text(seen);
  if (auto si = j.find("systemInstruction"); si != j.end()) {
    if (!si->is_object()) return "Invalid value at 'system_instruction'";
    if (auto e = check_parts(si->contains("parts") ? (*si)["parts"] : json(), "system_instruction",
                             false))
      return e;
  }
  if (auto t = j.find("tools"); t != j.end()) {
    if (!t->is_array()) return "Invalid value at 'tools'";
    for (const auto& tool : *t) {
      auto fds = tool.find("functionDeclarations");
      if (fds == tool.end() || !fds->is_array()) continue;
      for (const auto& fd : *fds) {
        if (!fd.is_object() || !fd.contains("name"))
          return "* GenerateContentRequest.tools[0].function_declarations[0].name: Required";
        for (auto it = fd.begin(); it != fd.end(); ++it)
          if (!allowed(it.key(), {"name", "description", "parameters", "parametersJsonSchema",
                                  "response", "behavior"}))
            return unknown("tools[0].function_declarations[0]", it.key());
        // What the real API rejects in a Schema object.
        std::string dumped = fd.dump();
        for (std::string_view bad :
             {"\"additionalProperties\"", "\"$schema\"", "\"$ref\"", "\"$defs\""})
          if (fd.contains("parameters") && dumped.find(bad) != std::string::npos)
            return unknown("tools[0].function_declarations[0].parameters",
                           bad.substr(1, bad.size() - 2));
        call.has_tools = true;
      }
    }
  }
  if (auto g = j.find("generationConfig"); g != j.end()) {
    if (!g->is_object()) return "Invalid value at 'generation_config'";
    for (auto it = g->begin(); it != g->end(); ++it) {
      if (!allowed(it.key(), {"stopSequences",
                              "responseMimeType",
                              "responseSchema",
                              "responseJsonSchema",
                              "responseModalities",
                              "candidateCount",
                              "maxOutputTokens",
                              "temperature",
                              "topP",
                              "topK",
                              "seed",
                              "presencePenalty",
                              "frequencyPenalty",
                              "responseLogprobs",
                              "logprobs",
                              "enableEnhancedCivicAnswers",
                              "speechConfig",
                              "thinkingConfig",
                              "imageConfig",
                              "mediaResolution"}))
        return unknown("generation_config", it.key());
    }
    if (auto m = g->find("maxOutputTokens"); m != g->end()) {
      if (!m->is_number_integer() || m->get<std::int64_t>() < 1)
        return "Invalid value at 'generation_config.max_output_tokens'";
      call.max_tokens = m->get<std::int64_t>();
    }
  }
  return std::nullopt;
}

std::string_view status_name(int code) {
  switch (code) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ABORTED";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 499:
      return "CANCELLED";
    case 500:
      return "INTERNAL";
    case 501:
      return "UNIMPLEMENTED";
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return "UNKNOWN";
  }
}

std::string error_body(int code, std::string_view message) {
  return json{{"error", {{"code", code}, {"message", message}, {"status", status_name(code)}}}}
      .dump();
}

Answer plan(const Call& call, const Behaviour& b) {
  ChatCall c;
  c.prompt_tokens = call.prompt_tokens;
  c.max_tokens = call.max_tokens;
  c.last_user_text = call.last_user_text;
  c.inspection = call.inspection;
  Answer a = plan_answer(c, b);
  if (a.tool_call) a.completion_tokens = a.parallel ? 2 : 1;
  return a;
}

std::string_view finish_reason(const Answer& a) {
  return a.finish_reason == "length" ? "MAX_TOKENS" : "STOP";
}

std::string response_body(const Answer& a, std::string_view model, std::string_view id) {
  json parts = json::array();
  if (a.tool_call) {
    parts = function_call_parts(a);
  } else {
    std::string text;
    for (const auto& p : a.pieces) text += p;
    parts.push_back(json{{"text", text}});
  }
  json r = {{"candidates", json::array({json{{"content", {{"parts", parts}, {"role", "model"}}},
                                             {"finishReason", finish_reason(a)},
                                             {"index", 0}}})},
            {"modelVersion", model},
            {"responseId", id}};
  if (a.usage) r["usageMetadata"] = usage_json(a, true);
  return r.dump();
}

std::string stream_event(const Answer& a, std::string_view model, std::string_view id,
                         std::size_t i, bool last) {
  json cand = json::object();
  if (a.tool_call) {
    cand["content"] = {{"parts", function_call_parts(a)}, {"role", "model"}};
  } else if (i < a.pieces.size()) {
    cand["content"] = {{"parts", json::array({json{{"text", a.pieces[i]}}})}, {"role", "model"}};
  } else {
    cand["content"] = {{"parts", json::array({json{{"text", ""}}})}, {"role", "model"}};
  }
  if (last) cand["finishReason"] = finish_reason(a);
  cand["index"] = 0;
  json r = {{"candidates", json::array({cand})}, {"modelVersion", model}, {"responseId", id}};
  if (a.usage) r["usageMetadata"] = usage_json(a, last);
  return "data: " + r.dump() + "\r\n\r\n";
}

}  // namespace infergate::mock::gemini
