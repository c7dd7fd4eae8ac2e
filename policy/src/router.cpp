#include "infergate/policy/router.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

namespace infergate::policy {
namespace {

// The providers the official Hugging Face clients know (@huggingface/inference 4.13's
// INFERENCE_PROVIDERS): a gateway provider is offered to them under one of these names only.
constexpr std::array<std::string_view, 19> kHfProviders = {
    "baseten",        "cerebras",     "cohere",    "deepinfra",    "fal-ai",
    "featherless-ai", "fireworks-ai", "groq",      "hf-inference", "novita",
    "nscale",         "openai",       "ovhcloud",  "publicai",     "replicate",
    "scaleway",       "together",     "wavespeed", "zai-org"};

// Preset (or provider type) names whose HF name differs.
constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kHfAliases = {{
    {"fal", "fal-ai"},
    {"fireworks", "fireworks-ai"},
    {"featherless", "featherless-ai"},
    {"huggingface", "hf-inference"},
}};

std::string_view hf_name_of(std::string_view name) {
  for (auto n : kHfProviders)
    if (n == name) return n;
  for (const auto& [from, to] : kHfAliases)
    if (from == name) return to;
  return {};
}

enum class Policy : std::uint8_t { none, preferred, fastest, cheapest };

Policy policy_of(std::string_view suffix) {
  if (suffix == "preferred") return Policy::preferred;
  if (suffix == "fastest") return Policy::fastest;
  if (suffix == "cheapest") return Policy::cheapest;
  return Policy::none;
}

// Names that select provider `p`: its YAML name, its preset, and their HF names.
std::vector<std::string> names_of(const config::ProviderConfig& p) {
  std::vector<std::string> names{p.name};
  auto add = [&](std::string_view n) {
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end())
      names.emplace_back(n);
  };
  add(p.preset);
  add(hf_provider_name(p));
  return names;
}

constexpr float kEwmaWeight = 0.2f;  // weight of the newest observation

}  // namespace

std::string_view hf_provider_name(const config::ProviderConfig& p) {
  if (auto n = hf_name_of(p.name); !n.empty()) return n;
  if (auto n = hf_name_of(p.preset); !n.empty()) return n;
  if (p.type == "fal" || p.type == "replicate") return hf_name_of(p.type);
  return {};
}

Router::Router(const config::Config& config) : config_(config) {
  const auto max_attempts = static_cast<std::size_t>(std::max(1, config.routing.max_attempts));
  for (const auto& p : config.providers)
    for (auto& n : names_of(p)) provider_names_.emplace(std::move(n), 0);

  std::size_t deployments = 0;
  for (const auto& m : config.models) {
    Entry e{&m, {}, {}, {}};
    for (const auto& d : m.deployments) {
      deployment_index_.emplace(&d, deployments++);
      const auto* p = config.find_provider(d.provider);
      if (p == nullptr) continue;
      const Candidate c{p, &d};
      if (e.candidates.size() < max_attempts) e.candidates.push_back(c);
      for (auto& name : names_of(*p)) {
        auto it = std::find_if(e.by_provider.begin(), e.by_provider.end(),
                               [&](const ProviderSlice& s) { return s.name == name; });
        if (it == e.by_provider.end()) {
          e.by_provider.push_back({std::move(name), {}});
          it = std::prev(e.by_provider.end());
        }
        if (it->candidates.size() < max_attempts) it->candidates.push_back(c);
      }
    }
    for (std::size_t i = 0; i < e.candidates.size(); ++i) {
      std::vector<Candidate> order{e.candidates[i]};
      for (std::size_t j = 0; j < e.candidates.size(); ++j)
        if (j != i) order.push_back(e.candidates[j]);
      e.fastest_first.push_back(std::move(order));
    }
    models_.emplace(m.name, std::move(e));
  }
  latency_ = std::make_unique<std::atomic<float>[]>(std::max<std::size_t>(1, deployments));
  for (std::size_t i = 0; i < deployments; ++i) latency_[i].store(0.0f, std::memory_order_relaxed);

  // (provider name, upstream id) -> models, in config order; entries point into models_ (stable).
  for (const auto& m : config.models) {
    const Entry& e = models_.find(m.name)->second;
    for (const auto& d : m.deployments) {
      const auto* p = config.find_provider(d.provider);
      if (p == nullptr) continue;
      for (const auto& name : names_of(*p)) {
        auto& list = provider_models_[name][d.model];
        auto it = std::find_if(list.begin(), list.end(),
                               [&](const ProviderModel& pm) { return pm.entry == &e; });
        if (it == list.end()) {
          list.push_back({&e, {}});
          it = std::prev(list.end());
        }
        if (it->candidates.size() < max_attempts) it->candidates.push_back({p, &d});
      }
    }
  }
}

Router::~Router() = default;

std::optional<RoutePlan> Router::not_found(std::string_view model, api::Error& err) const {
  err = api::Error::make(api::ErrorKind::not_found,
                         "The model `" + std::string(model.substr(0, 256)) +
                             "` does not exist or you do not have access to it.",
                         "model", "model_not_found");
  return std::nullopt;
}

