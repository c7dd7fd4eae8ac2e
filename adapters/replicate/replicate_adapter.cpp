#include "replicate_adapter.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "infergate/adapters/sse.hpp"
#include "media.hpp"

namespace infergate::adapters {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Replicate's "Cancel a prediction" (POST urls.cancel) when the gateway gives up on a prediction
// it started -- the client went away, the deadline passed, the attempt failed and the next
// deployment is tried -- so that the provider stops running (and billing) it. Armed once the
// prediction exists and is unfinished; whatever ends the attempt while armed (an early return, an
// exception such as the cancellation of the awaiting coroutine, the frame torn down) sends the
// cancel, fire-and-forget: a coroutine of its own on the same executor, with its own one-shot
// HttpClient (it may outlive the worker's pools and the caller's objects) and a short timeout.
class CancelOnGiveUp {
 public:
  static constexpr std::chrono::milliseconds kTimeout{2000};

  CancelOnGiveUp(asio::any_io_executor ex, std::string request_id)
      : ex_(std::move(ex)), request_id_(std::move(request_id)) {}
  CancelOnGiveUp(const CancelOnGiveUp&) = delete;
  CancelOnGiveUp& operator=(const CancelOnGiveUp&) = delete;

  // `p` (which must outlive this guard) has just been created or fetched: from now on, giving up
  // while it is unfinished cancels it.
  void arm(const replicate::Prediction& p, const Endpoint& api,
           const config::ProviderConfig& provider, const RequestOptions& opts);
  // The prediction ended on its own (or its stream said so): nothing to cancel.
  void disarm() { prediction_ = nullptr; }
  ~CancelOnGiveUp();

 private:
  asio::any_io_executor ex_;
  std::string request_id_;
  const replicate::Prediction* prediction_ = nullptr;
  Endpoint ep_;
  HttpRequest req_;
  RequestOptions opts_;
  std::string ca_file_;  // opts_.ca_file points into the provider config: copied
};

}  // namespace

struct ReplicateAdapter::Call {
  const config::ProviderConfig* provider = nullptr;
  Endpoint ep;
  RequestOptions opts;
  std::string auth;                  // "Bearer <key>", empty without a key
  CancelOnGiveUp* cancel = nullptr;  // armed by run_prediction once the prediction exists
};

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

AttemptResult failed(AttemptResult result, api::Error err) {
  result.ok = false;
  result.error = std::move(err);
  return result;
}

AttemptResult client_gone(AttemptResult result) {
  return failed(std::move(result), map_transport_error(TransportError::cancelled));
}

api::Error bad_model_id() {
  api::Error e = api::Error::make(api::ErrorKind::upstream,
                                  "deployment's upstream model is not owner/name[:version]", {},
                                  "upstream_bad_model");
  e.retryable = true;  // a misconfigured deployment: the next one may work
  return e;
}

api::Error deadline_error() { return map_transport_error(TransportError::total_timeout); }

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A GET to a URL the prediction named (urls.get, urls.stream): credentials and the provider's
// headers only where the API lives.
HttpRequest get_request(const Endpoint& target, const Endpoint& api,
                        const config::ProviderConfig& provider, std::string_view accept,
                        std::string_view request_id) {
  HttpRequest req;
  req.method = "GET";
  req.target = make_target(target, "");
  if (media::credentials_allowed(target, api)) {
    replicate::request_headers(provider, 0, request_id,
                               [&req](std::string_view k, std::string_view v) {
                                 if (starts_with_ci(k, "content-type")) return;
                                 if (starts_with_ci(k, "accept")) return;
                                 req.add_header(k, v);
                               });
  } else if (!request_id.empty()) {
    req.add_header("x-request-id", request_id);
  }
  req.add_header("Accept", accept);
  return req;
}

asio::awaitable<void> send_cancel(Endpoint ep, HttpRequest req, RequestOptions opts,
                                  std::string ca_file) {
  opts.ca_file = ca_file;
  opts.deadline = Clock::now() + CancelOnGiveUp::kTimeout;
  HttpClient client(co_await asio::this_coro::executor);
  {
    UpstreamResponse resp = co_await client.send(ep, req, opts);
    if (resp.error() == TransportError::none) {
      std::string ignored;  // the updated prediction: read (bounded) and dropped
      co_await resp.read_all(ignored, 64 * 1024);
    }
  }
}

