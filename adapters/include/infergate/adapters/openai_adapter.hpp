// The adapter for providers that speak OpenAI's chat/completions wire format (OpenAI, Together,
// Groq, Fireworks, DeepInfra, vLLM, llama.cpp server, ...): the codec plus the upstream call.
#pragma once

#include <cstddef>
#include <string>

#include "infergate/adapters/adapter.hpp"
#include "infergate/adapters/http_client.hpp"

namespace infergate::adapters {

class OpenAiAdapter final : public Adapter {
 public:
  // Limits on what the upstream sends: a whole non-streaming body, an error body (read only for
  // its message), one SSE event.
  static constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;
  static constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
  static constexpr std::size_t kMaxEventBytes = 4 * 1024 * 1024;

  // Parses the provider's base_url once; a bad URL makes every call fail (retryably).
  explicit OpenAiAdapter(const config::ProviderConfig& provider);

  // Chat, and legacy text completions (ChatRequest::Kind::text_completion → /completions).
  boost::asio::awaitable<AttemptResult> chat(const api::ChatRequest& request, const Target& target,
                                             CallContext& ctx, api::EventSink& sink) override;
  // POST {base}/embeddings (float asked for; base64 answers accepted).
  boost::asio::awaitable<AttemptResult> embed(const api::EmbeddingsRequest& request,
                                              const Target& target, CallContext& ctx,
                                              api::EmbeddingsResponse& out) override;
  // POST {base}/images/generations; b64_json → bytes, url → url (fetched, bounded, when the
  // client asked for b64_json).
  boost::asio::awaitable<AttemptResult> generate_image(const api::ImageRequest& request,
                                                       const Target& target, CallContext& ctx,
                                                       api::ImageResponse& out) override;

 private:
  // POSTs `body` (JSON) to `suffix` under the provider's base URL and reads the whole 2xx answer
  // into `answer`. False with result.error set (upstream errors mapped as for chat).
  boost::asio::awaitable<bool> call_json(const config::ProviderConfig& provider,
                                         std::string_view suffix, std::string body,
                                         CallContext& ctx, AttemptResult& result,
                                         std::string& answer);
  // Replaces an image's URL (https or data:) by its bytes, at most openai::kMaxImageBytes.
  boost::asio::awaitable<bool> fetch_image(const config::ProviderConfig& provider, CallContext& ctx,
                                           api::GeneratedImage& image, api::Error& err);

  const config::ProviderConfig* provider_;
  std::string base_url_;  // what endpoint_ was parsed from
  Endpoint endpoint_;
  std::string target_;              // request target of chat/completions
  std::string completions_target_;  // request target of (legacy) completions
  bool url_ok_ = false;
};

}  // namespace infergate::adapters
