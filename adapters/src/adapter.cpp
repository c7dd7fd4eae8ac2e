#include "infergate/adapters/adapter.hpp"

namespace infergate::adapters {

AttemptResult unsupported_operation(const Target& target, std::string_view operation) {
  AttemptResult r;
  const std::string provider = target.provider != nullptr ? target.provider->name : "?";
  r.error = api::Error::make(api::ErrorKind::invalid_request,
                             "Provider '" + provider + "' (type " +
                                 (target.provider != nullptr ? target.provider->type : "?") +
                                 ") does not support " + std::string(operation) + ".",
                             "model", "unsupported_operation");
  r.error.retryable = true;
  return r;
}

boost::asio::awaitable<AttemptResult> Adapter::embed(const api::EmbeddingsRequest&,
                                                     const Target& target, CallContext&,
                                                     api::EmbeddingsResponse&) {
  co_return unsupported_operation(target, "embeddings");
}

boost::asio::awaitable<AttemptResult> Adapter::generate_image(const api::ImageRequest&,
                                                              const Target& target, CallContext&,
                                                              api::ImageResponse&) {
  co_return unsupported_operation(target, "image generation");
}

boost::asio::awaitable<AttemptResult> Adapter::count_tokens(const api::ChatRequest&,
                                                            const Target& target, CallContext&,
                                                            api::CountTokensResponse&) {
  co_return unsupported_operation(target, "token counting");
}

}  // namespace infergate::adapters
