#include "infergate/policy/router.hpp"

#include <algorithm>

namespace infergate::policy {

Router::Router(const config::Config& config) : config_(config) {
  const auto max_attempts = static_cast<std::size_t>(std::max(1, config.routing.max_attempts));
  for (const auto& m : config.models) {
    Entry e{&m, {}};
    for (const auto& d : m.deployments) {
      if (e.candidates.size() == max_attempts) break;
      if (const auto* p = config.find_provider(d.provider)) e.candidates.push_back({p, &d});
    }
    models_.emplace(m.name, std::move(e));
  }
}

std::optional<RoutePlan> Router::plan(std::string_view model, const Principal& who,
                                      api::Error& err) const {
  auto it = models_.find(model);
  if (it == models_.end() || !who.may_use(model)) {
    err = api::Error::make(api::ErrorKind::not_found,
                           "The model `" + std::string(model.substr(0, 256)) +
                               "` does not exist or you do not have access to it.",
                           "model", "model_not_found");
    return std::nullopt;
  }
  return RoutePlan{it->second.model, &it->second.candidates, "ordered"};
}

std::vector<const config::ModelConfig*> Router::visible_models(const Principal& who) const {
  std::vector<const config::ModelConfig*> out;
  for (const auto& m : config_.models)
    if (who.may_use(m.name)) out.push_back(&m);
  return out;
}

}  // namespace infergate::policy
