// fal's Model API wire format (fal.run / queue.fal.run), upstream side: canonical image requests
// -> a text-to-image model's input, its output and the queue's answers -> files, fal errors ->
// api::Error. Pure functions, no I/O.
//
// References (docs.fal.ai):
//   "Synchronous requests" (`POST https://fal.run/{model_id}`, `Authorization: Key <key>`);
//   "Queue" (`POST https://queue.fal.run/{model_id}` -> {request_id, response_url, status_url,
//   cancel_url}; `GET .../requests/{id}/status` -> {status: IN_QUEUE | IN_PROGRESS | COMPLETED,
//   queue_position, response_url}; `GET .../requests/{id}` -> the model's output);
//   the model pages fal-ai/flux/schnell, fal-ai/flux/dev, fal-ai/fast-sdxl ("API" tab: input
//   prompt, image_size (enum or {width, height}), num_images, seed, num_inference_steps,
//   guidance_scale, negative_prompt, sync_mode, output_format; output {images: [{url, width,
//   height, content_type}], seed, has_nsfw_concepts, timings, prompt});
//   "Errors" (model errors: `{"detail": [{"loc", "msg", "type", ...}]}`, X-Fal-Retryable) and
//   "Request errors" (`{"detail": "...", "error_type": "..."}`).
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

namespace infergate::adapters::fal {

inline constexpr int kMaxImages = 16;  // images one answer may carry

// A model id: 2..8 '/'-separated segments of [A-Za-z0-9._-] ("fal-ai/flux/schnell").
bool valid_model_id(std::string_view id);

// Whether a provider's base URL is fal's queue API rather than the synchronous run API: its host
// starts with "queue." (https://queue.fal.run), or its path ends with the segment "queue" (a
// proxy or test server that serves the queue API under a path).
bool queue_mode(std::string_view host, std::string_view path);

// fal's image_size for WxH: the enum name when the size is one of fal's presets (square_hd
// 1024x1024, square 512x512, portrait_4_3 768x1024, portrait_16_9 576x1024, landscape_4_3
// 1024x768, landscape_16_9 1024x576), else {"width", "height"}.
nlohmann::json image_size_for(int width, int height);

// (a) The model input for an image request. `sync_mode` asks for data URIs in the answer instead
// of CDN URLs (used when the client wants bytes). FLUX models take no negative_prompt, FLUX.1
// [schnell] no guidance_scale: dropped and named, or a 400 when the provider does not drop.
bool encode_image_request(const api::ImageRequest& request, std::string_view model_id,
                          bool sync_mode, bool drop_unsupported, std::string& out,
                          std::vector<std::string>& dropped, api::Error& err);

// The upstream request headers: Authorization: Key <api_key> (unless the provider's headers set
// Authorization), the provider's extra headers, Content-Type, Accept, x-request-id.
using HeaderSink = std::function<void(std::string_view name, std::string_view value)>;
void request_headers(const config::ProviderConfig& provider, std::string_view request_id,
                     const HeaderSink& add);

struct Image {
  std::string url;  // https URL or data URI
  std::string content_type;
  int width = 0;
  int height = 0;
};
struct Result {
  std::vector<Image> images;
  std::vector<bool> nsfw;  // has_nsfw_concepts, per image
  std::int64_t seed = 0;
  bool has_seed = false;
};
// (b) A text-to-image output. False with `err` (502, retryable) when malformed or empty.
bool parse_result(std::string_view body, Result& out, api::Error& err);

// (b) The queue's answer to a submission.
struct QueueSubmit {
  std::string request_id;
  std::string status_url;
  std::string response_url;
  std::string cancel_url;
};
bool parse_submit(std::string_view body, QueueSubmit& out, api::Error& err);

enum class QueueStatus : std::uint8_t { in_queue, in_progress, completed };
struct QueueState {
  QueueStatus status = QueueStatus::in_queue;
  std::string response_url;  // may be absent
  std::string error;         // COMPLETED with an error (some apps report it here)
};
bool parse_status(std::string_view body, QueueState& out, api::Error& err);

// (c) An upstream HTTP error (status >= 300): `body` is {"detail": "..."} or {"detail": [{"loc",
// "msg", "type"}]} (each entry becomes "body.field: msg"); `retry_after` the Retry-After header.
// X-Fal-Retryable speaks of retrying the same request at fal; whether another deployment may
// help follows the status, as for every provider.
api::Error map_http_error(int status, std::string_view body, std::string_view retry_after,
                          std::string_view secret);

}  // namespace infergate::adapters::fal
