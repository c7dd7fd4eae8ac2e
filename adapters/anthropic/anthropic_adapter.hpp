// The adapter for providers that speak Anthropic's Messages API (POST {base_url}/messages):
// Anthropic itself, and proxies or clouds that expose the same wire format. The codec
// (anthropic_codec.hpp) plus the upstream call.
#pragma once

#include <cstddef>
#include <string>

#include "infergate/adapters/adapter.hpp"
#include "infergate/adapters/http_client.hpp"

namespace infergate::adapters {

class AnthropicAdapter final : public Adapter {
 public:
  // Limits on what the upstream sends: a whole non-streaming body, an error body (read only for
  // its message), one SSE event.
  static constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;
  static constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
  static constexpr std::size_t kMaxEventBytes = 4 * 1024 * 1024;

  // Parses the provider's base_url once; a bad URL makes every call fail (retryably).
  explicit AnthropicAdapter(const config::ProviderConfig& provider);

  boost::asio::awaitable<AttemptResult> chat(const api::ChatRequest& request, const Target& target,
                                             CallContext& ctx, api::EventSink& sink) override;

  // POST {base_url}/messages/count_tokens ("Messages > Count tokens in a Message"). An upstream
  // without that route (404, as Anthropic-compatible proxies answer) is unsupported_operation,
  // so the next deployment is tried.
  boost::asio::awaitable<AttemptResult> count_tokens(const api::ChatRequest& request,
                                                     const Target& target, CallContext& ctx,
                                                     api::CountTokensResponse& out) override;

 private:
  const config::ProviderConfig* provider_;
  std::string base_url_;  // what endpoint_ was parsed from
  Endpoint endpoint_;
  std::string target_;        // request target of /messages
  std::string count_target_;  // request target of /messages/count_tokens
  bool url_ok_ = false;
};

}  // namespace infergate::adapters
