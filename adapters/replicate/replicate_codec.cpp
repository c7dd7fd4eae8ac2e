#include "replicate_codec.hpp"

#include <chrono>
#include <numeric>
#include <utility>

#include "infergate/adapters/upstream_error.hpp"

namespace infergate::adapters::replicate {

namespace {

using json = nlohmann::json;

constexpr std::int64_t kMaxTokenCount = 1'000'000'000'000;
constexpr std::size_t kMaxErrorEcho = 512;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

const json* member(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string string_member(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

bool count_member(const json& obj, std::string_view key, std::int64_t& out) {
  const json* v = member(obj, key);
  if (!v || !v->is_number()) return false;
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
  const double d = v->get<double>();
  if (!(d >= 0 && d <= 1e15)) return false;
  out = static_cast<std::int64_t>(d);
  return true;
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

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 100) return false;
  for (char c : s)
    if (!name_char(c)) return false;
  return true;
}

// Collects fields the wire format cannot express; at the end they are dropped (and reported) or
// fail the request.
class Unsupported {
 public:
  void add(std::string name) {
    for (const auto& u : names_)
      if (u == name) return;
    names_.push_back(std::move(name));
  }
  // True when the request may go ahead.
  bool settle(bool drop, std::vector<std::string>& dropped, api::Error& err) {
    if (names_.empty()) return true;
    if (!drop) {
      std::string msg = "this deployment's provider (replicate) does not support: ";
      for (std::size_t i = 0; i < names_.size(); ++i) {
        if (i) msg += ", ";
        msg += names_[i];
      }
      err = invalid(std::move(msg), names_.front());
      return false;
    }
    for (auto& n : names_) dropped.push_back(std::move(n));
    names_.clear();
    return true;
  }

 private:
  std::vector<std::string> names_;
};

constexpr std::string_view kAspectRatios[] = {"1:1", "16:9", "21:9", "3:2",  "2:3", "4:5",
                                              "5:4", "3:4",  "4:3",  "9:16", "9:21"};

void finish_body(json& body, const ModelRef& model) {
  if (!model.version.empty()) body["version"] = model.version;
}

// The text of a message's content: a string, or text parts joined. Non-text parts are named in
// `unsupported`.
bool content_text(const json& content, std::string& text, Unsupported& unsupported,
                  api::Error& err) {
  if (content.is_null()) return true;
  if (content.is_string()) {
    text += content.get_ref<const std::string&>();
    return true;
  }
  if (!content.is_array()) {
    err = invalid("message content must be a string or an array of parts", "messages");
    return false;
  }
  bool first = text.empty();
  for (const auto& part : content) {
    const std::string type = string_member(part, "type");
    if (type == "text") {
      if (!first) text += "\n";
      text += string_member(part, "text");
      first = false;
    } else if (type == "image_url" || type == "input_audio" || type == "file") {
      unsupported.add(type);
    } else {
      err = invalid("unknown message content part type", "messages");
      return false;
    }
  }
  return true;
}

}  // namespace

bool parse_model(std::string_view id, ModelRef& out) {
  const auto slash = id.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view owner = id.substr(0, slash);
  std::string_view rest = id.substr(slash + 1);
  std::string_view version;
  if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    version = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (version.empty() || version.size() > 128) return false;
    for (char c : version)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
        return false;
  }
  if (!valid_name(owner) || !valid_name(rest)) return false;
  out.owner.assign(owner);
  out.name.assign(rest);
  out.version.assign(version);
  return true;
}

std::string create_path(const ModelRef& model) {
  if (!model.version.empty()) return "/predictions";
  return "/models/" + model.owner + "/" + model.name + "/predictions";
}

ImageFamily image_family(const ModelRef& model) {
  const std::string name = lowercase(model.name);
  if (name.find("flux") == std::string::npos) return ImageFamily::generic;
  return name.find("schnell") != std::string::npos ? ImageFamily::flux_schnell : ImageFamily::flux;
}

std::string aspect_ratio_for(int width, int height) {
  if (width <= 0 || height <= 0) return {};
  const int g = std::gcd(width, height);
  const std::string r = std::to_string(width / g) + ":" + std::to_string(height / g);
  for (auto a : kAspectRatios)
    if (a == r) return r;
  return {};
}

bool encode_image_request(const api::ImageRequest& request, const ModelRef& model,
                          bool drop_unsupported, std::string& out,
                          std::vector<std::string>& dropped, api::Error& err) {
  if (request.prompt.empty()) {
    err = invalid("prompt must not be empty", "prompt");
    return false;
  }
  const ImageFamily family = image_family(model);
  const bool flux = family != ImageFamily::generic;
  Unsupported unsupported;
  json input = json::object();
  input["prompt"] = request.prompt;
  input["num_outputs"] = std::max(1, request.n);
  if (request.width > 0 || request.height > 0) {
    if (flux) {
      const std::string ratio = aspect_ratio_for(request.width, request.height);
      if (ratio.empty()) {
        unsupported.add("size");
      } else {
        input["aspect_ratio"] = ratio;
      }
    } else {
      if (request.width > 0) input["width"] = request.width;
      if (request.height > 0) input["height"] = request.height;
    }
  }
  if (request.seed) input["seed"] = *request.seed;
  if (request.steps) input["num_inference_steps"] = *request.steps;
  if (request.guidance_scale) {
    if (family == ImageFamily::flux_schnell) {
      unsupported.add("guidance_scale");
    } else {
      input[flux ? "guidance" : "guidance_scale"] = *request.guidance_scale;
    }
  }
  if (!request.negative_prompt.empty()) {
    if (flux) {
      unsupported.add("negative_prompt");
    } else {
      input["negative_prompt"] = request.negative_prompt;
    }
  }
  // OpenAI's output_format (png | jpeg | webp); FLUX models default to webp, which few clients
  // expect from an OpenAI-shaped API, so png unless asked otherwise.
  std::string format = flux ? "png" : "";
  if (const json* f = member(request.body, "output_format")) {
    const std::string v = f->is_string() ? f->get<std::string>() : std::string();
    if (v != "png" && v != "jpeg" && v != "webp") {
      err = invalid("output_format must be png, jpeg or webp", "output_format");
      return false;
    }
    if (flux) {
      format = v == "jpeg" ? "jpg" : v;
    } else {
      unsupported.add("output_format");
    }
  }
  if (!format.empty()) input["output_format"] = format;
  // OpenAI fields no Replicate image model takes.
  for (std::string_view k :
       {"quality", "style", "background", "moderation", "output_compression", "partial_images"}) {
    if (member(request.body, k)) unsupported.add(std::string(k));
  }
  if (!unsupported.settle(drop_unsupported, dropped, err)) return false;
  json body = json{{"input", std::move(input)}};
  finish_body(body, model);
  out += body.dump(-1, ' ', false, json::error_handler_t::replace);
  return true;
}

std::int64_t requested_max_tokens(const api::ChatRequest& request) {
  for (std::string_view k : {"max_completion_tokens", "max_tokens"}) {
    const json* v = member(request.body, k);
    if (v && v->is_number_integer() && v->get<std::int64_t>() > 0) return v->get<std::int64_t>();
  }
  return -1;
}

bool encode_chat_request(const api::ChatRequest& request, const ModelRef& model,
                         bool drop_unsupported, std::string& out, std::vector<std::string>& dropped,
                         api::Error& err) {
  const json& b = request.body;
  if (!b.is_object()) {
    err = invalid("request body must be an object");
    return false;
  }
  Unsupported unsupported;
  json input = json::object();
  std::string system;
  struct Turn {
    bool user;
    std::string text;
  };
  std::vector<Turn> turns;
  for (auto it = b.begin(); it != b.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (v.is_null()) continue;
    if (k == "model" || k == "stream" || k == "stream_options" || k == "user" || k == "metadata" ||
        k == "store" || k == "service_tier") {
      continue;  // informational, or handled by the caller
    }
    if (k == "messages") {
      if (!v.is_array()) {
        err = invalid("messages must be an array", "messages");
        return false;
      }
      for (const auto& m : v) {
        const std::string role = string_member(m, "role");
        const json* content = member(m, "content");
        if (role == "system" || role == "developer") {
          std::string t;
          if (content && !content_text(*content, t, unsupported, err)) return false;
          if (!t.empty()) {
            if (!system.empty()) system += "\n\n";
            system += t;
          }
        } else if (role == "user" || role == "assistant") {
          Turn turn{role == "user", {}};
          if (content && !content_text(*content, turn.text, unsupported, err)) return false;
          if (member(m, "tool_calls") || member(m, "function_call")) unsupported.add("tool_calls");
          if (!turn.text.empty()) turns.push_back(std::move(turn));
        } else if (role == "tool" || role == "function") {
          unsupported.add("tool_calls");
        } else {
          err = invalid("unknown message role", "messages");
          return false;
        }
      }
    } else if (k == "temperature" || k == "top_p" || k == "presence_penalty" ||
               k == "frequency_penalty") {
      if (!v.is_number()) {
        err = invalid(k + " must be a number", k);
        return false;
      }
      input[k] = v;
    } else if (k == "top_k" || k == "seed") {
      if (!v.is_number_integer()) {
        err = invalid(k + " must be an integer", k);
        return false;
      }
      input[k] = v;
    } else if (k == "max_tokens" || k == "max_completion_tokens") {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 1) {
        err = invalid(k + " must be a positive integer", k);
        return false;
      }
    } else if (k == "stop") {
      std::vector<std::string> stops;
      if (v.is_string()) {
        stops.push_back(v.get<std::string>());
      } else if (v.is_array()) {
        for (const auto& s : v) {
          if (!s.is_string()) {
            err = invalid("stop must be strings", "stop");
            return false;
          }
          stops.push_back(s.get<std::string>());
        }
      } else {
        err = invalid("stop must be a string or an array of strings", "stop");
        return false;
      }
      std::string joined;
      bool expressible = true;
      for (const auto& s : stops) {
        if (s.empty() || s.find(',') != std::string::npos) expressible = false;
        if (!joined.empty()) joined += ',';
        joined += s;
      }
      if (!expressible) {
        unsupported.add("stop");  // stop_sequences is one comma-separated string
      } else if (!joined.empty()) {
        input["stop_sequences"] = joined;
      }
    } else if (k == "n") {
      if (!(v.is_number_integer() && v.get<std::int64_t>() == 1)) unsupported.add("n");
    } else if (k == "logprobs") {
      if (v != false) unsupported.add(k);
    } else if (k == "logit_bias") {
      if (!(v.is_object() && v.empty())) unsupported.add(k);
    } else if (k == "response_format") {
      if (string_member(v, "type") != "text") unsupported.add(k);
    } else if (k == "tools" || k == "functions") {
      if (!(v.is_array() && v.empty())) unsupported.add("tools");
    } else if (k == "tool_choice" || k == "function_call") {
      if (v != "none" && v != "auto") unsupported.add("tool_choice");
    } else if (k == "parallel_tool_calls") {
      continue;  // no tools at all
    } else {
      unsupported.add(k);  // top_logprobs, modalities, audio, prediction, reasoning_effort, ...
    }
  }
  if (turns.empty()) {
    err = invalid("messages must contain at least one user or assistant message", "messages");
    return false;
  }
  if (!unsupported.settle(drop_unsupported, dropped, err)) return false;

