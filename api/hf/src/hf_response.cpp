// Answers of the Hugging Face routes, and the store behind fal's queue and served images.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <random>

#include "infergate/api/hf.hpp"
#include "infergate/api/openai.hpp"
#include "infergate/policy/router.hpp"

namespace infergate::api::hf {
namespace {

using json = nlohmann::json;

void append_float(std::string& out, float f) {
  if (!std::isfinite(f)) f = 0;  // JSON has no NaN/Inf; an upstream that sends them is broken
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  out.append(buf, r.ptr);
}

void append_vector(std::string& out, const std::vector<float>& v) {
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    append_float(out, v[i]);
  }
  out += ']';
}

std::string fal_url(std::string_view base, std::string_view model, std::string_view id) {
  std::string u(base);
  u += '/';
  u += model;
  u += "/requests/";
  u += id;
  return u;
}

}  // namespace

std::string render_feature_extraction(const EmbeddingsResponse& response, bool single) {
  std::size_t size = 2;
  for (const auto& v : response.data) size += v.size() * 12 + 3;
  std::string out;
  out.reserve(size);
  if (single && response.data.size() == 1) {
    append_vector(out, response.data.front());
    return out;
  }
  out += '[';
  for (std::size_t i = 0; i < response.data.size(); ++i) {
    if (i) out += ',';
    append_vector(out, response.data[i]);
  }
  out += ']';
  return out;
}

