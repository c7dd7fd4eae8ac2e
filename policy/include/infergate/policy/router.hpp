// Routing: which deployments serve a request, in which order, and why.
//
// The plan for each public model is computed once from the validated config; planning a request
// is a lookup plus the key's permission check, with no allocation.
//
// Model-name suffixes (Hugging Face router conventions), parsed only when the name as sent is
// not itself a configured model (a public name that contains a colon wins):
//   `model:PROVIDER`  only the deployments on that provider: its YAML name, its preset name, or
//                     the Hugging Face name of that preset (`fal-ai`, `fireworks-ai`, ...).
//   `model:preferred` the configured order (the default without a suffix).
//   `model:fastest`   the deployment with the lowest observed latency first (an EWMA per
//                     deployment fed by observe()), then the others in configured order.
//   `model:cheapest`  the configured order: the config carries no prices yet.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "infergate/api/chat.hpp"
#include "infergate/config/config.hpp"
#include "infergate/policy/keys.hpp"

namespace infergate::policy {

struct Candidate {
  const config::ProviderConfig* provider = nullptr;
  const config::DeploymentConfig* deployment = nullptr;
};

struct RoutePlan {
  const config::ModelConfig* model = nullptr;
  const std::vector<Candidate>* candidates =
      nullptr;           // in the order to try, capped by max_attempts
  std::string_view why;  // strategy that ordered them
};

// The Hugging Face Inference Providers name of a provider ("together", "fal-ai", ...), from its
// YAML name or its preset; empty when it has none (the HF clients only know their fixed list).
std::string_view hf_provider_name(const config::ProviderConfig& p);

class Router {
 public:
  explicit Router(const config::Config& config);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // The plan for `model` as `who` may use it; a not_found error (404, OpenAI's wording) when the
  // model does not exist or the key may not use it, so a key cannot probe for other models; an
  // invalid_request error (400) naming an unknown `:provider` suffix.
  std::optional<RoutePlan> plan(std::string_view model, const Principal& who,
                                api::Error& err) const;

  // The plan for a provider's own model id on that provider, as the Hugging Face router's
  // per-provider routes (`/together/v1/chat/completions`, body `model` = provider id) name it:
  // the deployments of the first model `who` may use that has a deployment on `provider` (YAML,
  // preset or HF name) with upstream id `provider_model`, restricted to that provider. The
  // public model name is in plan.model. Errors as for plan().
  std::optional<RoutePlan> plan_provider_model(std::string_view provider,
                                               std::string_view provider_model,
                                               const Principal& who, api::Error& err) const;

  // True when `name` names a configured provider (YAML, preset or HF name).
  bool knows_provider(std::string_view name) const;

  // Feeds the `:fastest` strategy: one observed latency (e.g. time to the first byte) of a
  // deployment. Lock-free; safe from any thread.
  void observe(const config::DeploymentConfig* deployment, std::chrono::milliseconds latency) const;
  // The current latency estimate of a deployment in ms (0 = never observed).
  double latency_estimate(const config::DeploymentConfig* deployment) const;

  // Models `who` may use, in config order.
  std::vector<const config::ModelConfig*> visible_models(const Principal& who) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // The candidates of one model on the providers that `name` selects.
  struct ProviderSlice {
    std::string name;
    std::vector<Candidate> candidates;
  };
  struct Entry {
    const config::ModelConfig* model;
    std::vector<Candidate> candidates;
    // candidates rotated so that candidates[i] comes first (`:fastest`), one list per i.
    std::vector<std::vector<Candidate>> fastest_first;
    std::vector<ProviderSlice> by_provider;
  };
  struct ProviderModel {  // one (provider, upstream id) reachable through a model
    const Entry* entry;
    std::vector<Candidate> candidates;
  };

  const std::vector<Candidate>* fastest(const Entry& e) const;
  std::optional<RoutePlan> not_found(std::string_view model, api::Error& err) const;

  const config::Config& config_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> models_;
  using ByUpstream =
      std::unordered_map<std::string, std::vector<ProviderModel>, Hash, std::equal_to<>>;
  // provider name -> upstream id -> the models that reach it, in config order.
  std::unordered_map<std::string, ByUpstream, Hash, std::equal_to<>> provider_models_;
  std::unordered_map<std::string, int, Hash, std::equal_to<>> provider_names_;  // all names
  // EWMA latency per deployment (ms, as float bits), indexed by deployment_index_.
  std::unordered_map<const config::DeploymentConfig*, std::size_t> deployment_index_;
  std::unique_ptr<std::atomic<float>[]> latency_;
};

}  // namespace infergate::policy
