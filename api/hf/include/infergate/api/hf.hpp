// Hugging Face's client-facing dialect: the routes of the Inference Providers router
// (router.huggingface.co) and of Inference Endpoints, and the Hub's model-mapping call, as the
// official @huggingface/inference client (4.13) sends them. Pure functions over the canonical
// types plus one small thread-safe result store; no sockets.
//
// Routes (paths relative to the gateway root; `{model}` may contain slashes):
//   GET  /api/models/{model}?expand[]=inferenceProviderMapping   Hub mapping, from the catalog
//   POST /{provider}/…/chat/completions                 chat; body `model` = provider model id
//   POST /{provider}/models/{model}/v1/chat/completions   chat (hf-inference form)
//   POST /{provider}/…/embeddings                        OpenAI-shaped embeddings (together, ...)
//   POST /{provider}/…/images/generations                OpenAI-shaped images (together: base64)
//   POST /{provider}/models/{model}/pipeline/{task}       hf-inference task (feature-extraction)
//   POST /{provider}/models/{model}  and  /models/{model}  task route {"inputs","parameters"}:
//        the task is the model's (text-to-image: image bytes; feature-extraction: float arrays)
//   POST /fal-ai/{model}[?_subdomain=queue]              fal text-to-image (queue or sync)
//   GET  /fal-ai/…/requests/{id}[/status]                fal queue result / status
//   POST /replicate/v1/models/{owner}/{name}/predictions  Replicate prediction (Prefer: wait)
//   POST /replicate/v1/predictions                       the same, `version` in the body
//   GET  /hf-files/{id}                                  an image the gateway holds for a while
//
// Errors on these routes are {"error": "<message>"} (what the client and the Hub send and parse);
// the chat routes keep OpenAI's error shape (the providers' OpenAI-compatible APIs).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "infergate/api/chat.hpp"
#include "infergate/api/ops.hpp"
#include "infergate/config/config.hpp"