std::string render_hub_model(const config::ModelConfig& model, const config::Config& config) {
  const Task task = model_task(model, config);
  json mapping = json::array();
  std::vector<std::string_view> seen;
  for (const auto& d : model.deployments) {
    const auto* p = config.find_provider(d.provider);
    if (p == nullptr) continue;
    const std::string_view name = policy::hf_provider_name(*p);
    if (name.empty() || std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
    seen.push_back(name);
    mapping.push_back({{"provider", name},
                       {"providerId", d.model},
                       {"hfModelId", model.name},
                       {"status", "live"},
                       {"task", task_name(task)}});
  }
  const std::string_view pipeline_tag = task == Task::conversational       ? "text-generation"
                                        : task == Task::feature_extraction ? "feature-extraction"
                                                                           : "text-to-image";
  json j = {{"_id", model.name},
            {"id", model.name},
            {"pipeline_tag", pipeline_tag},
            {"inferenceProviderMapping", std::move(mapping)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string render_fal_queued(std::string_view base, std::string_view model,
                              std::string_view request_id) {
  const std::string url = fal_url(base, model, request_id);
  json j = {{"request_id", request_id},      {"status", "COMPLETED"},
            {"response_url", url},           {"status_url", url + "/status"},
            {"cancel_url", url + "/cancel"}, {"queue_position", 0}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string render_fal_status(std::string_view base, std::string_view model,
                              std::string_view request_id) {
  const std::string url = fal_url(base, model, request_id);
  json j = {{"status", "COMPLETED"},
            {"request_id", request_id},
            {"response_url", url},
            {"logs", json::array()},
            {"metrics", json::object()}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string render_fal_result(const ImageRequest& request, const std::vector<std::string>& urls,
                              const ImageResponse& response) {
  json images = json::array();
  for (std::size_t i = 0; i < urls.size() && i < response.images.size(); ++i) {
    json im = {{"url", urls[i]},
               {"content_type", response.images[i].content_type.empty()
                                    ? std::string("image/png")
                                    : response.images[i].content_type}};
    if (request.width > 0 && request.height > 0) {
      im["width"] = request.width;
      im["height"] = request.height;
    }
    images.push_back(std::move(im));
  }
  json j = {{"images", std::move(images)},
            {"timings", json::object()},
            {"has_nsfw_concepts", json(std::vector<bool>(urls.size(), false))},
            {"prompt", request.prompt}};
  if (request.seed) j["seed"] = *request.seed;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string render_replicate_prediction(std::string_view base, std::string_view id,
                                        std::string_view model, std::string_view version,
                                        const ImageRequest& request,
                                        const std::vector<std::string>& urls, std::int64_t created,
                                        double predict_seconds) {
  char when[32];
  const std::time_t t = static_cast<std::time_t>(created);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  const std::string self = std::string(base) + "/replicate/v1/predictions/" + std::string(id);
  json input = {{"prompt", request.prompt}};
  if (request.width > 0) input["width"] = request.width;
  if (request.height > 0) input["height"] = request.height;
  if (request.n != 1) input["num_outputs"] = request.n;
  if (request.seed) input["seed"] = *request.seed;
  json j = {{"id", id},
            {"model", model},
            {"version", version.empty() ? json(nullptr) : json(version)},
            {"input", std::move(input)},
            {"logs", ""},
            {"output", urls},
            {"data_removed", false},
            {"error", nullptr},
            {"status", "succeeded"},
            {"created_at", when},
            {"started_at", when},
            {"completed_at", when},
            {"urls", {{"get", self}, {"cancel", self + "/cancel"}}},
            {"metrics", {{"predict_time", predict_seconds}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string render_together_images(std::string_view id, std::string_view model,
                                   const ImageResponse& response, bool want_url,
                                   const std::vector<std::string>& urls) {
  std::string out = "{\"id\":";
  openai::append_json_string(out, id);
  out += ",\"model\":";
  openai::append_json_string(out, model);
  out += ",\"object\":\"list\",\"data\":[";
  for (std::size_t i = 0; i < response.images.size(); ++i) {
    const auto& im = response.images[i];
    if (i) out += ',';
    out += "{\"index\":" + std::to_string(i) + ",";
    if (want_url || im.bytes.empty()) {
      out += "\"url\":";
      openai::append_json_string(out, i < urls.size() ? urls[i] : im.url);
    } else {
      out += "\"b64_json\":\"";
      openai::append_base64(out, im.bytes);
      out += '"';
    }
    out += '}';
  }
  out += "]}";
  return out;
}

std::string error_body(const Error& err) {
  std::string out = "{\"error\":";
  openai::append_json_string(out, err.message);
  out += '}';
  return out;
}

std::string_view sniff_image_type(std::string_view b, std::string_view fallback) {
  if (b.starts_with("\x89PNG\r\n\x1a\n")) return "image/png";
  if (b.starts_with("\xff\xd8\xff")) return "image/jpeg";
  if (b.size() >= 12 && b.starts_with("RIFF") && b.substr(8, 4) == "WEBP") return "image/webp";
  if (b.starts_with("GIF87a") || b.starts_with("GIF89a")) return "image/gif";
  return fallback;
}

std::string random_id() {
  static constexpr char kHex[] = "0123456789abcdef";
  thread_local std::random_device rd;  // the kernel's CSPRNG on Linux
  std::string id(32, '0');
  for (std::size_t i = 0; i < 32; i += 8) {
    std::uint32_t v = rd();
    for (std::size_t k = 0; k < 8; ++k, v >>= 4) id[i + k] = kHex[v & 15];
  }
  return id;
}

// ---------------------------------------------------------------------------------------------

std::string ResultStore::put(Item item) {
  const std::size_t size = item.data.size();
  if (size > limits_.max_bytes) return {};
  std::lock_guard lock(mu_);
  const auto t = now();
  evict_locked(t, size);
  item.expires = t + limits_.ttl;
  std::string id = random_id();
  while (items_.count(id) != 0) id = random_id();
  bytes_ += size;
  items_.emplace(id, std::move(item));
  order_.push_back(id);
  return id;
}

void ResultStore::evict_locked(Clock::time_point t, std::size_t incoming) {
  while (!order_.empty()) {
    auto it = items_.find(order_.front());
    const bool stale = it == items_.end() || it->second.expires <= t;
    const bool full =
        items_.size() + 1 > limits_.max_entries || bytes_ + incoming > limits_.max_bytes;
    if (!stale && !full) break;
    if (it != items_.end()) {
      bytes_ -= it->second.data.size();
      items_.erase(it);
    }
    order_.pop_front();
  }
}

std::string ResultStore::put_file(std::string bytes, std::string content_type) {
  return put(Item{{}, std::move(bytes), std::move(content_type), {}});
}

std::string ResultStore::put_result(std::string owner, std::string json_text) {
  if (owner.empty()) owner = "-";  // an empty owner marks a file
  return put(Item{std::move(owner), std::move(json_text), {}, {}});
}

std::optional<ResultStore::File> ResultStore::file(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = items_.find(std::string(id));
  if (it == items_.end() || it->second.expires <= now() || !it->second.owner.empty() ||
      it->second.content_type.empty())
    return std::nullopt;
  return File{it->second.data, it->second.content_type};
}

std::optional<std::string> ResultStore::result(std::string_view id, std::string_view owner) {
  std::lock_guard lock(mu_);
  auto it = items_.find(std::string(id));
  if (it == items_.end() || it->second.expires <= now() || it->second.owner.empty() ||
      it->second.owner != owner)
    return std::nullopt;
  return it->second.data;
}

std::size_t ResultStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t ResultStore::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

}  // namespace infergate::api::hf
