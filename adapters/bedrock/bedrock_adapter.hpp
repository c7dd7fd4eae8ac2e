// The adapter for Amazon Bedrock's Converse API: POST {base_url}/model/{modelId}/converse (JSON)
// and .../converse-stream (application/vnd.amazon.eventstream), and CountTokens
// (.../count-tokens), signed with AWS Signature Version 4 from the provider's `aws:` credentials.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "infergate/adapters/adapter.hpp"
#include "infergate/adapters/http_client.hpp"

namespace infergate::adapters {

class BedrockAdapter final : public Adapter {
 public:
  static constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;
  static constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
  static constexpr std::size_t kMaxMessageBytes = 16 * 1024 * 1024;  // one event stream message

  // The signing clock; injectable for tests.
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  explicit BedrockAdapter(const config::ProviderConfig& provider, Clock clock = {});

  boost::asio::awaitable<AttemptResult> chat(const api::ChatRequest& request, const Target& target,
                                             CallContext& ctx, api::EventSink& sink) override;

  // CountTokens: POST {base_url}/model/{modelId}/count-tokens with
  // {"input":{"converse":{messages, system, toolConfig}}}, SigV4-signed; inputTokens back.
  boost::asio::awaitable<AttemptResult> count_tokens(const api::ChatRequest& request,
                                                     const Target& target, CallContext& ctx,
                                                     api::CountTokensResponse& out) override;

 private:
  const config::ProviderConfig* provider_;
  Clock clock_;
  std::string base_url_;  // what endpoint_ was parsed from
  Endpoint endpoint_;
  bool url_ok_ = false;
};

}  // namespace infergate::adapters
