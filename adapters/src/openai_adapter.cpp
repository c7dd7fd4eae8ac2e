#include "infergate/adapters/openai_adapter.hpp"

#include <chrono>
#include <utility>
#include <vector>

#include "infergate/adapters/openai_codec.hpp"
#include "infergate/adapters/sse.hpp"

namespace infergate::adapters {

namespace asio = boost::asio;

namespace {

// After `[DONE]` the body's last bytes (the chunked terminator) normally arrive at once; wait
// this long for them so the connection can be pooled, else close it.
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

// Retry-After, or failing that the retry-after-ms some OpenAI-compatible servers send.
std::string retry_after_of(const UpstreamResponse& resp) {
  if (auto ra = resp.header("retry-after"); !ra.empty()) return std::string(ra);
  auto ms = resp.header("retry-after-ms");
  if (ms.empty() || ms.size() > 9 || ms.find_first_not_of("0123456789") != std::string_view::npos)
    return {};
  return std::to_string((std::stoll(std::string(ms)) + 999) / 1000);
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

// Inputs of a validated embeddings body: a string or one token array is one input.
std::size_t embedding_inputs(const nlohmann::json& body) {
  auto it = body.find("input");
  if (it == body.end()) return 0;
  if (it->is_string()) return 1;
  if (!it->is_array() || it->empty()) return 0;
  return it->front().is_number_integer() ? 1 : it->size();
}

AttemptResult client_gone(AttemptResult result) {
  result.ok = false;
  result.error = map_transport_error(TransportError::cancelled);
  return result;
}

}  // namespace

OpenAiAdapter::OpenAiAdapter(const config::ProviderConfig& provider)
    : provider_(&provider), base_url_(provider.base_url) {
  url_ok_ = parse_url(base_url_, endpoint_);
  if (url_ok_) {
    target_ = make_target(endpoint_, openai::kChatPath);
    completions_target_ = make_target(endpoint_, openai::kCompletionsPath);
  }
}

asio::awaitable<AttemptResult> OpenAiAdapter::chat(const api::ChatRequest& request,
                                                   const Target& target, CallContext& ctx,
                                                   api::EventSink& sink) {
  AttemptResult result;
  const config::ProviderConfig& provider = target.provider ? *target.provider : *provider_;
  if (ctx.http == nullptr) {
    co_return co_await fail(sink, std::move(result),
                            api::Error::make(api::ErrorKind::internal, "no upstream client"));
  }

  // The cached endpoint, unless this call names a provider with another base URL.
  // Legacy text completions (`prompt`) go to /completions, chat to /chat/completions.
  const bool text = request.kind == api::ChatRequest::Kind::text_completion;
  const Endpoint* ep = &endpoint_;
  const std::string* path = text ? &completions_target_ : &target_;
  Endpoint other;
  std::string other_target;
  bool ok = url_ok_;
  if (provider.base_url != base_url_) {
    ok = parse_url(provider.base_url, other);
    other_target = make_target(other, text ? openai::kCompletionsPath : openai::kChatPath);
    ep = &other;
    path = &other_target;
  }
  if (!ok) {
    co_return co_await fail(sink, std::move(result), map_transport_error(TransportError::bad_url));
  }

  HttpRequest req;
  req.target = *path;
  openai::request_headers(provider, request.stream, ctx.request_id,
                          [&req](std::string_view k, std::string_view v) { req.add_header(k, v); });
  openai::encode_request_body(request, target.upstream_model, req.body);
  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);

  UpstreamResponse resp = co_await ctx.http->send(*ep, req, opts);
  if (resp.error() != TransportError::none)
    co_return co_await fail(sink, std::move(result), map_transport_error(resp.error()));
  result.upstream_status = resp.status();

  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after = retry_after_of(resp);  // headers go with the connection
    std::string body;
    co_await resp.read_all(body, kMaxErrorBodyBytes);  // a cut-off body still maps by status
    co_return co_await fail(
        sink, std::move(result),
        openai::map_http_error(resp.status(), body, retry_after, provider.api_key));
  }

  std::vector<api::Event> events;
  const bool sse =
      request.stream && starts_with_ci(resp.header("content-type"), "text/event-stream");
  if (!sse) {
    // A whole chat.completion (also when a server ignored `stream`: the events are the same).
    std::string body;
    if (!co_await resp.read_all(body, kMaxResponseBytes))
      co_return co_await fail(sink, std::move(result), map_transport_error(resp.error()));
    api::Error err;
    if (!openai::decode_completion(body, events, err, provider.api_key))
      co_return co_await fail(sink, std::move(result), std::move(err));
    for (auto& ev : events) {
      if (ev.type == api::Event::Type::usage) result.usage = ev.usage;
      if (!co_await sink.on_event(std::move(ev))) co_return client_gone(std::move(result));
    }
    result.ok = true;
    co_return result;
  }