  std::string prompt;
  if (turns.size() == 1 && turns[0].user) {
    prompt = std::move(turns[0].text);
  } else {
    for (const auto& t : turns) {
      if (!prompt.empty()) prompt += "\n\n";
      prompt += t.user ? "User: " : "Assistant: ";
      prompt += t.text;
    }
  }
  input["prompt"] = std::move(prompt);
  if (!system.empty()) input["system_prompt"] = std::move(system);
  if (const std::int64_t max = requested_max_tokens(request); max > 0) {
    const bool llama2 = lowercase(model.name).find("llama-2") != std::string::npos;
    input[llama2 ? "max_new_tokens" : "max_tokens"] = max;
  }
  json body = json{{"input", std::move(input)}};
  if (request.stream) body["stream"] = true;
  finish_body(body, model);
  out += body.dump(-1, ' ', false, json::error_handler_t::replace);
  return true;
}

void request_headers(const config::ProviderConfig& provider, int wait_s,
                     std::string_view request_id, const HeaderSink& add) {
  auto provider_sets = [&](std::string_view name) {
    for (const auto& [k, v] : provider.headers)
      if (iequals(k, name)) return true;
    return false;
  };
  if (!provider.api_key.empty() && !provider_sets("authorization"))
    add("Authorization", "Bearer " + provider.api_key);
  for (const auto& [k, v] : provider.headers) {
    if (iequals(k, "host") || iequals(k, "content-length") || iequals(k, "transfer-encoding") ||
        iequals(k, "connection"))
      continue;
    add(k, v);
  }
  if (!provider_sets("content-type")) add("Content-Type", "application/json");
  if (!provider_sets("accept")) add("Accept", "application/json");
  if (wait_s > 0 && !provider_sets("prefer"))
    add("Prefer", wait_s >= 60 ? std::string("wait") : "wait=" + std::to_string(wait_s));
  if (!request_id.empty() && !provider_sets("x-request-id")) add("x-request-id", request_id);
}

