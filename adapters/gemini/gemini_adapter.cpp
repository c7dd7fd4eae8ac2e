#include "gemini_adapter.hpp"

#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gemini_codec.hpp"
#include "infergate/adapters/sse.hpp"

namespace infergate::adapters {

namespace asio = boost::asio;

namespace {

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

// A whole body that is not an SSE stream: one GenerateContentResponse, or (streamGenerateContent
// without alt=sse) a JSON array of them.
bool decode_whole(std::string_view body, gemini::ResponseDecoder& decoder,
                  std::vector<api::Event>& events, api::Error& err) {
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && body[first] == '[') {
    const auto arr = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (arr.is_array()) {
      for (const auto& item : arr) {
        if (decoder.decode(item.dump(), events) == gemini::ResponseDecoder::Status::error) {
          err = std::move(events.back().error);
          return false;
        }
      }
      decoder.flush(events);
      return true;
    }
  }
  if (decoder.decode(body, events) == gemini::ResponseDecoder::Status::error) {
    err = std::move(events.back().error);
    return false;
  }
  decoder.flush(events);
  return true;
}

}  // namespace

GeminiAdapter::GeminiAdapter(const config::ProviderConfig& provider)
    : provider_(&provider), base_url_(provider.base_url) {
  url_ok_ = parse_url(base_url_, endpoint_);
}

asio::awaitable<AttemptResult> GeminiAdapter::count_tokens(const api::ChatRequest& request,
                                                           const Target& target, CallContext& ctx,
                                                           api::CountTokensResponse& out) {
  AttemptResult result;
  const config::ProviderConfig& provider = target.provider ? *target.provider : *provider_;
  if (ctx.http == nullptr) {
    result.error = api::Error::make(api::ErrorKind::internal, "no upstream client");
    co_return result;
  }
  const Endpoint* ep = &endpoint_;
  Endpoint other;
  bool ok = url_ok_;
  if (provider.base_url != base_url_) {
    ok = parse_url(provider.base_url, other);
    ep = &other;
  }
  if (!ok) {
    result.error = map_transport_error(TransportError::bad_url);
    co_return result;
  }

  HttpRequest req;
  {
    std::vector<std::string> dropped;
    api::Error err;
    if (!gemini::encode_count_tokens_request(request, target.upstream_model,
                                             provider.drop_unsupported_params, req.body, dropped,
                                             err)) {
      result.error = std::move(err);
      co_return result;
    }
    for (auto& d : dropped) ctx.dropped_params.push_back(std::move(d));
  }
  req.target = make_target(*ep, gemini::count_tokens_path(target.upstream_model));
  gemini::request_headers(provider, /*stream=*/false, ctx.request_id,
                          [&req](std::string_view k, std::string_view v) { req.add_header(k, v); });
  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);

  UpstreamResponse resp = co_await ctx.http->send(*ep, req, opts);
  if (resp.error() != TransportError::none) {
    result.error = map_transport_error(resp.error());
    co_return result;
  }
  result.upstream_status = resp.status();
  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after(resp.header("retry-after"));
    std::string body;
    co_await resp.read_all(body, kMaxErrorBodyBytes);
    result.error = gemini::map_http_error(resp.status(), body, retry_after, provider.api_key);
    co_return result;
  }
  std::string body;
  if (!co_await resp.read_all(body, kMaxErrorBodyBytes)) {  // a CountTokensResponse is small
    result.error = map_transport_error(resp.error());
    co_return result;
  }
  std::int64_t n = 0;
  if (!gemini::decode_count_tokens(body, n, result.error, provider.api_key)) co_return result;
  out.input_tokens = n;
  result.ok = true;
  co_return result;
}

asio::awaitable<AttemptResult> GeminiAdapter::chat(const api::ChatRequest& request,
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
  Endpoint other;
  bool ok = url_ok_;
  if (provider.base_url != base_url_) {
    ok = parse_url(provider.base_url, other);
    ep = &other;
  }
  if (!ok) {
    co_return co_await fail(sink, std::move(result), map_transport_error(TransportError::bad_url));
  }

  HttpRequest req;
  {
    std::vector<std::string> dropped;
    api::Error err;
    if (!gemini::encode_request(request, provider.drop_unsupported_params, req.body, dropped,
                                err)) {
      co_return co_await fail(sink, std::move(result), std::move(err));
    }
    for (auto& d : dropped) ctx.dropped_params.push_back(std::move(d));
  }
  req.target = make_target(*ep, gemini::method_path(target.upstream_model, request.stream));
  if (request.stream) req.target += ep->query.empty() ? "?alt=sse" : "&alt=sse";
  gemini::request_headers(provider, request.stream, ctx.request_id,
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
        gemini::map_http_error(resp.status(), body, retry_after, provider.api_key));
  }

  std::vector<api::Event> events;
  gemini::ResponseDecoder decoder(provider.api_key);
  const bool sse =
      request.stream && starts_with_ci(resp.header("content-type"), "text/event-stream");
  if (!sse) {
    std::string body;
    if (!co_await resp.read_all(body, kMaxResponseBytes))
      co_return co_await fail(sink, std::move(result), map_transport_error(resp.error()));
    api::Error err;
    if (!decode_whole(body, decoder, events, err))
      co_return co_await fail(sink, std::move(result), std::move(err));
    for (auto& ev : events) {
      if (ev.type == api::Event::Type::usage) result.usage = ev.usage;
      if (!co_await sink.on_event(std::move(ev))) co_return client_gone(std::move(result));
    }
    result.ok = true;
    co_return result;
  }

  // Each `data:` is a whole GenerateContentResponse; the stream has no end marker: it is over
  // when the body ends, complete when every candidate reported a finishReason.
  SseParser parser(kMaxEventBytes);
  SseEvent sse_event;
  std::string_view piece;
  while (co_await resp.read_some(piece)) {
    parser.feed(piece);
    while (parser.next(sse_event)) {
      if (sse_event.data.empty()) continue;
      events.clear();
      decoder.decode(sse_event.data, events);
      for (auto& ev : events) {
        if (ev.type == api::Event::Type::error) {
          resp.close();
          co_return co_await fail(sink, std::move(result), std::move(ev.error));
        }
        if (!co_await sink.on_event(std::move(ev))) {
          resp.close();  // the client is gone: stop the upstream generating (and billing)
          co_return client_gone(std::move(result));
        }
      }
    }
    if (parser.failed()) {
      resp.close();
      auto err = map_transport_error(TransportError::too_large);
      err.message = "upstream stream event too large";
      co_return co_await fail(sink, std::move(result), std::move(err));
    }
  }
  if (decoder.complete()) {
    // Every candidate finished: the answer is whole even if the connection then broke.
    if (!resp.done()) resp.close();
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
