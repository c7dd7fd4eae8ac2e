#include "bedrock_adapter.hpp"

#include <utility>
#include <vector>

#include "bedrock_codec.hpp"
#include "eventstream.hpp"
#include "sigv4.hpp"

namespace infergate::adapters {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::milliseconds kDrainTimeout{50};
constexpr std::size_t kMaxDrainBytes = 64 * 1024;
constexpr std::string_view kEventStream = "application/vnd.amazon.eventstream";

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_ci(a, b);
}

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

// Both AWS secrets are scrubbed from anything an upstream said.
api::Error scrubbed(api::Error err, const config::AwsOptions& aws) {
  err.message = scrub_message(scrub_message(err.message, aws.session_token), aws.secret_access_key);
  return err;
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Signs `req` (its body already set) for POST `path` with SigV4 and adds the headers: the
// signed ones, Accept, the provider's extra headers (unsigned; none may replace a signed or
// transport one) and x-request-id.
void sign_request(HttpRequest& req, const Endpoint& ep, const std::string& path,
                  const config::ProviderConfig& provider, std::chrono::system_clock::time_point now,
                  std::string_view accept, std::string_view request_id) {
  const config::AwsOptions& aws = *provider.aws;
  sigv4::Request to_sign;
  to_sign.method = "POST";
  to_sign.path = path;
  to_sign.query = ep.query;
  to_sign.headers = {{"host", ep.host_header}, {"content-type", "application/json"}};
  to_sign.payload = req.body;
  const sigv4::Credentials creds{
      aws.access_key_id, aws.secret_access_key, aws.session_token, aws.region,
      aws.service.empty() ? std::string_view("bedrock") : std::string_view(aws.service)};
  const sigv4::Signed sig = sigv4::sign(to_sign, creds, now);

  req.add_header("Content-Type", "application/json");
  req.add_header("Accept", accept);
  req.add_header("X-Amz-Date", sig.amz_date);
  if (!aws.session_token.empty()) req.add_header("X-Amz-Security-Token", aws.session_token);
  req.add_header("Authorization", sig.authorization);
  for (const auto& [k, v] : provider.headers) {
    if (iequals(k, "host") || iequals(k, "content-length") || iequals(k, "transfer-encoding") ||
        iequals(k, "connection") || iequals(k, "authorization") || iequals(k, "content-type") ||
        iequals(k, "accept") || starts_with_ci(k, "x-amz-"))
      continue;
    req.add_header(k, v);
  }
  if (!request_id.empty()) req.add_header("x-request-id", request_id);
}

bool has_credentials(const config::ProviderConfig& provider) {
  return provider.aws && !provider.aws->access_key_id.empty() &&
         !provider.aws->secret_access_key.empty() && !provider.aws->region.empty();
}

api::Error no_credentials() {
  // A misconfigured deployment: another one may work.
  api::Error err =
      api::Error::make(api::ErrorKind::upstream, "bedrock provider has no AWS credentials", {},
                       "upstream_misconfigured");
  err.retryable = true;
  return err;
}

}  // namespace

BedrockAdapter::BedrockAdapter(const config::ProviderConfig& provider, Clock clock)
    : provider_(&provider), clock_(std::move(clock)), base_url_(provider.base_url) {
  if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
  url_ok_ = parse_url(base_url_, endpoint_);
}