void CancelOnGiveUp::arm(const replicate::Prediction& p, const Endpoint& api,
                         const config::ProviderConfig& provider, const RequestOptions& opts) {
  prediction_ = nullptr;
  if (replicate::terminal(p.status) || p.cancel_url.empty() ||
      p.cancel_url.size() > media::kMaxUrlBytes || !parse_url(p.cancel_url, ep_))
    return;
  req_ = get_request(ep_, api, provider, "application/json", request_id_);
  req_.method = "POST";
  opts_ = opts;
  opts_.connect_timeout = std::min<std::chrono::milliseconds>(opts.connect_timeout, kTimeout);
  opts_.first_byte_timeout = std::min<std::chrono::milliseconds>(opts.first_byte_timeout, kTimeout);
  opts_.idle_timeout = std::min<std::chrono::milliseconds>(opts.idle_timeout, kTimeout);
  ca_file_ = std::string(opts.ca_file);
  opts_.ca_file = {};
  prediction_ = &p;
}

CancelOnGiveUp::~CancelOnGiveUp() {
  if (prediction_ == nullptr || replicate::terminal(prediction_->status)) return;
  try {
    asio::co_spawn(ex_, send_cancel(std::move(ep_), std::move(req_), opts_, std::move(ca_file_)),
                   [](const std::exception_ptr&) {});
  } catch (...) {  // best effort: never from a destructor
  }
}

// Sleeps `d`; false when the awaiting coroutine was cancelled.
asio::awaitable<bool> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

}  // namespace

ReplicateAdapter::ReplicateAdapter(const config::ProviderConfig& provider)
    : provider_(&provider), base_url_(provider.base_url) {
  url_ok_ = parse_url(base_url_, endpoint_);
}

bool ReplicateAdapter::prepare(const Target& target, CallContext& ctx, Call& call,
                               api::Error& err) const {
  call.provider = target.provider ? target.provider : provider_;
  if (ctx.http == nullptr) {
    err = api::Error::make(api::ErrorKind::internal, "no upstream client");
    return false;
  }
  bool ok = url_ok_;
  if (call.provider->base_url != base_url_) {
    ok = parse_url(call.provider->base_url, call.ep);
  } else {
    call.ep = endpoint_;
  }
  if (!ok) {
    err = map_transport_error(TransportError::bad_url);
    return false;
  }
  call.opts = RequestOptions::from(*call.provider, ctx.deadline);
  if (!call.provider->api_key.empty()) call.auth = "Bearer " + call.provider->api_key;
  return true;
}

asio::awaitable<bool> ReplicateAdapter::run_prediction(
    const Call& call, const replicate::ModelRef& model, std::string body, bool wait,
    bool until_terminal, CallContext& ctx, replicate::Prediction& out, AttemptResult& result,
    api::Error& err) const {
  const config::ProviderConfig& provider = *call.provider;
  HttpRequest req;
  req.target = make_target(call.ep, replicate::create_path(model));
  req.body = std::move(body);
  int wait_s = 0;
  if (wait) {
    // Prefer: wait=N never outlasts the deadline or the first-byte timeout.
    auto left = std::chrono::duration_cast<std::chrono::seconds>(
        (call.opts.deadline == Clock::time_point{} ? Clock::now() + provider.total_timeout
                                                   : call.opts.deadline) -
        Clock::now());
    left = std::min(left,
                    std::chrono::duration_cast<std::chrono::seconds>(call.opts.first_byte_timeout));
    wait_s = static_cast<int>(std::clamp<std::int64_t>(left.count() - 1, 1, kMaxWaitS));
  }
  replicate::request_headers(
      provider, wait_s, ctx.request_id,
      [&req](std::string_view k, std::string_view v) { req.add_header(k, v); });

  UpstreamResponse resp = co_await ctx.http->send(call.ep, req, call.opts);
  if (resp.error() != TransportError::none) {
    err = map_transport_error(resp.error());
    co_return false;
  }
  result.upstream_status = resp.status();
  if (resp.status() < 200 || resp.status() >= 300) {
    const std::string retry_after(resp.header("retry-after"));
    std::string error_body;
    co_await resp.read_all(error_body, kMaxErrorBodyBytes);
    err = replicate::map_http_error(resp.status(), error_body, retry_after, provider.api_key);
    co_return false;
  }
  std::string answer;
  if (!co_await resp.read_all(answer, kMaxResponseBytes)) {
    err = map_transport_error(resp.error());
    co_return false;
  }
  if (!replicate::parse_prediction(answer, out, err)) co_return false;
  if (call.cancel != nullptr) call.cancel->arm(out, call.ep, provider, call.opts);
  if (!until_terminal || replicate::terminal(out.status)) co_return true;
  co_return co_await poll(call, ctx, out, result, err);
}