  SseParser parser(kMaxEventBytes);
  openai::ChunkDecoder decoder(provider.api_key);
  SseEvent sse_event;
  std::string_view piece;
  bool done = false;
  while (!done && co_await resp.read_some(piece)) {
    parser.feed(piece);
    while (!done && parser.next(sse_event)) {
      events.clear();
      const auto status = decoder.decode(sse_event.data, events, sse_event.type);
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
      done = status == openai::ChunkDecoder::Status::done;
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
    // Every choice reported why it stopped; only the closing marker (and maybe usage) is
    // missing. The answer is complete.
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

// --- non-chat operations -----------------------------------------------------------------

asio::awaitable<bool> OpenAiAdapter::call_json(const config::ProviderConfig& provider,
                                               std::string_view suffix, std::string body,
                                               CallContext& ctx, AttemptResult& result,
                                               std::string& answer) {
  result.ok = false;
  if (ctx.http == nullptr) {
    result.error = api::Error::make(api::ErrorKind::internal, "no upstream client");
    co_return false;
  }
  Endpoint ep;
  if (!parse_url(provider.base_url, ep)) {
    result.error = map_transport_error(TransportError::bad_url);
    co_return false;
  }
  HttpRequest req;
  req.target = make_target(ep, suffix);
  openai::request_headers(provider, /*stream=*/false, ctx.request_id,
                          [&req](std::string_view k, std::string_view v) { req.add_header(k, v); });
  req.body = std::move(body);
  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);
  UpstreamResponse resp = co_await ctx.http->send(ep, req, opts);
  if (resp.error() != TransportError::none) {
    result.error = map_transport_error(resp.error());
    co_return false;
  }
  result.upstream_status = resp.status();
  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after = retry_after_of(resp);
    std::string err_body;
    co_await resp.read_all(err_body, kMaxErrorBodyBytes);
    result.error = openai::map_http_error(resp.status(), err_body, retry_after, provider.api_key);
    co_return false;
  }
  if (!co_await resp.read_all(answer, kMaxResponseBytes)) {
    result.error = map_transport_error(resp.error());
    co_return false;
  }
  co_return true;
}

asio::awaitable<AttemptResult> OpenAiAdapter::embed(const api::EmbeddingsRequest& request,
                                                    const Target& target, CallContext& ctx,
                                                    api::EmbeddingsResponse& out) {
  AttemptResult result;
  const config::ProviderConfig& provider = target.provider ? *target.provider : *provider_;
  std::string body;
  openai::encode_embeddings_body(request, target.upstream_model, body);
  std::string answer;
  if (!co_await call_json(provider, openai::kEmbeddingsPath, std::move(body), ctx, result, answer))
    co_return result;
  out = api::EmbeddingsResponse{};
  const std::size_t expected =
      request.inputs.empty() ? embedding_inputs(request.body) : request.inputs.size();
  if (!openai::decode_embeddings(answer, expected, out, result.error, provider.api_key))
    co_return result;
  result.usage = out.usage;
  result.ok = true;
  co_return result;
}

asio::awaitable<bool> OpenAiAdapter::fetch_image(const config::ProviderConfig& provider,
                                                 CallContext& ctx, api::GeneratedImage& image,
                                                 api::Error& err) {
  std::string_view url = image.url;
  if (url.starts_with("data:")) {
    // data:[<type>][;base64],<data>
    const auto comma = url.find(',');
    const std::string_view meta = url.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
    if (comma == std::string_view::npos || !meta.ends_with(";base64") ||
        !openai::decode_base64(url.substr(comma + 1), image.bytes, openai::kMaxImageBytes)) {
      err = api::Error::make(api::ErrorKind::upstream, "upstream returned an unusable data URL", {},
                             "upstream_malformed");
      co_return false;
    }
    image.content_type = std::string(openai::sniff_image_type(image.bytes));
    co_return true;
  }
  Endpoint ep;
  if (!parse_url(url, ep)) {
    err = api::Error::make(api::ErrorKind::upstream, "upstream returned an unusable image URL", {},
                           "upstream_malformed");
    co_return false;
  }
  HttpRequest req;
  req.method = "GET";
  req.target = ep.path.empty() ? "/" : ep.path;
  if (!ep.query.empty()) req.target += "?" + ep.query;
  req.add_header("Accept", "image/*");
  if (!ctx.request_id.empty()) req.add_header("x-request-id", ctx.request_id);
  // No credentials: the URL is the provider's signed download link, possibly on another host.
  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);
  UpstreamResponse resp = co_await ctx.http->send(ep, req, opts);
  if (resp.error() != TransportError::none) {
    err = map_transport_error(resp.error());
    co_return false;
  }
  if (resp.status() < 200 || resp.status() >= 300) {
    err = api::Error::make(
        api::ErrorKind::upstream,
        "fetching the generated image failed with HTTP " + std::to_string(resp.status()), {},
        "upstream_error");
    err.retryable = true;
    co_return false;
  }
  const std::string declared(resp.header("content-type").substr(0, 64));
  if (!co_await resp.read_all(image.bytes, openai::kMaxImageBytes)) {
    err = map_transport_error(resp.error());
    co_return false;
  }
  image.content_type = std::string(openai::sniff_image_type(
      image.bytes, declared.starts_with("image/") ? std::string_view(declared) : "image/png"));
  co_return true;
}

asio::awaitable<AttemptResult> OpenAiAdapter::generate_image(const api::ImageRequest& request,
                                                             const Target& target, CallContext& ctx,
                                                             api::ImageResponse& out) {
  AttemptResult result;
  const config::ProviderConfig& provider = target.provider ? *target.provider : *provider_;
  std::string body;
  openai::encode_image_body(request, target.upstream_model, body);
  std::string answer;
  if (!co_await call_json(provider, openai::kImagesPath, std::move(body), ctx, result, answer))
    co_return result;
  out = api::ImageResponse{};
  const auto wanted = static_cast<std::size_t>(request.n < 1 ? 1 : request.n);
  if (!openai::decode_images(answer, wanted, out, result.error, provider.api_key)) co_return result;
  answer.clear();
  answer.shrink_to_fit();
  // A client that asked for b64_json gets bytes: fetch what the provider only linked.
  if (!request.want_url) {
    for (auto& image : out.images) {
      if (!image.bytes.empty() || image.url.empty()) continue;
      if (!co_await fetch_image(provider, ctx, image, result.error)) co_return result;
    }
  }
  result.usage = out.usage;
  result.ok = true;
  co_return result;
}

}  // namespace infergate::adapters
