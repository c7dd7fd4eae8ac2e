// Router: plans per model, Hugging Face style suffixes (:provider, :fastest, :cheapest,
// :preferred), provider-model reverse lookup, key permissions.
#include "infergate/policy/router.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace infergate::policy {
namespace {

config::ProviderConfig provider(std::string name, std::string type = "openai",
                                std::string preset = {}) {
  config::ProviderConfig p;
  p.name = std::move(name);
  p.type = std::move(type);
  p.preset = std::move(preset);
  p.base_url = "http://127.0.0.1:1/v1";
  return p;
}

config::ModelConfig model(std::string name, std::vector<config::DeploymentConfig> deployments) {
  config::ModelConfig m;
  m.name = std::move(name);
  m.deployments = std::move(deployments);
  return m;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    cfg.providers = {provider("tg", "openai", "together"), provider("fal", "fal", "fal"),
                     provider("groq"), provider("replicate", "replicate"),
                     provider("fireworks-b", "openai", "fireworks")};
    cfg.models = {
        model("meta-llama/Llama-3.1-8B-Instruct", {{"groq", "llama-3.1-8b-instant"},
                                                   {"tg", "meta-llama/Meta-Llama-3.1-8B"},
                                                   {"fireworks-b", "accounts/fw/llama"}}),
        // A public name with a colon: matched literally, never parsed as a suffix.
        model("odd:groq", {{"tg", "odd-upstream"}}),
        model("flux", {{"fal", "fal-ai/flux/schnell"}, {"replicate", "bfl/flux-schnell"}}),
        // Same upstream id on the same provider as another model: the first model wins.
        model("llama-alias", {{"tg", "meta-llama/Meta-Llama-3.1-8B"}}),
        model("restricted", {{"tg", "secret-model"}}),
    };
    restricted_key.id = "k2";
    restricted_key.models = {"llama-alias", "flux"};
    all_key.id = "k1";
  }

  static std::vector<std::string> names(const RoutePlan& p) {
    std::vector<std::string> out;
    for (const auto& c : *p.candidates) out.push_back(c.provider->name);
    return out;
  }

  config::Config cfg;
  config::KeyConfig all_key;
  config::KeyConfig restricted_key;
};

TEST_F(RouterTest, PlainModelKeepsConfiguredOrder) {
  Router r(cfg);
  api::Error err;
  auto p = r.plan("meta-llama/Llama-3.1-8B-Instruct", Principal{&all_key}, err);
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), (std::vector<std::string>{"groq", "tg", "fireworks-b"}));
  EXPECT_EQ(p->why, "ordered");
  EXPECT_EQ(p->model->name, "meta-llama/Llama-3.1-8B-Instruct");
}

TEST_F(RouterTest, MaxAttemptsCapsCandidates) {
  cfg.routing.max_attempts = 2;
  Router r(cfg);
  api::Error err;
  auto p = r.plan("meta-llama/Llama-3.1-8B-Instruct", Principal{&all_key}, err);
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), (std::vector<std::string>{"groq", "tg"}));
}

TEST_F(RouterTest, ProviderSuffixByYamlPresetAndHfName) {
  Router r(cfg);
  api::Error err;
  const Principal who{&all_key};
  for (const char* suffix : {"tg", "together"}) {
    auto p = r.plan(std::string("meta-llama/Llama-3.1-8B-Instruct:") + suffix, who, err);
    ASSERT_TRUE(p) << suffix << ": " << err.message;
    EXPECT_EQ(names(*p), std::vector<std::string>{"tg"}) << suffix;
    EXPECT_EQ(p->why, "provider");
    EXPECT_EQ(p->model->name, "meta-llama/Llama-3.1-8B-Instruct");
  }
  // The preset is "fireworks"; the HF clients call it "fireworks-ai".
  for (const char* suffix : {"fireworks-b", "fireworks", "fireworks-ai"}) {
    auto p = r.plan(std::string("meta-llama/Llama-3.1-8B-Instruct:") + suffix, who, err);
    ASSERT_TRUE(p) << suffix;
    EXPECT_EQ(names(*p), std::vector<std::string>{"fireworks-b"}) << suffix;
  }
  auto fal = r.plan("flux:fal-ai", who, err);
  ASSERT_TRUE(fal);
  EXPECT_EQ(names(*fal), std::vector<std::string>{"fal"});
  auto rep = r.plan("flux:replicate", who, err);
  ASSERT_TRUE(rep);
  EXPECT_EQ(names(*rep), std::vector<std::string>{"replicate"});
}