Status status_from(std::string_view s) {
  if (s == "starting") return Status::starting;
  if (s == "processing") return Status::processing;
  if (s == "succeeded") return Status::succeeded;
  if (s == "failed") return Status::failed;
  if (s == "canceled" || s == "cancelled" || s == "aborted") return Status::canceled;
  return Status::unknown;
}

bool parse_prediction(std::string_view body, Prediction& out, api::Error& err) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) {
    err = malformed("upstream returned a malformed prediction");
    return false;
  }
  out = Prediction{};
  out.id = string_member(j, "id");
  out.model = string_member(j, "model");
  const std::string status = string_member(j, "status");
  out.status = status_from(status);
  if (out.id.empty() || out.status == Status::unknown) {
    err = malformed("upstream returned a malformed prediction");
    return false;
  }
  if (auto it = j.find("output"); it != j.end()) out.output = std::move(*it);
  if (const json* e = member(j, "error"))
    out.error = e->is_string() ? e->get<std::string>() : e->dump();
  if (const json* urls = member(j, "urls")) {
    out.get_url = string_member(*urls, "get");
    out.stream_url = string_member(*urls, "stream");
    out.cancel_url = string_member(*urls, "cancel");
  }
  if (const json* m = member(j, "metrics")) {
    const bool in = count_member(*m, "input_token_count", out.usage.prompt_tokens);
    const bool outc = count_member(*m, "output_token_count", out.usage.completion_tokens);
    out.usage.reported = in || outc;
  }
  return true;
}

