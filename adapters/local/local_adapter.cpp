#include "local_adapter.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "infergate/engine.hpp"
#include "testmodel/testmodel.hpp"

namespace infergate::adapters {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
namespace engine = infergate::engine;

api::Error invalid(std::string message, std::string param) {
  return api::Error::make(api::ErrorKind::invalid_request, std::move(message), std::move(param),
                          "unsupported_by_local_engine");
}

// The text of an OpenAI message content: a string, or the text parts of an array.
bool content_text(const json& content, const std::string& where, std::string& out,
                  api::Error& err) {
  if (content.is_null()) return true;
  if (content.is_string()) {
    out = content.get<std::string>();
    return true;
  }
  for (const auto& part : content) {
    const auto type = part.value("type", "");
    if (type != "text") {
      err = invalid("The local engine reads text only; '" + type + "' content is not supported.",
                    where);
      return false;
    }
    out += part.value("text", "");
  }
  return true;
}

float number_or(const json& body, const char* key, float fallback) {
  auto it = body.find(key);
  return it != body.end() && it->is_number() ? it->get<float>() : fallback;
}

// The engine request for a validated OpenAI-shaped body; what the engine cannot honour is a 400
// naming the field, never silently ignored.
bool to_generate_request(const json& body, engine::GenerateRequest& g, api::Error& err) {
  for (const char* unsupported : {"tools", "functions", "logprobs", "audio"}) {
    auto it = body.find(unsupported);
    if (it != body.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>()) &&
        !(it->is_array() && it->empty())) {
      err = invalid(std::string("The local engine does not support '") + unsupported + "'.",
                    unsupported);
      return false;
    }
  }
  if (auto n = body.find("n"); n != body.end() && n->is_number_integer() && n->get<int>() != 1) {
    err = invalid("The local engine returns one choice ('n' must be 1).", "n");
    return false;
  }
  std::size_t i = 0;
  for (const auto& m : body["messages"]) {
    const std::string where = "messages[" + std::to_string(i++) + "]";
    engine::ChatMessage msg;
    msg.role = m.value("role", "");
    if (msg.role == "developer") msg.role = "system";
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      err = invalid("The local engine does not support tool calls.", where + ".tool_calls");
      return false;
    }
    if (auto c = m.find("content"); c != m.end()) {
      if (!content_text(*c, where + ".content", msg.content, err)) return false;
    }
    g.messages.push_back(std::move(msg));
  }
  auto& s = g.sampling;
  s.temperature = number_or(body, "temperature", 1.0f);
  s.top_p = number_or(body, "top_p", 1.0f);
  s.min_p = number_or(body, "min_p", 0.0f);
  s.presence_penalty = number_or(body, "presence_penalty", 0.0f);
  s.frequency_penalty = number_or(body, "frequency_penalty", 0.0f);
  s.repetition_penalty = number_or(body, "repetition_penalty", 1.0f);
  if (auto k = body.find("top_k"); k != body.end() && k->is_number_integer())
    s.top_k = std::max(0, k->get<int>());
  if (auto seed = body.find("seed"); seed != body.end() && seed->is_number_integer())
    s.seed = static_cast<std::uint64_t>(seed->get<std::int64_t>());
  g.max_tokens = 1 << 20;  // the engine caps it at what the context leaves
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (auto mt = body.find(key); mt != body.end() && mt->is_number_integer()) {
      g.max_tokens = mt->get<int>();
      break;
    }
  }
  if (auto stop = body.find("stop"); stop != body.end()) {
    if (stop->is_string()) g.stop.push_back(stop->get<std::string>());
    if (stop->is_array())
      for (const auto& x : *stop) g.stop.push_back(x.get<std::string>());
  }
  return true;
}

// Tokens travel from the engine's thread to the connection's executor through this mailbox.
struct Mailbox {
  explicit Mailbox(asio::any_io_executor ex) : executor(ex), wake(ex) {}
  asio::any_io_executor executor;
  asio::steady_timer wake;                // cancelled to wake the waiting coroutine
  std::deque<engine::TokenEvent> events;  // touched only on `executor`
};

class LocalAdapter final : public Adapter {
 public:
  explicit LocalAdapter(std::unique_ptr<engine::Engine> e) : engine_(std::move(e)) {}