TEST_F(RouterTest, LiteralColonNameWins) {
  Router r(cfg);
  api::Error err;
  auto p = r.plan("odd:groq", Principal{&all_key}, err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->model->name, "odd:groq");
  EXPECT_EQ(names(*p), std::vector<std::string>{"tg"});
}

TEST_F(RouterTest, UnknownProviderSuffixIs400NamingIt) {
  Router r(cfg);
  api::Error err;
  EXPECT_FALSE(r.plan("meta-llama/Llama-3.1-8B-Instruct:nosuch", Principal{&all_key}, err));
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.param, "model");
  EXPECT_NE(err.message.find("`nosuch`"), std::string::npos) << err.message;
  // A known provider that does not serve this model says so.
  EXPECT_FALSE(r.plan("flux:groq", Principal{&all_key}, err));
  EXPECT_EQ(err.status, 400);
  EXPECT_NE(err.message.find("does not serve"), std::string::npos) << err.message;
}

TEST_F(RouterTest, UnknownBaseModelIs404) {
  Router r(cfg);
  api::Error err;
  EXPECT_FALSE(r.plan("nope:together", Principal{&all_key}, err));
  EXPECT_EQ(err.status, 404);
  EXPECT_FALSE(r.plan("nope", Principal{&all_key}, err));
  EXPECT_EQ(err.status, 404);
  EXPECT_FALSE(r.plan(":together", Principal{&all_key}, err));
  EXPECT_EQ(err.status, 404);
}

TEST_F(RouterTest, KeyPermissionAppliesToTheBaseModel) {
  Router r(cfg);
  api::Error err;
  const Principal who{&restricted_key};
  EXPECT_FALSE(r.plan("meta-llama/Llama-3.1-8B-Instruct:together", who, err));
  EXPECT_EQ(err.status, 404);  // not 400: a key cannot probe another model's providers
  EXPECT_FALSE(r.plan("meta-llama/Llama-3.1-8B-Instruct:nosuch", who, err));
  EXPECT_EQ(err.status, 404);
  EXPECT_TRUE(r.plan("flux:fal", who, err));
}

TEST_F(RouterTest, PolicySuffixes) {
  Router r(cfg);
  api::Error err;
  const Principal who{&all_key};
  const std::vector<std::string> configured{"groq", "tg", "fireworks-b"};
  auto pref = r.plan("meta-llama/Llama-3.1-8B-Instruct:preferred", who, err);
  ASSERT_TRUE(pref);
  EXPECT_EQ(names(*pref), configured);
  EXPECT_EQ(pref->why, "preferred");
  auto cheap = r.plan("meta-llama/Llama-3.1-8B-Instruct:cheapest", who, err);
  ASSERT_TRUE(cheap);
  EXPECT_EQ(names(*cheap), configured);
  // Nothing observed yet: fastest is the configured order.
  auto fast = r.plan("meta-llama/Llama-3.1-8B-Instruct:fastest", who, err);
  ASSERT_TRUE(fast);
  EXPECT_EQ(names(*fast), configured);
  EXPECT_EQ(fast->why, "fastest");
}

TEST_F(RouterTest, FastestFollowsObservedLatency) {
  Router r(cfg);
  api::Error err;
  const Principal who{&all_key};
  const auto& deps = cfg.models[0].deployments;
  using std::chrono::milliseconds;
  auto first = [&] {
    auto p = r.plan("meta-llama/Llama-3.1-8B-Instruct:fastest", who, err);
    return p ? names(*p) : std::vector<std::string>{};
  };
  r.observe(&deps[0], milliseconds(900));
  // Unobserved deployments are tried first (in configured order) so each gets an estimate.
  EXPECT_EQ(first(), (std::vector<std::string>{"tg", "groq", "fireworks-b"}));
  r.observe(&deps[1], milliseconds(100));
  EXPECT_EQ(first(), (std::vector<std::string>{"fireworks-b", "groq", "tg"}));
  r.observe(&deps[2], milliseconds(500));
  EXPECT_EQ(first(), (std::vector<std::string>{"tg", "groq", "fireworks-b"}));
  // The plain name is unaffected.
  auto plain = r.plan("meta-llama/Llama-3.1-8B-Instruct", who, err);
  EXPECT_EQ(names(*plain)[0], "groq");
  // The estimate moves gradually (EWMA), then the order changes.
  r.observe(&deps[1], milliseconds(2000));
  EXPECT_FLOAT_EQ(static_cast<float>(r.latency_estimate(&deps[1])), 480.0f);  // 100 + 0.2 * 1900
  EXPECT_EQ(first()[0], "tg");                                                // 480 < 500
  for (int i = 0; i < 30; ++i) r.observe(&deps[1], milliseconds(2000));
  EXPECT_GT(r.latency_estimate(&deps[1]), 900);
  EXPECT_EQ(first(), (std::vector<std::string>{"fireworks-b", "groq", "tg"}));
}