asio::awaitable<bool> ReplicateAdapter::poll(const Call& call, CallContext& ctx,
                                             replicate::Prediction& p, AttemptResult& result,
                                             api::Error& err) const {
  Endpoint get_ep;
  if (p.get_url.size() > media::kMaxUrlBytes || !parse_url(p.get_url, get_ep)) {
    err = api::Error::make(api::ErrorKind::upstream,
                           "upstream prediction is unfinished and has no usable urls.get", {},
                           "upstream_malformed");
    err.retryable = true;
    co_return false;
  }
  const HttpRequest req =
      get_request(get_ep, call.ep, *call.provider, "application/json", ctx.request_id);
  auto interval = kFirstPollInterval;
  for (int polls = 0; !replicate::terminal(p.status); ++polls) {
    if (polls >= kMaxPolls || (call.opts.deadline != Clock::time_point{} &&
                               Clock::now() + interval >= call.opts.deadline)) {
      err = deadline_error();
      err.message = "upstream prediction did not finish before the deadline";
      co_return false;
    }
    if (!co_await sleep_for(interval)) {
      err = map_transport_error(TransportError::cancelled);
      co_return false;
    }
    interval = std::min(kMaxPollInterval, interval + interval / 2);
    UpstreamResponse resp = co_await ctx.http->send(get_ep, req, call.opts);
    if (resp.error() != TransportError::none) {
      err = map_transport_error(resp.error());
      co_return false;
    }
    result.upstream_status = resp.status();
    if (resp.status() != 200) {
      const std::string retry_after(resp.header("retry-after"));
      std::string error_body;
      co_await resp.read_all(error_body, kMaxErrorBodyBytes);
      err =
          replicate::map_http_error(resp.status(), error_body, retry_after, call.provider->api_key);
      co_return false;
    }
    std::string answer;
    if (!co_await resp.read_all(answer, kMaxResponseBytes)) {
      err = map_transport_error(resp.error());
      co_return false;
    }
    replicate::Prediction next;
    if (!replicate::parse_prediction(answer, next, err)) co_return false;
    if (next.get_url.empty()) next.get_url = p.get_url;
    p = std::move(next);
  }
  co_return true;
}