namespace infergate::api::hf {

// The HF pipeline tasks the gateway serves.
enum class Task : std::uint8_t { conversational, feature_extraction, text_to_image };
std::string_view task_name(Task t);
std::optional<Task> task_from_name(std::string_view name);  // also sentence-similarity -> fe

// The task a model serves, for the Hub mapping and the model task routes. The config has no
// `task` key yet, so this is inferred: a model with a `fal` deployment is text-to-image; a name
// or upstream id mentioning embed/bge/e5-/minilm/sentence-transformers is feature-extraction;
// flux/stable-diffusion/sdxl/diffusion/dall-e/imagen/image is text-to-image; else conversational.
Task model_task(const config::ModelConfig& model, const config::Config& config);

// ---------------------------------------------------------------------------------------------
// Routes

struct Route {
  enum class Kind : std::uint8_t {
    none,
    hub_model,          // GET  /api/models/{model}
    chat,               // POST chat/completions; `model` set when the path names it
    embeddings,         // POST OpenAI-shaped embeddings
    images,             // POST OpenAI-shaped image generation (together)
    pipeline,           // POST models/{model}/pipeline/{task}
    model_task,         // POST models/{model}: the model's own task
    fal_submit,         // POST /fal-ai/{model}
    fal_result,         // GET  /fal-ai/…/requests/{id}
    fal_status,         // GET  /fal-ai/…/requests/{id}/status
    replicate_predict,  // POST /replicate/v1/[models/{owner}/{name}/]predictions
    file,               // GET  /hf-files/{id}
  };
  Kind kind = Kind::none;
  std::string provider;  // the first path segment (HF provider name); "" for provider-less routes
  std::string model;     // model id from the path, percent-decoded ("" when the body names it)
  Task task = Task::conversational;  // pipeline
  std::string id;                    // fal request id, file id
  bool queue = false;                // fal: ?_subdomain=queue
};

// Recognises an HF route from the request target (path and query). Never matches /v1/… or any
// other path whose first segment is not a provider name, "api", "models" or "hf-files".
Route match(std::string_view target);

// ---------------------------------------------------------------------------------------------
// Requests

inline constexpr std::size_t kMaxInputs = 2048;         // texts in one feature-extraction call
inline constexpr std::size_t kMaxInputBytes = 1 << 20;  // bytes of one input text
inline constexpr std::size_t kMaxPromptBytes = 32000;   // text-to-image prompt
inline constexpr int kMaxImageSide = 8192;              // width, height
inline constexpr int kMaxImages = 10;                   // images per request
inline constexpr int kMaxSteps = 1000;                  // num_inference_steps

// HF feature-extraction body {"inputs": string | string[], "normalize", "truncate",
// "prompt_name", "truncation_direction", "dimensions", "encoding_format", "parameters"} into the
// canonical request (body = OpenAI /v1/embeddings shape with float encoding). *single is true
// when `inputs` was one string (the answer is then one vector, not a list).
bool parse_feature_extraction(std::string_view body, std::string_view model, EmbeddingsRequest& out,
                              bool& single, Error& err);

// HF text-to-image body {"inputs": prompt, "parameters": {negative_prompt, width, height,
// num_inference_steps, guidance_scale, seed, target_size{width,height}, scheduler}}.
bool parse_text_to_image(std::string_view body, std::string_view model, ImageRequest& out,
                         Error& err);
// fal's body {prompt, image_size {width,height} | "square_hd"|…, width, height, num_images, seed,
// num_inference_steps, guidance_scale, negative_prompt, sync_mode, output_format, …}.
bool parse_fal_request(std::string_view body, std::string_view model, ImageRequest& out,
                       Error& err);
// Replicate's prediction body {"input": {prompt, width, height, num_outputs, seed,
// num_inference_steps, guidance | guidance_scale, negative_prompt, aspect_ratio, output_format,
// …}, "version"?}. *version gets `version` when present.
bool parse_replicate_request(std::string_view body, std::string_view model, ImageRequest& out,
                             std::string* version, Error& err);
// Together's images body {prompt, model, n, width, height, steps, seed, negative_prompt,
// guidance_scale, response_format: "base64" | "url"}.
bool parse_together_images(std::string_view body, ImageRequest& out, Error& err);

// The `model` string of a JSON body (the provider's model id on the per-provider routes); empty
// when absent or not a string. Reads only what it needs.
std::string body_model(std::string_view body);

// ---------------------------------------------------------------------------------------------
// Responses

// [f, f, ...] for a single input, [[...], [...]] for a list.
std::string render_feature_extraction(const EmbeddingsResponse& response, bool single);

// The Hub's answer to GET /api/models/{id}?expand[]=inferenceProviderMapping for a model of the
// catalog: {"_id","id","pipeline_tag","inferenceProviderMapping":[{"provider","providerId",
// "hfModelId","status":"live","task"}]}, one entry per HF provider name (first deployment wins;
// providers without an HF name are left out).
std::string render_hub_model(const config::ModelConfig& model, const config::Config& config);

// fal queue: the submit answer (status COMPLETED: the gateway ran it already), the status answer
// and the result {images:[{url,width?,height?,content_type}], seed?, prompt, timings,
// has_nsfw_concepts}. `base` is the gateway's own origin (scheme://host), `model` the fal id.
std::string render_fal_queued(std::string_view base, std::string_view model,
                              std::string_view request_id);
std::string render_fal_status(std::string_view base, std::string_view model,
                              std::string_view request_id);
std::string render_fal_result(const ImageRequest& request, const std::vector<std::string>& urls,
                              const ImageResponse& response);

// A succeeded Replicate prediction with `output` = the image URLs.
std::string render_replicate_prediction(std::string_view base, std::string_view id,
                                        std::string_view model, std::string_view version,
                                        const ImageRequest& request,
                                        const std::vector<std::string>& urls, std::int64_t created,
                                        double predict_seconds);

// Together/OpenAI-style images {"id","model","object":"list","data":[{"index","b64_json"|"url"}]}.
std::string render_together_images(std::string_view id, std::string_view model,
                                   const ImageResponse& response, bool want_url,
                                   const std::vector<std::string>& urls);

// {"error": "<message>"}.
std::string error_body(const Error& err);

// The image content type from its first bytes (png, jpeg, webp, gif), else `fallback`.
std::string_view sniff_image_type(std::string_view bytes, std::string_view fallback);

// A random id of 32 lowercase hex characters (128 bits), for capability URLs.
std::string random_id();

// ---------------------------------------------------------------------------------------------
// What the gateway holds between calls: fal queue results (GET after the submit) and generated
// images served at /hf-files/{id} (fal and Replicate answer URLs, not bytes). Bounded by count,
// bytes and age; the oldest go first. Results are visible only to the key that created them;
// files to anyone holding the unguessable id. Thread-safe.
class ResultStore {
 public:
  struct Limits {
    std::size_t max_entries = 1024;
    std::size_t max_bytes = 256u << 20;
    std::chrono::seconds ttl{600};
  };
  ResultStore() : ResultStore(Limits{}) {}
  explicit ResultStore(Limits limits) : limits_(limits) {}

  // Stores a file; returns its id, or "" when it alone exceeds the byte limit.
  std::string put_file(std::string bytes, std::string content_type);
  // Stores a JSON result under a fresh id for `owner` (the key id); "" when too large.
  std::string put_result(std::string owner, std::string json);

  struct File {
    std::string bytes;
    std::string content_type;
  };
  std::optional<File> file(std::string_view id);
  std::optional<std::string> result(std::string_view id, std::string_view owner);

  std::size_t bytes() const;
  std::size_t size() const;

  // For tests: the clock the store reads.
  using Clock = std::chrono::steady_clock;
  void set_now_for_test(std::optional<Clock::time_point> now) { now_for_test_ = now; }

 private:
  struct Item {
    std::string owner;  // results only
    std::string data;
    std::string content_type;  // files only
    Clock::time_point expires;
  };
  std::string put(Item item);
  void evict_locked(Clock::time_point now, std::size_t incoming);
  Clock::time_point now() const { return now_for_test_ ? *now_for_test_ : Clock::now(); }

  Limits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Item> items_;
  std::deque<std::string> order_;  // insertion order, for eviction
  std::size_t bytes_ = 0;
  std::optional<Clock::time_point> now_for_test_;
};

}  // namespace infergate::api::hf