asio::awaitable<AttemptResult> BedrockAdapter::chat(const api::ChatRequest& request,
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
  if (!has_credentials(provider))
    co_return co_await fail(sink, std::move(result), no_credentials());
  const config::AwsOptions& aws = *provider.aws;

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

  // The body, and what Converse cannot express.
  HttpRequest req;
  const auto encoded = bedrock::encode_request(request, req.body);
  if (!encoded.ok) co_return co_await fail(sink, std::move(result), encoded.error);
  if (!encoded.dropped.empty()) {
    if (!provider.drop_unsupported_params) {
      std::string names;
      for (const auto& d : encoded.dropped) names += (names.empty() ? "" : ", ") + d;
      api::Error err =
          api::Error::make(api::ErrorKind::invalid_request,
                           "parameters not supported by this model's provider: " + names,
                           encoded.dropped.front(), "unsupported_parameter");
      co_return co_await fail(sink, std::move(result), std::move(err));
    }
    for (const auto& d : encoded.dropped) {
      bool seen = false;
      for (const auto& have : ctx.dropped_params) seen = seen || have == d;
      if (!seen) ctx.dropped_params.push_back(d);
    }
  }

  const std::string path = ep->path + bedrock::converse_path(target.upstream_model, request.stream);
  req.target = path;
  if (!ep->query.empty()) req.target += '?' + ep->query;

  sign_request(req, *ep, path, provider, clock_(),
               request.stream ? kEventStream : std::string_view("application/json"),
               ctx.request_id);

  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);
  UpstreamResponse resp = co_await ctx.http->send(*ep, req, opts);
  if (resp.error() != TransportError::none)
    co_return co_await fail(sink, std::move(result), map_transport_error(resp.error()));
  result.upstream_status = resp.status();

  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after(resp.header("retry-after"));
    const std::string error_type(resp.header("x-amzn-errortype"));
    std::string body;
    co_await resp.read_all(body, kMaxErrorBodyBytes);
    co_return co_await fail(sink, std::move(result),
                            scrubbed(bedrock::map_http_error(resp.status(), error_type, body,
                                                             retry_after, aws.secret_access_key),
                                     aws));
  }

  // Bedrock's answers carry no id of their own: its request id (or ours) stands in.
  const std::string_view upstream_id = resp.header("x-amzn-requestid");
  const std::string id =
      "bedrock-" + std::string(upstream_id.empty() ? std::string_view(ctx.request_id).substr(0, 64)
                                                   : upstream_id.substr(0, 64));
  const std::int64_t created = unix_seconds(clock_());
  std::vector<api::Event> events;

  if (!starts_with_ci(resp.header("content-type"), kEventStream)) {
    // A whole Converse answer (also when a server ignored the stream route's framing).
    std::string body;
    if (!co_await resp.read_all(body, kMaxResponseBytes))
      co_return co_await fail(sink, std::move(result), map_transport_error(resp.error()));
    api::Error err;
    if (!bedrock::decode_converse(body, id, target.upstream_model, created, events, err))
      co_return co_await fail(sink, std::move(result), std::move(err));
    for (auto& ev : events) {
      if (ev.type == api::Event::Type::usage) result.usage = ev.usage;
      if (!co_await sink.on_event(std::move(ev))) co_return client_gone(std::move(result));
    }
    result.ok = true;
    co_return result;
  }

  eventstream::Decoder decoder(kMaxMessageBytes);
  bedrock::StreamDecoder stream(id, target.upstream_model, created);
  eventstream::Message msg;
  std::string_view piece;
  bool done = false;
  while (!done && co_await resp.read_some(piece)) {
    decoder.feed(piece);
    while (!done && decoder.next(msg)) {
      events.clear();
      const auto status = stream.decode(msg, events, aws.secret_access_key);
      for (auto& ev : events) {
        if (ev.type == api::Event::Type::error) {
          resp.close();
          co_return co_await fail(sink, std::move(result), scrubbed(std::move(ev.error), aws));
        }
        if (ev.type == api::Event::Type::usage) result.usage = ev.usage;
        if (!co_await sink.on_event(std::move(ev))) {
          resp.close();  // the client is gone: stop the upstream generating (and billing)
          co_return client_gone(std::move(result));
        }
      }
      done = status == bedrock::StreamDecoder::Status::done;
    }
    if (decoder.failed()) {
      resp.close();
      api::Error err = api::Error::make(api::ErrorKind::upstream,
                                        std::string(eventstream::describe(decoder.error())), {},
                                        "upstream_malformed");
      err.retryable = decoder.error() != eventstream::DecodeError::too_large;
      co_return co_await fail(sink, std::move(result), std::move(err));
    }
  }

  if (done) {
    resp.set_idle_timeout(kDrainTimeout);
    std::size_t drained = 0;
    while (drained < kMaxDrainBytes && co_await resp.read_some(piece)) drained += piece.size();
    if (!resp.done()) resp.close();
    result.ok = true;
    co_return result;
  }
  if (stream.saw_stop() && resp.error() == TransportError::none && !decoder.pending()) {
    // messageStop arrived, only the metadata (usage) is missing: the answer is complete.
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

asio::awaitable<AttemptResult> BedrockAdapter::count_tokens(const api::ChatRequest& request,
                                                            const Target& target, CallContext& ctx,
                                                            api::CountTokensResponse& out) {
  AttemptResult result;
  const config::ProviderConfig& provider = target.provider ? *target.provider : *provider_;
  if (ctx.http == nullptr) {
    result.error = api::Error::make(api::ErrorKind::internal, "no upstream client");
    co_return result;
  }
  if (!has_credentials(provider)) {
    result.error = no_credentials();
    co_return result;
  }
  const config::AwsOptions& aws = *provider.aws;
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
  const auto encoded = bedrock::encode_count_tokens_request(request, req.body);
  if (!encoded.ok) {
    result.error = encoded.error;
    co_return result;
  }
  if (!encoded.dropped.empty()) {
    if (!provider.drop_unsupported_params) {
      std::string names;
      for (const auto& d : encoded.dropped) names += (names.empty() ? "" : ", ") + d;
      result.error = api::Error::make(api::ErrorKind::invalid_request,
                                      "parameters not supported by this model's provider: " + names,
                                      encoded.dropped.front(), "unsupported_parameter");
      co_return result;
    }
    for (const auto& d : encoded.dropped) {
      bool seen = false;
      for (const auto& have : ctx.dropped_params) seen = seen || have == d;
      if (!seen) ctx.dropped_params.push_back(d);
    }
  }
  const std::string path = ep->path + bedrock::count_tokens_path(target.upstream_model);
  req.target = path;
  if (!ep->query.empty()) req.target += '?' + ep->query;
  sign_request(req, *ep, path, provider, clock_(), "application/json", ctx.request_id);

  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);
  UpstreamResponse resp = co_await ctx.http->send(*ep, req, opts);
  if (resp.error() != TransportError::none) {
    result.error = map_transport_error(resp.error());
    co_return result;
  }
  result.upstream_status = resp.status();
  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after(resp.header("retry-after"));
    const std::string error_type(resp.header("x-amzn-errortype"));
    std::string body;
    co_await resp.read_all(body, kMaxErrorBodyBytes);
    result.error = scrubbed(bedrock::map_http_error(resp.status(), error_type, body, retry_after,
                                                    aws.secret_access_key),
                            aws);
    co_return result;
  }
  std::string body;
  if (!co_await resp.read_all(body, kMaxErrorBodyBytes)) {  // {"inputTokens":N} is tiny
    result.error = map_transport_error(resp.error());
    co_return result;
  }
  std::int64_t n = 0;
  if (!bedrock::decode_count_tokens(body, n, result.error)) co_return result;
  out.input_tokens = n;
  result.ok = true;
  co_return result;
}

}  // namespace infergate::adapters
