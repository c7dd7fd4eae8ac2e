#include "fal_codec.hpp"

#include <chrono>
#include <utility>

#include "infergate/adapters/upstream_error.hpp"

namespace infergate::adapters::fal {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxDetailEntries = 8;  // validation errors echoed

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
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

int int_member(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  if (!v || !v->is_number_integer()) return 0;
  const auto n = v->get<std::int64_t>();
  return n < 0 || n > 1'000'000 ? 0 : static_cast<int>(n);
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

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

struct Preset {
  std::string_view name;
  int width, height;
};
constexpr Preset kImageSizes[] = {{"square_hd", 1024, 1024},    {"square", 512, 512},
                                  {"portrait_4_3", 768, 1024},  {"portrait_16_9", 576, 1024},
                                  {"landscape_4_3", 1024, 768}, {"landscape_16_9", 1024, 576}};

}  // namespace

bool valid_model_id(std::string_view id) {
  if (id.empty() || id.size() > 256) return false;
  int segments = 0;
  std::size_t start = 0;
  while (start <= id.size()) {
    const auto slash = id.find('/', start);
    const std::string_view seg =
        id.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-'))
        return false;
    }
    ++segments;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return segments >= 2 && segments <= 8;
}

bool queue_mode(std::string_view host, std::string_view path) {
  if (host.size() > 6 && iequals(host.substr(0, 6), "queue.")) return true;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
  return iequals(last, "queue");
}

json image_size_for(int width, int height) {
  for (const auto& p : kImageSizes)
    if (p.width == width && p.height == height) return p.name;
  return json{{"width", width}, {"height", height}};
}

bool encode_image_request(const api::ImageRequest& request, std::string_view model_id,
                          bool sync_mode, bool drop_unsupported, std::string& out,
                          std::vector<std::string>& dropped, api::Error& err) {
  if (request.prompt.empty()) {
    err = invalid("prompt must not be empty", "prompt");
    return false;
  }
  const std::string id = lowercase(model_id);
  const bool flux = id.find("flux") != std::string::npos;
  const bool schnell = flux && id.find("schnell") != std::string::npos;
  std::vector<std::string> unsupported;
  json in = json::object();
  in["prompt"] = request.prompt;
  in["num_images"] = std::max(1, request.n);
  if (request.width > 0 && request.height > 0) {
    in["image_size"] = image_size_for(request.width, request.height);
  } else if (request.width > 0 || request.height > 0) {
    unsupported.push_back("size");  // fal needs both sides
  }
  if (request.seed) in["seed"] = *request.seed;
  if (request.steps) in["num_inference_steps"] = *request.steps;
  if (request.guidance_scale) {
    if (schnell) {
      unsupported.push_back("guidance_scale");
    } else {
      in["guidance_scale"] = *request.guidance_scale;
    }
  }
  if (!request.negative_prompt.empty()) {
    if (flux) {
      unsupported.push_back("negative_prompt");
    } else {
      in["negative_prompt"] = request.negative_prompt;
    }
  }
  if (const json* f = member(request.body, "output_format")) {
    const std::string v = f->is_string() ? f->get<std::string>() : std::string();
    if (v != "png" && v != "jpeg" && v != "webp") {
      err = invalid("output_format must be png, jpeg or webp", "output_format");
      return false;
    }
    if (flux && v == "webp") {
      unsupported.push_back("output_format");  // FLUX on fal: jpeg | png
    } else {
      in["output_format"] = v;
    }
  }
  for (std::string_view k :
       {"quality", "style", "background", "moderation", "output_compression", "partial_images"}) {
    if (member(request.body, k)) unsupported.emplace_back(k);
  }
  if (sync_mode) in["sync_mode"] = true;
  if (!unsupported.empty()) {
    if (!drop_unsupported) {
      std::string msg = "this deployment's provider (fal) does not support: ";
      for (std::size_t i = 0; i < unsupported.size(); ++i) {
        if (i) msg += ", ";
        msg += unsupported[i];
      }
      err = invalid(std::move(msg), unsupported.front());
      return false;
    }
    for (auto& u : unsupported) dropped.push_back(std::move(u));
  }
  out += in.dump(-1, ' ', false, json::error_handler_t::replace);
  return true;
}

void request_headers(const config::ProviderConfig& provider, std::string_view request_id,
                     const HeaderSink& add) {
  auto provider_sets = [&](std::string_view name) {
    for (const auto& [k, v] : provider.headers)
      if (iequals(k, name)) return true;
    return false;
  };
  if (!provider.api_key.empty() && !provider_sets("authorization"))
    add("Authorization", "Key " + provider.api_key);
  for (const auto& [k, v] : provider.headers) {
    if (iequals(k, "host") || iequals(k, "content-length") || iequals(k, "transfer-encoding") ||
        iequals(k, "connection"))
      continue;
    add(k, v);
  }
  if (!provider_sets("content-type")) add("Content-Type", "application/json");
  if (!provider_sets("accept")) add("Accept", "application/json");
  if (!request_id.empty() && !provider_sets("x-request-id")) add("x-request-id", request_id);
}

bool parse_result(std::string_view body, Result& out, api::Error& err) {
  const json j = json::parse(body, nullptr, false);
  out = Result{};
  const json* images = member(j, "images");
  if (!images || !images->is_array() || images->empty()) {
    err = malformed("upstream returned no images");
    return false;
  }
  if (images->size() > static_cast<std::size_t>(kMaxImages)) {
    err = malformed("upstream returned too many images");
    return false;
  }
  for (const auto& img : *images) {
    Image i;
    i.url = string_member(img, "url");
    if (i.url.empty()) {
      err = malformed("upstream image has no url");
      return false;
    }
    i.content_type = string_member(img, "content_type");
    if (i.content_type.size() > 255) i.content_type.clear();
    i.width = int_member(img, "width");
    i.height = int_member(img, "height");
    out.images.push_back(std::move(i));
  }
  if (const json* n = member(j, "has_nsfw_concepts"); n && n->is_array()) {
    for (const auto& b : *n) out.nsfw.push_back(b.is_boolean() && b.get<bool>());
  }
  if (const json* s = member(j, "seed"); s && s->is_number_integer()) {
    out.seed = s->get<std::int64_t>();
    out.has_seed = true;
  }
  return true;
}

bool parse_submit(std::string_view body, QueueSubmit& out, api::Error& err) {
  const json j = json::parse(body, nullptr, false);
  out = QueueSubmit{};
  out.request_id = string_member(j, "request_id");
  out.status_url = string_member(j, "status_url");
  out.response_url = string_member(j, "response_url");
  out.cancel_url = string_member(j, "cancel_url");
  if (out.request_id.empty() || out.status_url.empty() || out.response_url.empty()) {
    err = malformed("upstream queue answer lacks request_id, status_url or response_url");
    return false;
  }
  return true;
}

bool parse_status(std::string_view body, QueueState& out, api::Error& err) {
  const json j = json::parse(body, nullptr, false);
  out = QueueState{};
  const std::string s = string_member(j, "status");
  if (s == "IN_QUEUE") {
    out.status = QueueStatus::in_queue;
  } else if (s == "IN_PROGRESS") {
    out.status = QueueStatus::in_progress;
  } else if (s == "COMPLETED") {
    out.status = QueueStatus::completed;
  } else {
    err = malformed("upstream queue status is malformed");
    return false;
  }
  out.response_url = string_member(j, "response_url");
  if (const json* e = member(j, "error"))
    out.error = e->is_string() ? e->get<std::string>() : e->dump();
  return true;
}

api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view secret) {
  std::string message;
  const json j = json::parse(body, nullptr, false);
  if (const json* d = member(j, "detail")) {
    if (d->is_string()) {
      message = d->get<std::string>();
    } else if (d->is_array()) {
      std::size_t n = 0;
      for (const auto& e : *d) {
        if (n++ == kMaxDetailEntries) break;
        std::string loc;
        if (const json* l = member(e, "loc"); l && l->is_array()) {
          for (const auto& part : *l) {
            if (!loc.empty()) loc += '.';
            loc += part.is_string() ? part.get<std::string>() : part.dump();
          }
        }
        const std::string msg = string_member(e, "msg");
        if (msg.empty() && loc.empty()) continue;
        if (!message.empty()) message += "; ";
        message += loc.empty() ? msg : loc + ": " + msg;
      }
    }
  }
  const int retry_after_s = parse_retry_after(retry_after, std::chrono::system_clock::now());
  return map_status_error(status, message, retry_after_s, secret);
}

}  // namespace infergate::adapters::fal