asio::awaitable<AttemptResult> ReplicateAdapter::generate_image(const api::ImageRequest& request,
                                                                const Target& target,
                                                                CallContext& ctx,
                                                                api::ImageResponse& out) {
  AttemptResult result;
  Call call;
  api::Error err;
  if (!prepare(target, ctx, call, err)) co_return failed(std::move(result), std::move(err));
  replicate::ModelRef model;
  if (!replicate::parse_model(target.upstream_model, model))
    co_return failed(std::move(result), bad_model_id());
  std::string body;
  {
    std::vector<std::string> dropped;
    if (!replicate::encode_image_request(request, model, call.provider->drop_unsupported_params,
                                         body, dropped, err))
      co_return failed(std::move(result), std::move(err));
    for (auto& d : dropped) ctx.dropped_params.push_back(std::move(d));
  }
  replicate::Prediction p;
  const auto executor = co_await asio::this_coro::executor;
  CancelOnGiveUp cancel(executor, ctx.request_id);
  call.cancel = &cancel;
  if (!co_await run_prediction(call, model, std::move(body), /*wait=*/true,
                               /*until_terminal=*/true, ctx, p, result, err))
    co_return failed(std::move(result), std::move(err));
  if (p.status != replicate::Status::succeeded)
    co_return failed(std::move(result), replicate::prediction_error(p, call.provider->api_key));
  std::vector<std::string> files;
  if (!replicate::output_files(p.output, files)) {
    err = api::Error::make(api::ErrorKind::upstream,
                           "upstream prediction output is not a list of files", {},
                           "upstream_malformed");
    err.retryable = true;
    co_return failed(std::move(result), std::move(err));
  }
  out.created = unix_now();
  out.images.clear();
  for (const auto& file : files) {
    api::GeneratedImage img;
    bool need_bytes = true;
    if (!media::is_data_uri(file)) {
      img.url = file;
      // A client that asked for URLs gets the provider's URL (the gateway answers it as is).
      need_bytes = !request.want_url;
    }
    if (need_bytes) {
      media::Fetched f = co_await media::fetch(*ctx.http, file, call.opts, call.ep, "Authorization",
                                               call.auth, ctx.request_id);
      if (!f.ok) co_return failed(std::move(result), std::move(f.error));
      img.bytes = std::move(f.bytes);
      img.content_type = std::move(f.content_type);
    }
    out.images.push_back(std::move(img));
  }
  result.ok = true;
  co_return result;
}

