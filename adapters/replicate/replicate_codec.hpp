// Replicate's HTTP API wire format (api.replicate.com/v1), upstream side: canonical chat and
// image requests -> prediction inputs, prediction objects and their SSE output streams ->
// canonical events / files, Replicate errors -> api::Error. Pure functions, no I/O.
//
// References (replicate.com/docs):
//   "HTTP API" reference: predictions.create (`POST /v1/predictions` with `version`),
//   models.predictions.create (`POST /v1/models/{owner}/{name}/predictions`), predictions.get,
//   the prediction object (id, status starting|processing|succeeded|failed|canceled, output,
//   error, metrics, urls.get/cancel/stream);
//   "Create a prediction" (sync mode: `Prefer: wait`, at most 60 s, then poll urls.get);
//   "Streaming output" (`"stream": true`, events output / error / done);
//   "Rate limits" (429 `{"detail": "Request was throttled. ..."}`, Retry-After) and the API's
//   problem-details errors `{"title", "detail", "status"}` (RFC 7807).
//
// Language models (meta/meta-llama-3-*-instruct and the like) take a single `prompt` and an
// optional `system_prompt`, not a message list: messages are flattened (see encode_chat_request).
// Image models take family-specific inputs: the FLUX family (black-forest-labs/flux-*) an
// `aspect_ratio`, others (stability-ai/sdxl and most Stable Diffusion models) `width`/`height`.
// A field the family cannot express is dropped and named (drop_unsupported_params: true) or
// fails the request with a non-retryable 400 naming it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "infergate/api/chat.hpp"
#include "infergate/api/ops.hpp"
#include "infergate/config/config.hpp"

namespace infergate::adapters::replicate {

// Bounds on what an upstream answer may carry.
inline constexpr int kMaxOutputFiles = 16;                 // files of one image prediction
inline constexpr std::size_t kMaxOutputItems = 1'000'000;  // pieces of a language model's output
inline constexpr std::size_t kMaxOutputText = 16 * 1024 * 1024;  // joined output text

// The deployment's upstream model: "owner/name" (the model's latest version, or an official
// model) or "owner/name:version" (a pinned version id).
struct ModelRef {
  std::string owner;
  std::string name;
  std::string version;  // empty = not pinned
};
// False when `id` is not owner/name[:version] (owner, name: 1..100 of [A-Za-z0-9._-]; version:
// 1..128 of [A-Za-z0-9]).
bool parse_model(std::string_view id, ModelRef& out);

// The request target suffix under the base URL: "/models/{owner}/{name}/predictions", or
// "/predictions" for a pinned version (the body then carries "version").
std::string create_path(const ModelRef& model);

// Image model families, by model name.
enum class ImageFamily : std::uint8_t {
  flux,          // FLUX.1 [dev], [pro], 1.1 [pro]...: aspect_ratio, guidance
  flux_schnell,  // FLUX.1 [schnell]: aspect_ratio, no guidance
  generic,       // width/height, guidance_scale, negative_prompt (SDXL, SD 3, ...)
};
ImageFamily image_family(const ModelRef& model);

// The FLUX aspect ratios ("1:1", "16:9", ...); WxH reduced must be one of them.
std::string aspect_ratio_for(int width, int height);

// (a) The create-prediction body {"input": {...}[, "version"]} for an image request.
bool encode_image_request(const api::ImageRequest& request, const ModelRef& model,
                          bool drop_unsupported, std::string& out,
                          std::vector<std::string>& dropped, api::Error& err);

// (a) The create-prediction body for a chat request. Messages are flattened: system (and
// developer) messages become `system_prompt` (joined by blank lines); a single user message is
// the `prompt` as is; a longer conversation becomes a transcript "User: ...\n\nAssistant: ..."
// ending with the last message. Text parts are joined; image/audio parts, tools and tool-call
// turns cannot be expressed. max_completion_tokens / max_tokens -> max_tokens (max_new_tokens for
// Llama 2 models), stop -> stop_sequences (comma-separated), temperature, top_p, top_k, seed,
// presence_penalty, frequency_penalty as they are. `stream` adds "stream": true.
bool encode_chat_request(const api::ChatRequest& request, const ModelRef& model,
                         bool drop_unsupported, std::string& out, std::vector<std::string>& dropped,
                         api::Error& err);

// The upstream request headers: Authorization: Bearer <key> (unless the provider's headers set
// Authorization), the provider's extra headers, Content-Type, Accept, `Prefer: wait[=N]` when
// `wait_s` > 0 (N < 60 only when less is left of the deadline), x-request-id.
using HeaderSink = std::function<void(std::string_view name, std::string_view value)>;
void request_headers(const config::ProviderConfig& provider, int wait_s,
                     std::string_view request_id, const HeaderSink& add);

// The prediction object.
enum class Status : std::uint8_t { starting, processing, succeeded, failed, canceled, unknown };
Status status_from(std::string_view s);
inline bool terminal(Status s) {
  return s == Status::succeeded || s == Status::failed || s == Status::canceled;
}

struct Prediction {
  std::string id;
  std::string model;
  Status status = Status::unknown;
  nlohmann::json output;  // null until there is output
  std::string error;      // the prediction's error message (failed)
  std::string get_url;
  std::string stream_url;
  std::string cancel_url;
  api::Usage usage;  // metrics.input_token_count / output_token_count when present
};
// (b) False with `err` (502, retryable) when `body` is not a prediction object.
bool parse_prediction(std::string_view body, Prediction& out, api::Error& err);

// (b) A language model's output (an array of string pieces, or one string) joined.
bool output_text(const nlohmann::json& output, std::string& text);
// (b) An image model's output: a URL or data URI, or an array of them (at most kMaxOutputFiles).
bool output_files(const nlohmann::json& output, std::vector<std::string>& files);

// (b) The canonical events of a finished language-model prediction: start, text, finish, usage
// (when reported). `max_tokens` (-1 = none) turns an output of exactly that many tokens into
// finish_reason length.
void chat_events(const Prediction& p, std::string_view model, std::int64_t created,
                 std::int64_t max_tokens, std::vector<api::Event>& out);

// The max_tokens the request asked for, or -1.
std::int64_t requested_max_tokens(const api::ChatRequest& request);

// (c) A prediction that ended failed or canceled: 502, retryable (another deployment may
// succeed); the prediction's own message is echoed, scrubbed of `secret` and bounded.
api::Error prediction_error(const Prediction& p, std::string_view secret);

// (c) An upstream HTTP error (status >= 300): `body` may be problem details {"title", "detail",
// "status"} or {"detail"}; `retry_after` is the Retry-After header.
api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view secret);

// (b) One event of a prediction's SSE stream (urls.stream).
class StreamDecoder {
 public:
  StreamDecoder(std::string model, std::string id, std::int64_t created, std::string_view secret)
      : model_(std::move(model)), id_(std::move(id)), created_(created), secret_(secret) {}

  enum class Status : std::uint8_t {
    ok,     // zero or more events appended
    done,   // the `done` event: the output is complete (finish appended)
    error,  // an `error` event, or `done` with reason error/canceled (error event appended)
  };
  // `type` is the SSE event type, `data` its data (lines joined by '\n').
  Status decode(std::string_view type, std::string_view data, std::vector<api::Event>& out);

  std::size_t output_events() const { return output_events_; }

 private:
  void start(std::vector<api::Event>& out);

  std::string model_;
  std::string id_;
  std::int64_t created_;
  std::string_view secret_;
  bool started_ = false;
  std::string error_;  // the message of an `error` event, for a following `done`
  std::size_t output_events_ = 0;
};

}  // namespace infergate::adapters::replicate