const std::vector<Candidate>* Router::fastest(const Entry& e) const {
  // A never-observed deployment counts as 0 ms, so each one is tried (in configured order) until
  // it has an estimate; after that the lowest estimate comes first.
  std::size_t best = 0;
  float best_ms = std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < e.candidates.size(); ++i) {
    const auto it = deployment_index_.find(e.candidates[i].deployment);
    const float ms = latency_[it->second].load(std::memory_order_relaxed);
    if (ms < best_ms) {
      best_ms = ms;
      best = i;
    }
  }
  return e.fastest_first.empty() ? &e.candidates : &e.fastest_first[best];
}

std::optional<RoutePlan> Router::plan(std::string_view model, const Principal& who,
                                      api::Error& err) const {
  if (auto it = models_.find(model); it != models_.end()) {
    if (!who.may_use(model)) return not_found(model, err);
    return RoutePlan{it->second.model, &it->second.candidates, "ordered"};
  }
  const auto colon = model.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return not_found(model, err);
  const std::string_view base = model.substr(0, colon);
  const std::string_view suffix = model.substr(colon + 1);
  auto it = models_.find(base);
  if (it == models_.end() || !who.may_use(base)) return not_found(model, err);
  const Entry& e = it->second;
  switch (policy_of(suffix)) {
    case Policy::preferred:
      return RoutePlan{e.model, &e.candidates, "preferred"};
    case Policy::cheapest:
      // No prices in the config yet: the configured order stands in for "cheapest".
      return RoutePlan{e.model, &e.candidates, "cheapest (configured order: no prices)"};
    case Policy::fastest:
      return RoutePlan{e.model, fastest(e), "fastest"};
    case Policy::none:
      break;
  }
  for (const auto& slice : e.by_provider)
    if (slice.name == suffix) return RoutePlan{e.model, &slice.candidates, "provider"};
  const bool known = provider_names_.find(suffix) != provider_names_.end();
  err = api::Error::make(
      api::ErrorKind::invalid_request,
      known ? "Provider `" + std::string(suffix.substr(0, 128)) + "` does not serve model `" +
                  std::string(base.substr(0, 256)) + "`."
            : "Unknown provider `" + std::string(suffix.substr(0, 128)) + "` in model `" +
                  std::string(model.substr(0, 256)) +
                  "`: use a provider name or one of :fastest, :cheapest, :preferred.",
      "model", "model_not_supported");
  return std::nullopt;
}

std::optional<RoutePlan> Router::plan_provider_model(std::string_view provider,
                                                     std::string_view provider_model,
                                                     const Principal& who, api::Error& err) const {
  auto pit = provider_models_.find(provider);
  if (pit == provider_models_.end()) {
    err = api::Error::make(api::ErrorKind::not_found,
                           "Unknown provider `" + std::string(provider.substr(0, 128)) + "`.",
                           "provider", "provider_not_found");
    return std::nullopt;
  }
  if (auto mit = pit->second.find(provider_model); mit != pit->second.end()) {
    for (const auto& pm : mit->second)
      if (who.may_use(pm.entry->model->name))
        return RoutePlan{pm.entry->model, &pm.candidates, "provider"};
  }
  err = api::Error::make(
      api::ErrorKind::not_found,
      "Model `" + std::string(provider_model.substr(0, 256)) + "` is not supported by provider `" +
          std::string(provider.substr(0, 128)) + "`, or you do not have access to it.",
      "model", "model_not_found");
  return std::nullopt;
}

bool Router::knows_provider(std::string_view name) const {
  return provider_names_.find(name) != provider_names_.end();
}

void Router::observe(const config::DeploymentConfig* deployment,
                     std::chrono::milliseconds latency) const {
  const auto it = deployment_index_.find(deployment);
  if (it == deployment_index_.end()) return;
  auto& slot = latency_[it->second];
  // Clamped so a pathological value cannot poison the estimate for long (1 ms .. 10 min).
  const float ms = static_cast<float>(std::clamp<std::int64_t>(latency.count(), 1, 600'000));
  float old = slot.load(std::memory_order_relaxed);
  for (;;) {
    const float next = old <= 0 ? ms : old + kEwmaWeight * (ms - old);
    if (slot.compare_exchange_weak(old, next, std::memory_order_relaxed)) return;
  }
}

double Router::latency_estimate(const config::DeploymentConfig* deployment) const {
  const auto it = deployment_index_.find(deployment);
  if (it == deployment_index_.end()) return 0;
  return latency_[it->second].load(std::memory_order_relaxed);
}

std::vector<const config::ModelConfig*> Router::visible_models(const Principal& who) const {
  std::vector<const config::ModelConfig*> out;
  for (const auto& m : config_.models)
    if (who.may_use(m.name)) out.push_back(&m);
  return out;
}

}  // namespace infergate::policy
