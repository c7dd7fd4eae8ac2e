// The adapter for fal's Model APIs (provider type `fal`): image generation only.
//
// Synchronous (base_url https://fal.run, the default): POST {base_url}/{model_id} with
// `Authorization: Key <api_key>`; the answer is the model's output.
// Queue (base_url https://queue.fal.run, or any base URL whose host starts with "queue." or whose
// path ends in /queue): POST {base_url}/{model_id} -> {request_id, status_url, response_url};
// GET status_url (200 ms, growing by half to 2 s, at most kMaxPolls times, within the deadline)
// until COMPLETED; GET response_url -> the output.
//
// When the client wants bytes the input asks for sync_mode (data URIs); https image URLs are
// fetched, bounded (media.hpp). Chat is not fal's: the default Adapter::chat does not exist, so
// chat answers unsupported_operation.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "infergate/adapters/adapter.hpp"
#include "infergate/adapters/http_client.hpp"

namespace infergate::adapters {

class FalAdapter final : public Adapter {
 public:
  static constexpr std::size_t kMaxResponseBytes = 128 * 1024 * 1024;  // sync_mode data URIs
  static constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
  static constexpr int kMaxPolls = 1000;
  static constexpr std::chrono::milliseconds kFirstPollInterval{200};
  static constexpr std::chrono::milliseconds kMaxPollInterval{2000};

  explicit FalAdapter(const config::ProviderConfig& provider);

  boost::asio::awaitable<AttemptResult> chat(const api::ChatRequest& request, const Target& target,
                                             CallContext& ctx, api::EventSink& sink) override;
  boost::asio::awaitable<AttemptResult> generate_image(const api::ImageRequest& request,
                                                       const Target& target, CallContext& ctx,
                                                       api::ImageResponse& out) override;

 private:
  const config::ProviderConfig* provider_;
  std::string base_url_;  // what endpoint_ was parsed from
  Endpoint endpoint_;
  bool url_ok_ = false;
};

}  // namespace infergate::adapters