bool output_text(const json& output, std::string& text) {
  text.clear();
  if (output.is_null()) return true;
  if (output.is_string()) {
    text = output.get<std::string>();
    return text.size() <= kMaxOutputText;
  }
  if (!output.is_array() || output.size() > kMaxOutputItems) return false;
  for (const auto& piece : output) {
    if (!piece.is_string()) return false;
    text += piece.get_ref<const std::string&>();
    if (text.size() > kMaxOutputText) return false;
  }
  return true;
}

bool output_files(const json& output, std::vector<std::string>& files) {
  files.clear();
  if (output.is_string()) {
    files.push_back(output.get<std::string>());
    return true;
  }
  if (!output.is_array() || output.empty() || output.size() > kMaxOutputFiles) return false;
  for (const auto& f : output) {
    if (!f.is_string() || f.get_ref<const std::string&>().empty()) return false;
    files.push_back(f.get<std::string>());
  }
  return true;
}

void chat_events(const Prediction& p, std::string_view model, std::int64_t created,
                 std::int64_t max_tokens, std::vector<api::Event>& out) {
  api::Event start;
  start.type = api::Event::Type::start;
  start.text = p.id;
  start.model = std::string(model);
  start.created = created;
  out.push_back(std::move(start));
  std::string text;
  output_text(p.output, text);
  if (!text.empty()) {
    api::Event t;
    t.type = api::Event::Type::text;
    t.text = std::move(text);
    out.push_back(std::move(t));
  }
  api::Event fin;
  fin.type = api::Event::Type::finish;
  fin.finish = max_tokens > 0 && p.usage.completion_tokens >= max_tokens ? api::FinishReason::length
                                                                         : api::FinishReason::stop;
  out.push_back(std::move(fin));
  if (p.usage.reported) {
    api::Event u;
    u.type = api::Event::Type::usage;
    u.usage = p.usage;
    out.push_back(std::move(u));
  }
}

