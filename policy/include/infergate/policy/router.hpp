// Routing: which deployments serve a request, in which order, and why.
//
// The plan for each public model is computed once from the validated config; planning a request
// is a lookup plus the key's permission check, with no allocation.
#pragma once

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

class Router {
 public:
  explicit Router(const config::Config& config);

  // The plan for `model` as `who` may use it; a not_found error (404, OpenAI's wording) when the
  // model does not exist or the key may not use it, so a key cannot probe for other models.
  std::optional<RoutePlan> plan(std::string_view model, const Principal& who,
                                api::Error& err) const;

  // Models `who` may use, in config order.
  std::vector<const config::ModelConfig*> visible_models(const Principal& who) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Entry {
    const config::ModelConfig* model;
    std::vector<Candidate> candidates;
  };
  const config::Config& config_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> models_;
};

}  // namespace infergate::policy
