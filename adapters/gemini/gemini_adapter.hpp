// The adapter for Google's Gemini API (provider type `gemini`): POST
// {base_url}/models/{model}:generateContent, or :streamGenerateContent?alt=sse when streaming,
// with the key in x-goog-api-key. The codec (gemini_codec.hpp) does the translation.
#pragma once

#include <cstddef>
#include <string>

#include "infergate/adapters/adapter.hpp"
#include "infergate/adapters/http_client.hpp"

namespace infergate::adapters {

class GeminiAdapter final : public Adapter {
 public:
  // Limits on what the upstream sends: a whole non-streaming body, an error body (read only for
  // its message), one SSE event.
  static constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;
  static constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
  static constexpr std::size_t kMaxEventBytes = 4 * 1024 * 1024;

  // Parses the provider's base_url once; a bad URL makes every call fail (retryably).
  explicit GeminiAdapter(const config::ProviderConfig& provider);

  boost::asio::awaitable<AttemptResult> chat(const api::ChatRequest& request, const Target& target,
                                             CallContext& ctx, api::EventSink& sink) override;

  // POST {base_url}/models/{model}:countTokens with a generateContentRequest (API reference
  // "Counting tokens"); totalTokens is the answer.
  boost::asio::awaitable<AttemptResult> count_tokens(const api::ChatRequest& request,
                                                     const Target& target, CallContext& ctx,
                                                     api::CountTokensResponse& out) override;

 private:
  const config::ProviderConfig* provider_;
  std::string base_url_;  // what endpoint_ was parsed from
  Endpoint endpoint_;
  bool url_ok_ = false;
};

}  // namespace infergate::adapters