api::Error prediction_error(const Prediction& p, std::string_view secret) {
  std::string msg = p.status == Status::canceled ? "upstream prediction was canceled"
                                                 : "upstream prediction failed";
  if (!p.error.empty()) {
    msg += ": ";
    msg += scrub_message(p.error, secret, kMaxErrorEcho);
  }
  api::Error e =
      api::Error::make(api::ErrorKind::upstream, std::move(msg), {}, "upstream_prediction_failed");
  e.retryable = true;
  return e;
}

api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view secret) {
  std::string message;
  const json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    const std::string title = string_member(j, "title");
    const json* detail = member(j, "detail");
    std::string d = detail && detail->is_string() ? detail->get<std::string>()
                    : detail                      ? detail->dump()
                                                  : std::string();
    while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
    if (!title.empty() && !d.empty() && d.find(title) == std::string::npos) {
      message = title + ": " + d;
    } else {
      message = d.empty() ? title : d;
    }
  }
  const int retry_after_s = parse_retry_after(retry_after, std::chrono::system_clock::now());
  return map_status_error(status, message, retry_after_s, secret);
}

void StreamDecoder::start(std::vector<api::Event>& out) {
  if (started_) return;
  started_ = true;
  api::Event ev;
  ev.type = api::Event::Type::start;
  ev.text = id_;
  ev.model = model_;
  ev.created = created_;
  out.push_back(std::move(ev));
}

StreamDecoder::Status StreamDecoder::decode(std::string_view type, std::string_view data,
                                            std::vector<api::Event>& out) {
  if (type == "output") {
    start(out);
    ++output_events_;
    if (!data.empty()) {
      api::Event ev;
      ev.type = api::Event::Type::text;
      ev.text.assign(data);
      out.push_back(std::move(ev));
    }
    return Status::ok;
  }
  if (type == "error") {
    const json j = json::parse(data, nullptr, false);
    std::string detail = j.is_object() ? string_member(j, "detail") : std::string(data);
    error_ = detail.empty() ? std::string("error") : std::move(detail);
    Prediction p;
    p.status = replicate::Status::failed;
    p.error = error_;
    api::Event ev;
    ev.type = api::Event::Type::error;
    ev.error = prediction_error(p, secret_);
    out.push_back(std::move(ev));
    return Status::error;
  }
  if (type == "done") {
    const json j = json::parse(data, nullptr, false);
    const std::string reason = j.is_object() ? string_member(j, "reason") : std::string();
    if (reason == "error" || reason == "canceled") {
      Prediction p;
      p.status = reason == "canceled" ? replicate::Status::canceled : replicate::Status::failed;
      p.error = error_;
      api::Event ev;
      ev.type = api::Event::Type::error;
      ev.error = prediction_error(p, secret_);
      out.push_back(std::move(ev));
      return Status::error;
    }
    start(out);
    api::Event fin;
    fin.type = api::Event::Type::finish;
    fin.finish = api::FinishReason::stop;
    out.push_back(std::move(fin));
    return Status::done;
  }
  return Status::ok;  // comments, keep-alives, unknown event types
}

}  // namespace infergate::adapters::replicate