  asio::awaitable<AttemptResult> chat(const api::ChatRequest& request, const Target& target,
                                      CallContext& ctx, api::EventSink& sink) override {
    AttemptResult result;
    // The engine applies the model's chat template; raw-prompt completion is not offered here.
    if (request.kind == api::ChatRequest::Kind::text_completion)
      co_return unsupported_operation(target, "text completions");
    engine::GenerateRequest g;
    if (!to_generate_request(request.body, g, result.error)) co_return result;

    auto box = std::make_shared<Mailbox>(co_await asio::this_coro::executor);
    const auto submitted = engine_->submit(std::move(g), [box](engine::TokenEvent&& ev) {
      asio::post(box->executor, [box, ev = std::move(ev)]() mutable {
        box->events.push_back(std::move(ev));
        box->wake.cancel();
      });
    });
    if (submitted.status == engine::SubmitStatus::queue_full) {
      result.error =
          api::Error::make(api::ErrorKind::unavailable,
                           "The local engine is busy: its queue is full.", "", "engine_overloaded");
      result.error.retryable = true;
      result.error.retry_after_s = 1;
      co_return result;
    }
    if (submitted.status != engine::SubmitStatus::accepted) {
      result.error = invalid(submitted.error, "messages");
      result.error.code = "invalid_request_error";
      co_return result;
    }
    // Whatever ends this coroutine early (client gone, sink closed), the slot is freed at once.
    struct CancelOnExit {
      engine::Engine* e;
      engine::RequestId id;
      bool armed = true;
      ~CancelOnExit() {
        if (armed) e->cancel(id);
      }
    } guard{engine_.get(), submitted.id};

    api::Event start;
    start.type = api::Event::Type::start;
    start.text = "chatcmpl-" + ctx.request_id;
    start.model = target.upstream_model;
    start.created = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    if (!co_await sink.on_event(std::move(start))) co_return result;

    api::Event text;
    text.type = api::Event::Type::text;
    for (;;) {
      while (box->events.empty()) {
        box->wake.expires_at(asio::steady_timer::time_point::max());
        co_await box->wake.async_wait(asio::as_tuple(asio::use_awaitable));
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none) {
          result.error = api::Error::make(api::ErrorKind::internal, "cancelled");
          co_return result;  // the guard cancels the engine request
        }
      }
      engine::TokenEvent ev = std::move(box->events.front());
      box->events.pop_front();
      if (!ev.text.empty()) {
        text.text = std::move(ev.text);
        if (!co_await sink.on_event(text)) co_return result;
      }
      if (ev.finish == engine::Finish::none) continue;

      guard.armed = false;  // the engine is done with this request
      result.usage.prompt_tokens = ev.prompt_tokens;
      result.usage.completion_tokens = ev.completion_tokens;
      result.usage.reported = true;
      if (ev.finish == engine::Finish::error || ev.finish == engine::Finish::cancelled) {
        result.error = api::Error::make(api::ErrorKind::internal,
                                        "The local engine failed: " + ev.error, "", "engine_error");
        if (sink.committed()) {
          api::Event e;
          e.type = api::Event::Type::error;
          e.error = result.error;
          co_await sink.on_event(std::move(e));
        }
        co_return result;
      }
      api::Event fin;
      fin.type = api::Event::Type::finish;
      fin.finish =
          ev.finish == engine::Finish::length ? api::FinishReason::length : api::FinishReason::stop;
      if (!co_await sink.on_event(std::move(fin))) co_return result;
      api::Event usage;
      usage.type = api::Event::Type::usage;
      usage.usage = result.usage;
      if (!co_await sink.on_event(std::move(usage))) co_return result;
      result.ok = true;
      co_return result;
    }
  }

  // Exact and offline: the request rendered with the model's chat template (with the generation
  // prompt, as a chat call would be) and tokenized with its vocabulary. What the engine cannot
  // take (tools, images) fails as chat does. Tokenizing a prompt is bounded (the engine caps
  // messages and prompt bytes) and short next to a forward pass, so it runs on the caller's
  // thread, as submit() does.
  asio::awaitable<AttemptResult> count_tokens(const api::ChatRequest& request, const Target&,
                                              CallContext&,
                                              api::CountTokensResponse& out) override {
    AttemptResult result;
    engine::GenerateRequest g;
    if (!to_generate_request(request.body, g, result.error)) co_return result;
    const int n = engine_->count_prompt_tokens(g);
    if (n < 0) {
      result.error =
          invalid("The local engine cannot render or tokenize this conversation.", "messages");
      result.error.code = "invalid_request_error";
      co_return result;
    }
    out.input_tokens = n;
    result.ok = true;
    co_return result;
  }

 private:
  std::unique_ptr<engine::Engine> engine_;
};

std::filesystem::path cache_dir() {
  if (const char* d = std::getenv("INFERGATE_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return std::filesystem::path(d) / "infergate";
  if (const char* d = std::getenv("HOME"); d && *d)
    return std::filesystem::path(d) / ".cache" / "infergate";
  return std::filesystem::temp_directory_path() / "infergate-cache";
}

}  // namespace

std::string ensure_demo_model(std::string* error) {
  engine::testmodel::Spec spec;
  engine::testmodel::apply_preset("demo", &spec);
  spec.type = engine::ggml::Type::Q8_0;
  spec.name = "infergate-demo";
  const auto dir = cache_dir();
  const auto path = dir / "infergate-demo-v1-q8_0.gguf";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path.string();
  std::filesystem::create_directories(dir, ec);
  // Written beside its final name, then renamed: a concurrent start never reads half a file.
  const auto tmp = dir / ("infergate-demo.tmp." + std::to_string(::getpid()));
  if (!engine::testmodel::write_model(spec, tmp.string(), error)) return {};
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    *error = "cannot write the demo model to " + path.string() + ": " + ec.message();
    return {};
  }
  return path.string();
}

std::unique_ptr<Adapter> make_local_adapter(const config::ProviderConfig& provider,
                                            std::string* error) {
  const config::LocalEngineOptions defaults;
  const auto& o = provider.local ? *provider.local : defaults;
  std::string path = o.model_path;
  if (path.empty()) {
    path = ensure_demo_model(error);
    if (path.empty()) return nullptr;
  }
  engine::EngineOptions eo;
  eo.threads = o.threads;
  eo.context_size = o.context_size;
  eo.max_sequences = o.max_sequences;
  eo.max_queue = o.max_queue;
  eo.kv_memory_bytes = o.kv_memory_mb * 1024 * 1024;
  eo.chat_template = o.chat_template;
  auto e = engine::Engine::load(path, eo, error);
  if (!e) return nullptr;
  return std::make_unique<LocalAdapter>(std::move(e));
}

}  // namespace infergate::adapters