asio::awaitable<AttemptResult> ReplicateAdapter::chat(const api::ChatRequest& request,
                                                      const Target& target, CallContext& ctx,
                                                      api::EventSink& sink) {
  AttemptResult result;
  Call call;
  api::Error err;
  if (!prepare(target, ctx, call, err))
    co_return co_await fail(sink, std::move(result), std::move(err));
  replicate::ModelRef model;
  if (!replicate::parse_model(target.upstream_model, model))
    co_return co_await fail(sink, std::move(result), bad_model_id());
  std::string body;
  {
    std::vector<std::string> dropped;
    if (!replicate::encode_chat_request(request, model, call.provider->drop_unsupported_params,
                                        body, dropped, err))
      co_return co_await fail(sink, std::move(result), std::move(err));
    for (auto& d : dropped) ctx.dropped_params.push_back(std::move(d));
  }
  const std::int64_t created = unix_now();
  const std::int64_t max_tokens = replicate::requested_max_tokens(request);
  const std::string& api_key = call.provider->api_key;

  // A streamed call creates the prediction without waiting (it needs urls.stream at once).
  replicate::Prediction p;
  const auto executor = co_await asio::this_coro::executor;
  CancelOnGiveUp cancel(executor, ctx.request_id);
  call.cancel = &cancel;
  if (!co_await run_prediction(call, model, std::move(body), /*wait=*/!request.stream,
                               /*until_terminal=*/!request.stream, ctx, p, result, err))
    co_return co_await fail(sink, std::move(result), std::move(err));

  Endpoint stream_ep;
  const bool can_stream = request.stream && !replicate::terminal(p.status) &&
                          p.stream_url.size() <= media::kMaxUrlBytes &&
                          parse_url(p.stream_url, stream_ep);
  if (!can_stream) {
    // Not streamed (or the model offers no stream): the whole output once finished.
    if (!replicate::terminal(p.status)) {
      const bool finished = co_await poll(call, ctx, p, result, err);
      if (!finished) co_return co_await fail(sink, std::move(result), std::move(err));
    }
    if (p.status != replicate::Status::succeeded)
      co_return co_await fail(sink, std::move(result), replicate::prediction_error(p, api_key));
    std::string text;
    if (!replicate::output_text(p.output, text)) {
      err = api::Error::make(api::ErrorKind::upstream, "upstream prediction output is not text", {},
                             "upstream_malformed");
      err.retryable = true;
      co_return co_await fail(sink, std::move(result), std::move(err));
    }
    std::vector<api::Event> events;
    replicate::chat_events(p, target.upstream_model, created, max_tokens, events);
    for (auto& ev : events) {
      if (ev.type == api::Event::Type::usage) result.usage = ev.usage;
      if (!co_await sink.on_event(std::move(ev))) co_return client_gone(std::move(result));
    }
    result.ok = true;
    co_return result;
  }

  const HttpRequest sreq =
      get_request(stream_ep, call.ep, *call.provider, "text/event-stream", ctx.request_id);
  UpstreamResponse resp = co_await ctx.http->send(stream_ep, sreq, call.opts);
  if (resp.error() != TransportError::none)
    co_return co_await fail(sink, std::move(result), map_transport_error(resp.error()));
  result.upstream_status = resp.status();
  if (resp.status() != 200) {
    const std::string retry_after(resp.header("retry-after"));
    std::string error_body;
    co_await resp.read_all(error_body, kMaxErrorBodyBytes);
    co_return co_await fail(
        sink, std::move(result),
        replicate::map_http_error(resp.status(), error_body, retry_after, api_key));
  }
  if (!starts_with_ci(resp.header("content-type"), "text/event-stream")) {
    resp.close();
    err = api::Error::make(api::ErrorKind::upstream, "upstream stream is not an event stream", {},
                           "upstream_malformed");
    err.retryable = true;
    co_return co_await fail(sink, std::move(result), std::move(err));
  }

  replicate::StreamDecoder decoder(target.upstream_model, p.id, created, api_key);
  SseParser parser(kMaxEventBytes);
  SseEvent sse_event;
  std::vector<api::Event> events;
  std::string_view piece;
  bool done = false;
  while (!done) {
    if (!co_await resp.read_some(piece)) break;
    parser.feed(piece);
    while (!done && parser.next(sse_event)) {
      events.clear();
      const auto status = decoder.decode(sse_event.type, sse_event.data, events);
      for (auto& ev : events) {
        if (ev.type == api::Event::Type::error) {
          cancel.disarm();  // the stream said the prediction ended (failed or canceled)
          resp.close();
          co_return co_await fail(sink, std::move(result), std::move(ev.error));
        }
        if (!co_await sink.on_event(std::move(ev))) {
          resp.close();  // the client is gone: stop reading; `cancel` stops the prediction
          co_return client_gone(std::move(result));
        }
      }
      done = status == replicate::StreamDecoder::Status::done;
      if (done) cancel.disarm();
    }
    if (parser.failed()) {
      resp.close();
      auto too_large = map_transport_error(TransportError::too_large);
      too_large.message = "upstream stream event too large";
      co_return co_await fail(sink, std::move(result), std::move(too_large));
    }
  }
  if (!done) {
    api::Error broken = resp.error() != TransportError::none
                            ? map_transport_error(resp.error())
                            : api::Error::make(api::ErrorKind::upstream,
                                               "upstream stream ended before it was complete", {},
                                               "upstream_error");
    broken.retryable = true;
    co_return co_await fail(sink, std::move(result), std::move(broken));
  }
  if (!resp.done()) resp.close();

  // The stream carries no token counts: the finished prediction's metrics do (best effort, one
  // short GET; the answer is complete either way).
  Endpoint get_ep;
  if (!p.get_url.empty() && p.get_url.size() <= media::kMaxUrlBytes &&
      parse_url(p.get_url, get_ep)) {
    RequestOptions quick = call.opts;
    const auto soon = Clock::now() + std::chrono::seconds(3);
    if (quick.deadline == Clock::time_point{} || soon < quick.deadline) quick.deadline = soon;
    const HttpRequest greq =
        get_request(get_ep, call.ep, *call.provider, "application/json", ctx.request_id);
    UpstreamResponse g = co_await ctx.http->send(get_ep, greq, quick);
    std::string answer;
    replicate::Prediction fin;
    api::Error ignored;
    // (No co_await inside a && chain: GCC 12 mis-evaluates it in a coroutine.)
    bool got = g.error() == TransportError::none && g.status() == 200;
    if (got) got = co_await g.read_all(answer, kMaxResponseBytes);
    if (got) got = replicate::parse_prediction(answer, fin, ignored) && fin.usage.reported;
    if (got) {
      result.usage = fin.usage;
      api::Event u;
      u.type = api::Event::Type::usage;
      u.usage = fin.usage;
      if (!co_await sink.on_event(std::move(u))) co_return client_gone(std::move(result));
    }
  }
  result.ok = true;
  co_return result;
}

}  // namespace infergate::adapters
