#include "anthropic_adapter.hpp"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "anthropic_codec.hpp"
#include "infergate/adapters/sse.hpp"

namespace infergate::adapters {

namespace asio = boost::asio;

namespace {

// After message_stop the body's last bytes (the chunked terminator) normally arrive at once;
// wait this long for them so the connection can be pooled, else close it.
constexpr std::chrono::milliseconds kDrainTimeout{50};
constexpr std::size_t kMaxDrainBytes = 64 * 1024;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// Ends a failed attempt: after commit the client must learn about it from an error event; before
// it nothing is delivered, so the gateway may still try another deployment.
asio::awaitable<AttemptResult> fail(api::EventSink& sink, AttemptResult result, api::Error err) {
  if (sink.committed()) {
    api::Event ev;
    ev.type = api::Event::Type::error;
    ev.error = err;
    co_await sink.on_event(std::move(ev));
  }
  result.ok = false;
  result.error = std::move(err);
  co_return result;
}

AttemptResult client_gone(AttemptResult result) {
  result.ok = false;
  result.error = map_transport_error(TransportError::cancelled);
  return result;
}

}  // namespace

AnthropicAdapter::AnthropicAdapter(const config::ProviderConfig& provider)
    : provider_(&provider), base_url_(provider.base_url) {
  url_ok_ = parse_url(base_url_, endpoint_);
  if (url_ok_) {
    target_ = make_target(endpoint_, anthropic::kMessagesPath);
    count_target_ = make_target(endpoint_, anthropic::kCountTokensPath);
  }
}

asio::awaitable<AttemptResult> AnthropicAdapter::count_tokens(const api::ChatRequest& request,
                                                              const Target& target,
                                                              CallContext& ctx,
                                                              api::CountTokensResponse& out) {
  AttemptResult result;
  const config::ProviderConfig& provider = target.provider ? *target.provider : *provider_;
  if (ctx.http == nullptr) {
    result.error = api::Error::make(api::ErrorKind::internal, "no upstream client");
    co_return result;
  }
  const Endpoint* ep = &endpoint_;
  const std::string* path = &count_target_;
  Endpoint other;
  std::string other_target;
  bool ok = url_ok_;
  if (provider.base_url != base_url_) {
    ok = parse_url(provider.base_url, other);
    other_target = make_target(other, anthropic::kCountTokensPath);
    ep = &other;
    path = &other_target;
  }
  if (!ok) {
    result.error = map_transport_error(TransportError::bad_url);
    co_return result;
  }

  HttpRequest req;
  req.target = *path;
  {
    std::vector<std::string> dropped;
    api::Error err;
    if (!anthropic::encode_count_tokens_request(request, target.upstream_model,
                                                provider.drop_unsupported_params, req.body, dropped,
                                                err)) {
      err.retryable = false;
      result.error = std::move(err);
      co_return result;
    }
    for (auto& d : dropped) {
      if (std::find(ctx.dropped_params.begin(), ctx.dropped_params.end(), d) ==
          ctx.dropped_params.end())
        ctx.dropped_params.push_back(std::move(d));
    }
  }
  anthropic::request_headers(
      provider, /*stream=*/false, ctx.request_id,
      [&req](std::string_view k, std::string_view v) { req.add_header(k, v); });
  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);

  UpstreamResponse resp = co_await ctx.http->send(*ep, req, opts);
  if (resp.error() != TransportError::none) {
    result.error = map_transport_error(resp.error());
    co_return result;
  }
  result.upstream_status = resp.status();
  if (resp.status() == 404) {
    std::string ignored;
    co_await resp.read_all(ignored, kMaxErrorBodyBytes);
    co_return unsupported_operation(target, "token counting");
  }
  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after(resp.header("retry-after"));
    std::string body;
    co_await resp.read_all(body, kMaxErrorBodyBytes);
    result.error = anthropic::map_http_error(resp.status(), body, retry_after, provider.api_key);
    co_return result;
  }
  std::string body;
  if (!co_await resp.read_all(body, kMaxErrorBodyBytes)) {  // {"input_tokens":N} is tiny
    result.error = map_transport_error(resp.error());
    co_return result;
  }
  std::int64_t n = 0;
  if (!anthropic::decode_count_tokens(body, n, result.error, provider.api_key)) co_return result;
  out.input_tokens = n;
  result.ok = true;
  co_return result;
}

