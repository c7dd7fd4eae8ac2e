// Provider types beyond openai: native wire formats (anthropic, gemini, bedrock), their default
// base URLs, the aws section of bedrock, and drop_unsupported_params.
#include <gtest/gtest.h>

#include <string>

#include "infergate/config/config.hpp"
#include "test_support.hpp"

namespace infergate::config {
namespace {

using namespace testing_support;  // NOLINT(google-build-using-namespace)

const EnvLookup kAwsEnv =
    env_of({{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
            {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
            {"AWS_SESSION_TOKEN", "tok-session"},
            {"ANT_KEY", "sk-ant-test"},
            {"GEM_KEY", "gm-test"}});

TEST(ProviderTypes, NativeTypesGetTheirDefaultBaseUrl) {
  const std::string y = R"(providers:
  - { name: claude, type: anthropic, api_key: "${ANT_KEY}" }
  - { name: gem, type: gemini, api_key: "${GEM_KEY}" }
  - name: br
    type: bedrock
    aws:
      region: eu-central-1
      access_key_id: ${AWS_ACCESS_KEY_ID}
      secret_access_key: ${AWS_SECRET_ACCESS_KEY}
)";
  auto r = load(y, kAwsEnv);
  ASSERT_TRUE(loads(r));
  const auto& ps = r.config->providers;
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_EQ(ps[0].type, "anthropic");
  EXPECT_EQ(ps[0].base_url, "https://api.anthropic.com/v1");
  EXPECT_EQ(ps[0].api_key, "sk-ant-test");
  EXPECT_FALSE(ps[0].aws.has_value());
  EXPECT_EQ(ps[1].type, "gemini");
  EXPECT_EQ(ps[1].base_url, "https://generativelanguage.googleapis.com/v1beta");
  EXPECT_EQ(ps[1].api_key, "gm-test");
  EXPECT_EQ(ps[2].type, "bedrock");
  EXPECT_EQ(ps[2].base_url, "https://bedrock-runtime.eu-central-1.amazonaws.com");
  EXPECT_EQ(ps[2].api_key, "");
  ASSERT_TRUE(ps[2].aws.has_value());
  EXPECT_EQ(ps[2].aws->region, "eu-central-1");
  EXPECT_EQ(ps[2].aws->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(ps[2].aws->secret_access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  EXPECT_EQ(ps[2].aws->session_token, "");
  EXPECT_EQ(ps[2].aws->service, "bedrock");
  for (const auto& p : ps) EXPECT_TRUE(p.drop_unsupported_params) << p.name;
}

TEST(ProviderTypes, ExplicitBaseUrlWinsOverTheDefault) {
  const std::string y = R"(providers:
  - { name: claude, type: anthropic, base_url: "http://127.0.0.1:9300/v1/" }
  - name: br
    type: bedrock
    base_url: https://vpce-0abc.bedrock-runtime.us-east-1.vpce.amazonaws.com
    aws:
      region: us-east-1
      access_key_id: ${AWS_ACCESS_KEY_ID}
      secret_access_key: ${AWS_SECRET_ACCESS_KEY}
      session_token: ${AWS_SESSION_TOKEN}
      service: bedrock-runtime
)";
  auto r = load(y, kAwsEnv);
  ASSERT_TRUE(loads(r));
  EXPECT_EQ(r.config->providers[0].base_url, "http://127.0.0.1:9300/v1");
  const ProviderConfig& br = r.config->providers[1];
  EXPECT_EQ(br.base_url, "https://vpce-0abc.bedrock-runtime.us-east-1.vpce.amazonaws.com");
  EXPECT_EQ(br.aws->session_token, "tok-session");
  EXPECT_EQ(br.aws->service, "bedrock-runtime");
}

TEST(ProviderTypes, OpenAiStillNeedsABaseUrl) {
  const std::string y = "providers:\n  - { name: a, type: openai }\n";
  EXPECT_TRUE(only_error(load(y), {2, 5}, "providers[0].base_url",
                         "missing required key 'base_url' (type openai needs the upstream's URL)"));
}

TEST(ProviderTypes, UnknownTypeSuggestsTheClosest) {
  const std::pair<const char*, const char*> cases[] = {
      {"anthropik", "anthropic"}, {"gemeni", "gemini"}, {"bedrok", "bedrock"}, {"locl", "local"}};
  for (const auto& [typo, meant] : cases) {
    const std::string y = std::string("providers:\n  - { name: a, type: ") + typo + " }\n";
    EXPECT_TRUE(only_error(
        load(y), at(y, typo), "providers[0].type",
        std::string("known: openai, anthropic, gemini, bedrock, replicate, fal, local (did you "
                    "mean '") +
            meant + "'?)"));
  }
  const std::string far = "providers:\n  - { name: a, type: cohere }\n";
  auto r = load(far);
  ASSERT_EQ(r.errors.size(), 1u) << dump(r);
  EXPECT_EQ(r.errors[0].message.find("did you mean"), std::string::npos);
}

TEST(ProviderTypes, BedrockRequiresAnAwsSection) {
  const std::string y = "providers:\n  - { name: br, type: bedrock }\n";
  EXPECT_TRUE(only_error(load(y, kAwsEnv), {2, 5}, "providers[0].aws",
                         "missing required key 'aws' (type bedrock signs requests with AWS "
                         "credentials)"));
}

TEST(ProviderTypes, BedrockMissingRegionAndKeys) {
  const std::string y = R"(providers:
  - name: br
    type: bedrock
    aws:
      session_token: ${AWS_SESSION_TOKEN}
)";
  auto r = load(y, kAwsEnv);
  ASSERT_EQ(r.errors.size(), 3u) << dump(r);
  EXPECT_TRUE(has_error(r, {5, 7}, "providers[0].aws.region", "missing required key 'region'"));
  EXPECT_TRUE(has_error(r, {5, 7}, "providers[0].aws.access_key_id",
                        "missing required key 'access_key_id' (e.g. access_key_id: "
                        "${AWS_ACCESS_KEY_ID})"));
  EXPECT_TRUE(has_error(r, {5, 7}, "providers[0].aws.secret_access_key",
                        "missing required key 'secret_access_key'"));
}

TEST(ProviderTypes, BedrockInlineSecretsAreRejectedAndNeverShown) {
  const std::string y = R"(providers:
  - name: br
    type: bedrock
    aws:
      region: us-west-2
      access_key_id: AKIAINLINEKEY
      secret_access_key: inline/secret+value
      session_token: inline-session-token
)";
  auto r = load(y, kAwsEnv);
  ASSERT_EQ(r.errors.size(), 3u) << dump(r);
  EXPECT_TRUE(has_error(r, at(y, "AKIAINLINEKEY"), "providers[0].aws.access_key_id",
                        "secrets must come from the environment, e.g. access_key_id: "
                        "${AWS_ACCESS_KEY_ID}"));
  EXPECT_TRUE(has_error(r, at(y, "inline/secret"), "providers[0].aws.secret_access_key",
                        "${AWS_SECRET_ACCESS_KEY}"));
  EXPECT_TRUE(has_error(r, at(y, "inline-session"), "providers[0].aws.session_token",
                        "${AWS_SESSION_TOKEN}"));
  for (const auto& d : r.errors) {
    const std::string text = format(d);
    EXPECT_EQ(text.find("AKIAINLINEKEY"), std::string::npos) << text;
    EXPECT_EQ(text.find("inline/secret"), std::string::npos) << text;
    EXPECT_EQ(text.find("inline-session"), std::string::npos) << text;
  }
}

TEST(ProviderTypes, BedrockBadRegionEmptyKeyAndApiKey) {
  const std::string y = R"(providers:
  - name: br
    type: bedrock
    api_key: ${ANT_KEY}
    aws:
      region: "us-east-1.evil.com/"
      access_key_id: ${EMPTY}
      secret_access_key: ${AWS_SECRET_ACCESS_KEY}
      service: "Bed Rock"
)";
  auto env = env_of({{"EMPTY", ""}, {"AWS_SECRET_ACCESS_KEY", "s"}, {"ANT_KEY", "k"}});
  auto r = load(y, env);
  ASSERT_EQ(r.errors.size(), 4u) << dump(r);
  EXPECT_TRUE(has_error(r, at(y, "api_key"), "providers[0].api_key",
                        "does not apply to providers of type bedrock"));
  EXPECT_TRUE(has_error(r, at(y, "\"us-east-1"), "providers[0].aws.region",
                        "expected an AWS region such as us-east-1"));
  EXPECT_TRUE(
      has_error(r, at(y, "${EMPTY}"), "providers[0].aws.access_key_id", "must not be empty"));
  EXPECT_TRUE(has_error(r, at(y, "\"Bed Rock\""), "providers[0].aws.service",
                        "expected an AWS service name"));
}

TEST(ProviderTypes, AwsSectionOnlyForBedrock) {
  const std::string y = R"(providers:
  - name: claude
    type: anthropic
    aws: { region: us-east-1 }
  - name: here
    type: local
    aws: { region: us-east-1 }
)";
  auto r = load(y);
  ASSERT_EQ(r.errors.size(), 2u) << dump(r);
  EXPECT_TRUE(
      has_error(r, {4, 5}, "providers[0].aws", "applies only to providers of type bedrock"));
  EXPECT_TRUE(
      has_error(r, {7, 5}, "providers[1].aws", "applies only to providers of type bedrock"));
}

