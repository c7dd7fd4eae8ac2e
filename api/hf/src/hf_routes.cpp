// Route recognition and the model task inference of the Hugging Face dialect.
#include <algorithm>
#include <cctype>

#include "infergate/api/hf.hpp"

namespace infergate::api::hf {
namespace {

bool provider_token(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_digit(s[i + 1]);
      const int lo = hex_digit(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// A model id from a path: non-empty, bounded, no empty, "." or ".." segments, no control bytes.
bool model_ok(std::string_view m) {
  if (m.empty() || m.size() > 512 || m.front() == '/' || m.back() == '/') return false;
  std::size_t start = 0;
  while (start <= m.size()) {
    const auto end = std::min(m.find('/', start), m.size());
    const auto seg = m.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = end + 1;
  }
  return std::none_of(m.begin(), m.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool query_has(std::string_view query, std::string_view pair) {
  std::size_t start = 0;
  while (start <= query.size()) {
    const auto end = std::min(query.find('&', start), query.size());
    if (query.substr(start, end - start) == pair) return true;
    start = end + 1;
  }
  return false;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool mentions(const std::string& s, std::initializer_list<std::string_view> words) {
  return std::any_of(words.begin(), words.end(),
                     [&](std::string_view w) { return s.find(w) != std::string::npos; });
}

// "models/{model}[/pipeline/{task} | /v1/chat/completions]" after a provider (or at the root).
Route models_route(std::string provider, std::string_view rest) {
  Route r;
  r.provider = std::move(provider);
  std::string_view model = rest;
  if (auto p = rest.rfind("/pipeline/"); p != std::string_view::npos) {
    const auto task = task_from_name(rest.substr(p + 10));
    if (!task) return {};
    r.kind = Route::Kind::pipeline;
    r.task = *task;
    model = rest.substr(0, p);
  } else if (ends_with(rest, "/v1/chat/completions")) {
    r.kind = Route::Kind::chat;
    model = rest.substr(0, rest.size() - 20);
  } else if (ends_with(rest, "/chat/completions")) {
    r.kind = Route::Kind::chat;
    model = rest.substr(0, rest.size() - 17);
  } else {
    r.kind = Route::Kind::model_task;
  }
  r.model = percent_decode(model);
  if (!model_ok(r.model)) return {};
  return r;
}

}  // namespace

std::string_view task_name(Task t) {
  switch (t) {
    case Task::conversational:
      return "conversational";
    case Task::feature_extraction:
      return "feature-extraction";
    case Task::text_to_image:
      return "text-to-image";
  }
  return "conversational";
}

std::optional<Task> task_from_name(std::string_view name) {
  if (name == "feature-extraction" || name == "sentence-similarity")
    return Task::feature_extraction;
  if (name == "text-to-image") return Task::text_to_image;
  if (name == "conversational") return Task::conversational;
  return std::nullopt;
}

Task model_task(const config::ModelConfig& model, const config::Config& config) {
  for (const auto& d : model.deployments)
    if (const auto* p = config.find_provider(d.provider); p != nullptr && p->type == "fal")
      return Task::text_to_image;
  std::vector<std::string> names{lower(model.name)};
  for (const auto& d : model.deployments) names.push_back(lower(d.model));
  for (const auto& n : names)
    if (mentions(n, {"embed", "bge-", "/bge", "e5-", "minilm", "sentence-transformers", "gte-"}))
      return Task::feature_extraction;
  for (const auto& n : names)
    if (mentions(n, {"flux", "stable-diffusion", "sdxl", "diffusion", "dall-e", "imagen", "image"}))
      return Task::text_to_image;
  return Task::conversational;
}

Route match(std::string_view target) {
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  if (path.size() < 2 || path.front() != '/') return {};
  const std::string_view rest = path.substr(1);
  const auto slash = rest.find('/');
  const std::string_view first = rest.substr(0, slash);
  const std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (!provider_token(first) || first == "v1" || tail.empty()) return {};

  if (first == "api") {
    if (!tail.starts_with("models/")) return {};
    Route r;
    r.kind = Route::Kind::hub_model;
    r.model = percent_decode(tail.substr(7));
    if (!model_ok(r.model)) return {};
    return r;
  }
  if (first == "hf-files") {
    Route r;
    r.kind = Route::Kind::file;
    r.id = std::string(tail);
    if (r.id.size() != 32 ||
        !std::all_of(r.id.begin(), r.id.end(), [](char c) { return hex_digit(c) >= 0; }))
      return {};
    return r;
  }
  if (first == "models") return models_route("", tail);

  const std::string provider(first);
  if (tail.starts_with("models/") && provider != "replicate")
    return models_route(provider, tail.substr(7));
  if (ends_with(tail, "chat/completions"))
    return Route{Route::Kind::chat, provider, {}, {}, {}, {}};
  if (ends_with(tail, "/embeddings") || tail == "embeddings")
    return Route{Route::Kind::embeddings, provider, {}, {}, {}, {}};
  if (ends_with(tail, "images/generations"))
    return Route{Route::Kind::images, provider, {}, {}, {}, {}};

  if (provider == "replicate") {
    Route r;
    r.provider = provider;
    r.kind = Route::Kind::replicate_predict;
    if (tail == "v1/predictions") return r;
    if (tail.starts_with("v1/models/") && ends_with(tail, "/predictions")) {
      r.model = percent_decode(tail.substr(10, tail.size() - 10 - 12));
      if (!model_ok(r.model)) return {};
      return r;
    }
    return {};
  }
  if (provider == "fal-ai") {
    Route r;
    r.provider = provider;
    std::string_view model = tail;
    if (auto p = tail.rfind("/requests/"); p != std::string_view::npos) {
      std::string_view id = tail.substr(p + 10);
      r.kind = Route::Kind::fal_result;
      if (ends_with(id, "/status")) {
        id.remove_suffix(7);
        r.kind = Route::Kind::fal_status;
      }
      r.id = std::string(id);
      if (r.id.size() != 32 ||
          !std::all_of(r.id.begin(), r.id.end(), [](char c) { return hex_digit(c) >= 0; }))
        return {};
      model = tail.substr(0, p);
    } else {
      r.kind = Route::Kind::fal_submit;
      r.queue = query_has(query, "_subdomain=queue");
    }
    r.model = percent_decode(model);
    if (!model_ok(r.model)) return {};
    return r;
  }
  return {};
}

}  // namespace infergate::api::hf
