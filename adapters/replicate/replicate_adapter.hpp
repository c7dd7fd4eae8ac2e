// The adapter for Replicate's HTTP API (provider type `replicate`): predictions.
//
//   POST {base_url}/models/{owner}/{name}/predictions        (upstream model "owner/name")
//   POST {base_url}/predictions with "version"              (upstream model "owner/name:version")
//
// with `Authorization: Bearer <api_key>` and `Prefer: wait` (Replicate holds the request open up
// to 60 s). A prediction that is not finished by then is polled at urls.get (200 ms, growing by
// half each time to 2 s, at most kMaxPolls times, never past the request deadline). Streaming chat
// creates the prediction with "stream": true and reads the SSE at urls.stream. Image outputs
// (URLs or data URIs) are fetched, bounded, into GeneratedImage bytes. When the gateway gives up
// on a prediction it started and that is still running (client gone, deadline passed, attempt
// abandoned for the next deployment), it POSTs the prediction's urls.cancel ("Cancel a
// prediction"), fire-and-forget with a 2 s timeout, so the provider stops running and billing
// it. The codec (replicate_codec.hpp) does the translation.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "infergate/adapters/adapter.hpp"
#include "infergate/adapters/http_client.hpp"
#include "replicate_codec.hpp"

namespace infergate::adapters {

class ReplicateAdapter final : public Adapter {
 public:
  // A prediction object (data-URI outputs make it large), an error body, one SSE event.
  static constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;
  static constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
  static constexpr std::size_t kMaxEventBytes = 4 * 1024 * 1024;
  // Polling a prediction that Prefer: wait did not see finish.
  static constexpr int kMaxPolls = 1000;
  static constexpr std::chrono::milliseconds kFirstPollInterval{200};
  static constexpr std::chrono::milliseconds kMaxPollInterval{2000};
  // Replicate's longest synchronous wait.
  static constexpr int kMaxWaitS = 60;

  explicit ReplicateAdapter(const config::ProviderConfig& provider);

  boost::asio::awaitable<AttemptResult> chat(const api::ChatRequest& request, const Target& target,
                                             CallContext& ctx, api::EventSink& sink) override;
  boost::asio::awaitable<AttemptResult> generate_image(const api::ImageRequest& request,
                                                       const Target& target, CallContext& ctx,
                                                       api::ImageResponse& out) override;

 private:
  struct Call;  // one attempt's provider, endpoint, options
  bool prepare(const Target& target, CallContext& ctx, Call& call, api::Error& err) const;
  // Creates the prediction; with `until_terminal`, polls it until it finished.
  boost::asio::awaitable<bool> run_prediction(const Call& call, const replicate::ModelRef& model,
                                              std::string body, bool wait, bool until_terminal,
                                              CallContext& ctx, replicate::Prediction& out,
                                              AttemptResult& result, api::Error& err) const;
  boost::asio::awaitable<bool> poll(const Call& call, CallContext& ctx, replicate::Prediction& p,
                                    AttemptResult& result, api::Error& err) const;

  const config::ProviderConfig* provider_;
  std::string base_url_;  // what endpoint_ was parsed from
  Endpoint endpoint_;
  bool url_ok_ = false;
};

}  // namespace infergate::adapters
