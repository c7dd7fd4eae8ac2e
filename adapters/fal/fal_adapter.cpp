#include "fal_adapter.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fal_codec.hpp"
#include "media.hpp"

namespace infergate::adapters {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

AttemptResult failed(AttemptResult result, api::Error err) {
  result.ok = false;
  result.error = std::move(err);
  return result;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

asio::awaitable<bool> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

api::Error bad_queue_url() {
  api::Error e = api::Error::make(api::ErrorKind::upstream, "upstream queue named an unusable URL",
                                  {}, "upstream_malformed");
  e.retryable = true;
  return e;
}

// One JSON exchange: sends `req`, reads the body (bounded). `body` holds the answer on 2xx; on
// anything else `err` is set (transport failure or the mapped HTTP error).
asio::awaitable<bool> exchange(HttpClient& http, const Endpoint& ep, const HttpRequest& req,
                               const RequestOptions& opts, std::string_view secret,
                               AttemptResult& result, std::string& body, api::Error& err) {
  UpstreamResponse resp = co_await http.send(ep, req, opts);
  if (resp.error() != TransportError::none) {
    err = map_transport_error(resp.error());
    co_return false;
  }
  result.upstream_status = resp.status();
  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after(resp.header("retry-after"));
    std::string error_body;
    co_await resp.read_all(error_body, FalAdapter::kMaxErrorBodyBytes);
    err = fal::map_http_error(resp.status(), error_body, retry_after, secret);
    co_return false;
  }
  body.clear();
  if (!co_await resp.read_all(body, FalAdapter::kMaxResponseBytes)) {
    err = map_transport_error(resp.error());
    co_return false;
  }
  co_return true;
}

}  // namespace

FalAdapter::FalAdapter(const config::ProviderConfig& provider)
    : provider_(&provider), base_url_(provider.base_url) {
  url_ok_ = parse_url(base_url_, endpoint_);
}

asio::awaitable<AttemptResult> FalAdapter::chat(const api::ChatRequest&, const Target& target,
                                                CallContext&, api::EventSink&) {
  co_return unsupported_operation(target, "chat completions");
}

asio::awaitable<AttemptResult> FalAdapter::generate_image(const api::ImageRequest& request,
                                                          const Target& target, CallContext& ctx,
                                                          api::ImageResponse& out) {
  AttemptResult result;
  const config::ProviderConfig& provider = target.provider ? *target.provider : *provider_;
  if (ctx.http == nullptr)
    co_return failed(std::move(result),
                     api::Error::make(api::ErrorKind::internal, "no upstream client"));
  Endpoint ep = endpoint_;
  bool ok = url_ok_;
  if (provider.base_url != base_url_) ok = parse_url(provider.base_url, ep);
  if (!ok) co_return failed(std::move(result), map_transport_error(TransportError::bad_url));
  if (!fal::valid_model_id(target.upstream_model)) {
    api::Error e = api::Error::make(api::ErrorKind::upstream,
                                    "deployment's upstream model is not a fal model id", {},
                                    "upstream_bad_model");
    e.retryable = true;
    co_return failed(std::move(result), std::move(e));
  }
  const bool queue = fal::queue_mode(ep.host, ep.path);
  const RequestOptions opts = RequestOptions::from(provider, ctx.deadline);
  const std::string auth = provider.api_key.empty() ? std::string() : "Key " + provider.api_key;

  HttpRequest req;
  req.target = make_target(ep, "/" + target.upstream_model);
  {
    std::vector<std::string> dropped;
    api::Error err;
    if (!fal::encode_image_request(request, target.upstream_model, /*sync_mode=*/!request.want_url,
                                   provider.drop_unsupported_params, req.body, dropped, err))
      co_return failed(std::move(result), std::move(err));
    for (auto& d : dropped) ctx.dropped_params.push_back(std::move(d));
  }
  fal::request_headers(provider, ctx.request_id,
                       [&req](std::string_view k, std::string_view v) { req.add_header(k, v); });

  std::string answer;
  api::Error err;
  if (!co_await exchange(*ctx.http, ep, req, opts, provider.api_key, result, answer, err))
    co_return failed(std::move(result), std::move(err));

  if (queue) {
    fal::QueueSubmit submit;
    if (!fal::parse_submit(answer, submit, err))
      co_return failed(std::move(result), std::move(err));
    Endpoint status_ep, response_ep;
    if (submit.status_url.size() > media::kMaxUrlBytes ||
        submit.response_url.size() > media::kMaxUrlBytes ||
        !parse_url(submit.status_url, status_ep) || !parse_url(submit.response_url, response_ep))
      co_return failed(std::move(result), bad_queue_url());
    // GETs carry the key only to the queue's own host (credentials_allowed).
    auto get = [&](const Endpoint& to) {
      HttpRequest g;
      g.method = "GET";
      g.target = make_target(to, "");
      if (media::credentials_allowed(to, ep)) {
        fal::request_headers(provider, ctx.request_id,
                             [&g](std::string_view k, std::string_view v) {
                               if (k == "Content-Type") return;
                               g.add_header(k, v);
                             });
      } else {
        g.add_header("Accept", "application/json");
      }
      return g;
    };
    const HttpRequest status_req = get(status_ep);
    auto interval = kFirstPollInterval;
    for (int polls = 0;; ++polls) {
      if (!co_await exchange(*ctx.http, status_ep, status_req, opts, provider.api_key, result,
                             answer, err))
        co_return failed(std::move(result), std::move(err));
      fal::QueueState state;
      if (!fal::parse_status(answer, state, err))
        co_return failed(std::move(result), std::move(err));
      if (state.status == fal::QueueStatus::completed) break;
      if (polls + 1 >= kMaxPolls ||
          (opts.deadline != Clock::time_point{} && Clock::now() + interval >= opts.deadline)) {
        err = map_transport_error(TransportError::total_timeout);
        err.message = "upstream queue request did not finish before the deadline";
        co_return failed(std::move(result), std::move(err));
      }
      if (!co_await sleep_for(interval))
        co_return failed(std::move(result), map_transport_error(TransportError::cancelled));
      interval = std::min(kMaxPollInterval, interval + interval / 2);
    }
    const HttpRequest response_req = get(response_ep);
    if (!co_await exchange(*ctx.http, response_ep, response_req, opts, provider.api_key, result,
                           answer, err))
      co_return failed(std::move(result), std::move(err));
  }

  fal::Result res;
  if (!fal::parse_result(answer, res, err)) co_return failed(std::move(result), std::move(err));
  out.created = unix_now();
  out.images.clear();
  for (auto& image : res.images) {
    api::GeneratedImage img;
    bool need_bytes = true;
    if (!media::is_data_uri(image.url)) {
      img.url = image.url;
      need_bytes = !request.want_url;  // a client that asked for URLs gets fal's URL as is
    }
    if (need_bytes) {
      media::Fetched f = co_await media::fetch(*ctx.http, image.url, opts, ep, "Authorization",
                                               auth, ctx.request_id);
      if (!f.ok) co_return failed(std::move(result), std::move(f.error));
      img.bytes = std::move(f.bytes);
      img.content_type = std::move(f.content_type);
    }
    if (img.content_type.empty()) img.content_type = std::move(image.content_type);
    out.images.push_back(std::move(img));
  }
  result.ok = true;
  co_return result;
}

}  // namespace infergate::adapters
