// The seam between the gateway and each provider wire format.
//
// An adapter takes a canonical ChatRequest and one deployment, performs the upstream call, and
// delivers canonical events to a sink. It never writes to the client and never touches quotas.
// Providers that speak the same wire format share an adapter and differ only in YAML.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "infergate/api/chat.hpp"
#include "infergate/api/ops.hpp"
#include "infergate/api/sink.hpp"
#include "infergate/config/config.hpp"

namespace infergate::adapters {

class HttpClient;

// One resolved deployment: which provider, which upstream model id.
struct Target {
  const config::ProviderConfig* provider = nullptr;
  std::string upstream_model;
};

// What the gateway hands every call: per-I/O-thread resources and request identity.
struct CallContext {
  HttpClient* http = nullptr;                      // this I/O thread's upstream client and pools
  std::string request_id;                          // also sent upstream as x-request-id
  std::chrono::steady_clock::time_point deadline;  // whole-request deadline
  // Request fields this attempt's wire format cannot express and dropped (provider setting
  // drop_unsupported_params: true); the gateway reports them in x-infergate-dropped-params.
  // With drop_unsupported_params: false the adapter instead fails the attempt with a
  // non-retryable 400 naming them.
  std::vector<std::string> dropped_params;
};

// How one attempt ended.
struct AttemptResult {
  bool ok = false;
  api::Error error;  // when !ok; error.retryable says whether another deployment may help
  api::Usage usage;  // tokens as reported (or counted) for this attempt
  int upstream_status = 0;
};

class Adapter {
 public:
  virtual ~Adapter() = default;

  // Runs one attempt against `target`, delivering events to `sink` in order. Cancellation of the
  // awaiting coroutine (client gone) must abort the upstream call promptly and discard its
  // connection. Before sink.committed(), a failure must deliver no error event to the sink (the
  // gateway may try the next deployment); after it, the adapter delivers an error event.
  virtual boost::asio::awaitable<AttemptResult> chat(const api::ChatRequest& request,
                                                     const Target& target, CallContext& ctx,
                                                     api::EventSink& sink) = 0;

  // Non-chat operations. The defaults answer that this provider's wire format does not offer
  // the operation: a retryable 400 (code `unsupported_operation`), so the next deployment of the
  // model is tried and, if none can, the client gets that 400.
  virtual boost::asio::awaitable<AttemptResult> embed(const api::EmbeddingsRequest& request,
                                                      const Target& target, CallContext& ctx,
                                                      api::EmbeddingsResponse& out);
  virtual boost::asio::awaitable<AttemptResult> generate_image(const api::ImageRequest& request,
                                                               const Target& target,
                                                               CallContext& ctx,
                                                               api::ImageResponse& out);
  // Counts the input tokens of `request` (a chat request without max_tokens) for the
  // deployment's model, without generating: the provider's own count endpoint, or the local
  // engine's tokenizer. Leaves AttemptResult::usage empty (a count is not usage).
  virtual boost::asio::awaitable<AttemptResult> count_tokens(const api::ChatRequest& request,
                                                             const Target& target, CallContext& ctx,
                                                             api::CountTokensResponse& out);
};

// The result the default operations return (also for adapters that support an operation only
// for some models).
AttemptResult unsupported_operation(const Target& target, std::string_view operation);

// Explicit registry (no static initialisers): the adapter for a provider type, or nullptr.
std::unique_ptr<Adapter> make_adapter(const config::ProviderConfig& provider);

}  // namespace infergate::adapters