TEST(ProviderTypes, UnknownAwsKeySuggests) {
  const std::string y = R"(providers:
  - name: br
    type: bedrock
    aws:
      regoin: us-east-1
      access_key_id: ${AWS_ACCESS_KEY_ID}
      secret_access_key: ${AWS_SECRET_ACCESS_KEY}
)";
  auto r = load(y, kAwsEnv);
  EXPECT_TRUE(has_error(r, {5, 7}, "providers[0].aws.regoin",
                        "unknown key 'regoin' (did you mean 'region'?)"));
  EXPECT_TRUE(has_error(r, {5, 7}, "providers[0].aws.region", "missing required key 'region'"));
}

TEST(ProviderTypes, DropUnsupportedParams) {
  const std::string y = R"(providers:
  - { name: a, base_url: "http://h/v1", drop_unsupported_params: false }
  - { name: b, type: gemini, drop_unsupported_params: true }
  - { name: c, base_url: "http://h/v1" }
)";
  auto r = load(y);
  ASSERT_TRUE(loads(r));
  EXPECT_FALSE(r.config->providers[0].drop_unsupported_params);
  EXPECT_TRUE(r.config->providers[1].drop_unsupported_params);
  EXPECT_TRUE(r.config->providers[2].drop_unsupported_params);

  const std::string bad =
      "providers:\n  - { name: a, base_url: \"http://h\", "
      "drop_unsupported_params: sometimes }\n";
  EXPECT_TRUE(only_error(load(bad), at(bad, "sometimes"), "providers[0].drop_unsupported_params",
                         "expected true or false, got 'sometimes'"));
  const std::string local =
      "providers:\n  - { name: l, type: local, drop_unsupported_params: "
      "false }\n";
  EXPECT_TRUE(only_error(load(local), at(local, "drop_unsupported_params"),
                         "providers[0].drop_unsupported_params",
                         "does not apply to providers of type local"));
}

}  // namespace
}  // namespace infergate::config