TEST_F(RouterTest, EwmaWeighsNewObservations) {
  Router r(cfg);
  const auto* d = &cfg.models[0].deployments[0];
  EXPECT_EQ(r.latency_estimate(d), 0);
  r.observe(d, std::chrono::milliseconds(100));
  EXPECT_FLOAT_EQ(static_cast<float>(r.latency_estimate(d)), 100.0f);
  r.observe(d, std::chrono::milliseconds(200));
  EXPECT_FLOAT_EQ(static_cast<float>(r.latency_estimate(d)), 120.0f);
  // Unknown deployments are ignored.
  config::DeploymentConfig other;
  r.observe(&other, std::chrono::milliseconds(1));
  EXPECT_EQ(r.latency_estimate(&other), 0);
}

TEST_F(RouterTest, PlanProviderModelMapsBackToTheDeployment) {
  Router r(cfg);
  api::Error err;
  const Principal who{&all_key};
  auto p = r.plan_provider_model("together", "meta-llama/Meta-Llama-3.1-8B", who, err);
  ASSERT_TRUE(p) << err.message;
  EXPECT_EQ(p->model->name, "meta-llama/Llama-3.1-8B-Instruct");  // first model in config order
  ASSERT_EQ(p->candidates->size(), 1u);
  EXPECT_EQ((*p->candidates)[0].deployment->model, "meta-llama/Meta-Llama-3.1-8B");
  // The same through the YAML name.
  EXPECT_TRUE(r.plan_provider_model("tg", "meta-llama/Meta-Llama-3.1-8B", who, err));
  // A key that may only use the alias gets the alias.
  auto alias = r.plan_provider_model("together", "meta-llama/Meta-Llama-3.1-8B",
                                     Principal{&restricted_key}, err);
  ASSERT_TRUE(alias);
  EXPECT_EQ(alias->model->name, "llama-alias");
  auto fal = r.plan_provider_model("fal-ai", "fal-ai/flux/schnell", who, err);
  ASSERT_TRUE(fal);
  EXPECT_EQ(fal->model->name, "flux");
  EXPECT_EQ((*fal->candidates)[0].provider->name, "fal");
}

TEST_F(RouterTest, PlanProviderModelErrors) {
  Router r(cfg);
  api::Error err;
  EXPECT_FALSE(r.plan_provider_model("nosuch", "x", Principal{&all_key}, err));
  EXPECT_EQ(err.status, 404);
  EXPECT_NE(err.message.find("nosuch"), std::string::npos);
  EXPECT_FALSE(r.plan_provider_model("together", "unknown-id", Principal{&all_key}, err));
  EXPECT_EQ(err.status, 404);
  // Exists, but the key may not use it: the same 404.
  EXPECT_FALSE(r.plan_provider_model("together", "secret-model", Principal{&restricted_key}, err));
  EXPECT_EQ(err.status, 404);
}

TEST(HfProviderName, FromNamePresetAndType) {
  EXPECT_EQ(hf_provider_name(provider("together")), "together");
  EXPECT_EQ(hf_provider_name(provider("x", "openai", "together")), "together");
  EXPECT_EQ(hf_provider_name(provider("x", "openai", "fireworks")), "fireworks-ai");
  EXPECT_EQ(hf_provider_name(provider("x", "fal")), "fal-ai");
  EXPECT_EQ(hf_provider_name(provider("x", "replicate")), "replicate");
  EXPECT_EQ(hf_provider_name(provider("hf-inference")), "hf-inference");
  EXPECT_EQ(hf_provider_name(provider("mock")), "");
  EXPECT_EQ(hf_provider_name(provider("x", "openai", "sambanova")), "");
}

TEST_F(RouterTest, KnowsProvider) {
  Router r(cfg);
  EXPECT_TRUE(r.knows_provider("tg"));
  EXPECT_TRUE(r.knows_provider("together"));
  EXPECT_TRUE(r.knows_provider("fal-ai"));
  EXPECT_FALSE(r.knows_provider("nosuch"));
}

}  // namespace
}  // namespace infergate::policy