asio::awaitable<AttemptResult> AnthropicAdapter::chat(const api::ChatRequest& request,
                                                      const Target& target, CallContext& ctx,
                                                      api::EventSink& sink) {
  AttemptResult result;
  // This wire format has no raw-prompt completion: legacy /v1/completions is for other providers.
  if (request.kind == api::ChatRequest::Kind::text_completion)
    co_return unsupported_operation(target, "text completions");
  const config::ProviderConfig& provider = target.provider ? *target.provider : *provider_;
  if (ctx.http == nullptr) {
    co_return co_await fail(sink, std::move(result),
                            api::Error::make(api::ErrorKind::internal, "no upstream client"));
  }

  // The cached endpoint, unless this call names a provider with another base URL.
  const Endpoint* ep = &endpoint_;
  const std::string* path = &target_;
  Endpoint other;
  std::string other_target;
  bool ok = url_ok_;
  if (provider.base_url != base_url_) {
    ok = parse_url(provider.base_url, other);
    other_target = make_target(other, anthropic::kMessagesPath);
    ep = &other;
    path = &other_target;
  }
  if (!ok) {
    co_return co_await fail(sink, std::move(result), map_transport_error(TransportError::bad_url));
  }

  HttpRequest req;
  req.target = *path;
  {
    std::vector<std::string> dropped;
    api::Error err;
    if (!anthropic::encode_request(request, target.upstream_model, provider.drop_unsupported_params,
                                   req.body, dropped, err)) {
      // The request itself cannot be expressed: no other deployment of this format would do
      // better, so the error is not retryable.
      err.retryable = false;
      co_return co_await fail(sink, std::move(result), std::move(err));
    }
    for (auto& d : dropped) {
      if (std::find(ctx.dropped_params.begin(), ctx.dropped_params.end(), d) ==
          ctx.dropped_params.end())
        ctx.dropped_params.push_back(std::move(d));
    }
  }
  anthropic::request_headers(
      provider, request.stream, ctx.request_id,
      [&req](std::string_view k, std::string_view v) { req.add_header(k, v); });
  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);

  UpstreamResponse resp = co_await ctx.http->send(*ep, req, opts);
  if (resp.error() != TransportError::none)
    co_return co_await fail(sink, std::move(result), map_transport_error(resp.error()));
  result.upstream_status = resp.status();

  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after(resp.header("retry-after"));  // headers go with the connection
    std::string body;
    co_await resp.read_all(body, kMaxErrorBodyBytes);  // a cut-off body still maps by status
    co_return co_await fail(
        sink, std::move(result),
        anthropic::map_http_error(resp.status(), body, retry_after, provider.api_key));
  }

  std::vector<api::Event> events;
  const bool sse =
      request.stream && starts_with_ci(resp.header("content-type"), "text/event-stream");
  if (!sse) {
    // A whole Message (also when a server ignored `stream`: the events are the same).
    std::string body;
    if (!co_await resp.read_all(body, kMaxResponseBytes))
      co_return co_await fail(sink, std::move(result), map_transport_error(resp.error()));
    api::Error err;
    if (!anthropic::decode_message(body, events, err, provider.api_key))
      co_return co_await fail(sink, std::move(result), std::move(err));
    for (auto& ev : events) {
      if (ev.type == api::Event::Type::usage) result.usage = ev.usage;
      if (!co_await sink.on_event(std::move(ev))) co_return client_gone(std::move(result));
    }
    result.ok = true;
    co_return result;
  }

  SseParser parser(kMaxEventBytes);
  anthropic::StreamDecoder decoder(provider.api_key);
  SseEvent sse_event;
  std::string_view piece;
  bool done = false;
  while (!done && co_await resp.read_some(piece)) {
    parser.feed(piece);
    while (!done && parser.next(sse_event)) {
      events.clear();
      const auto status = decoder.decode(sse_event.type, sse_event.data, events);
      for (auto& ev : events) {
        if (ev.type == api::Event::Type::error) {
          resp.close();
          co_return co_await fail(sink, std::move(result), std::move(ev.error));
        }
        if (ev.type == api::Event::Type::usage) result.usage = ev.usage;
        if (!co_await sink.on_event(std::move(ev))) {
          resp.close();  // the client is gone: stop the upstream generating (and billing)
          co_return client_gone(std::move(result));
        }
      }
      done = status == anthropic::StreamDecoder::Status::done;
    }
    if (parser.failed()) {
      resp.close();
      auto err = map_transport_error(TransportError::too_large);
      err.message = "upstream stream event too large";
      co_return co_await fail(sink, std::move(result), std::move(err));
    }
  }

  if (done) {
    // Let the chunked terminator arrive so the connection can be reused; never wait long.
    resp.set_idle_timeout(kDrainTimeout);
    std::size_t drained = 0;
    while (drained < kMaxDrainBytes && co_await resp.read_some(piece)) drained += piece.size();
    if (!resp.done()) resp.close();
    result.ok = true;
    co_return result;
  }
  if (decoder.saw_finish()) {
    // message_delta reported why the message stopped; only message_stop is missing. The answer
    // is complete (its usage too: message_delta's counts are cumulative).
    events.clear();
    decoder.flush(events);
    for (auto& ev : events) {
      result.usage = ev.usage;
      if (!co_await sink.on_event(std::move(ev))) co_return client_gone(std::move(result));
    }
    result.ok = true;
    co_return result;
  }
  api::Error err =
      resp.error() != TransportError::none
          ? map_transport_error(resp.error())
          : api::Error::make(api::ErrorKind::upstream,
                             "upstream stream ended before it was complete", {}, "upstream_error");
  if (resp.error() == TransportError::none) err.retryable = true;
  co_return co_await fail(sink, std::move(result), std::move(err));
}

}  // namespace infergate::adapters
