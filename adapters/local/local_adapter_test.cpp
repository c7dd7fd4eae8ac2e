// The local adapter's token counting against the engine it wraps: the count is the prompt a chat
// call would decode (chat template with the generation prompt, then the model's vocabulary).
#include "local_adapter.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "infergate/engine.hpp"
#include "testmodel/testmodel.hpp"

namespace infergate::adapters {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

// A tiny generated model (synthetic byte-level BPE vocabulary with ChatML specials), removed at
// exit.
class TinyModel {
 public:
  TinyModel() {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("infergate-local-adapter-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "tiny.gguf").string();
    engine::testmodel::Spec spec;
    std::string error;
    ok_ = engine::testmodel::write_model(spec, path_, &error);
    EXPECT_TRUE(ok_) << error;
  }
  ~TinyModel() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
  bool ok_ = false;
};

config::ProviderConfig local_provider(const std::string& model_path) {
  config::ProviderConfig p;
  p.name = "local-test";
  p.type = "local";
  config::LocalEngineOptions o;
  o.model_path = model_path;
  o.threads = 1;
  o.context_size = 512;
  o.max_sequences = 2;
  p.local = o;
  return p;
}

api::ChatRequest request_of(json messages, json extra = json::object()) {
  api::ChatRequest r;
  r.model = "local-model";
  r.body = json{{"model", "local-model"}, {"messages", std::move(messages)}};
  for (auto it = extra.begin(); it != extra.end(); ++it) r.body[it.key()] = it.value();
  return r;
}

class NullSink final : public api::EventSink {
 public:
  asio::awaitable<bool> on_event(api::Event) override { co_return true; }
  bool committed() const override { return false; }
};

struct Counted {
  AttemptResult result;
  std::int64_t tokens = -1;
};

Counted count(Adapter& adapter, const config::ProviderConfig& p, const api::ChatRequest& req) {
  asio::io_context io;
  Counted c;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        CallContext ctx;
        Target target{&p, "tiny"};
        api::CountTokensResponse out;
        c.result = co_await adapter.count_tokens(req, target, ctx, out);
        c.tokens = out.input_tokens;
      },
      asio::detached);
  io.run();
  return c;
}

AttemptResult chat(Adapter& adapter, const config::ProviderConfig& p, const api::ChatRequest& req) {
  asio::io_context io;
  AttemptResult r;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        CallContext ctx;
        ctx.request_id = "req-1";
        Target target{&p, "tiny"};
        NullSink sink;
        r = co_await adapter.chat(req, target, ctx, sink);
      },
      asio::detached);
  io.run();
  return r;
}

TEST(LocalAdapter, CountTokensIsTheEnginesPromptCount) {
  TinyModel model;
  const auto provider = local_provider(model.path());
  std::string error;
  auto adapter = make_local_adapter(provider, &error);
  ASSERT_NE(adapter, nullptr) << error;

  const json messages = json::array({json{{"role", "system"}, {"content", "Be brief."}},
                                     json{{"role", "user"}, {"content", "Hello there"}}});
  const auto req = request_of(messages);
  const Counted c = count(*adapter, provider, req);
  ASSERT_TRUE(c.result.ok) << c.result.error.message;
  EXPECT_FALSE(c.result.usage.reported);  // a count is not usage

  // The engine's own count of the same conversation, loaded apart from the adapter.
  engine::EngineOptions eo;
  eo.threads = 1;
  eo.context_size = 512;
  auto e = engine::Engine::load(model.path(), eo, &error);
  ASSERT_NE(e, nullptr) << error;
  engine::GenerateRequest g;
  g.messages = {{"system", "Be brief."}, {"user", "Hello there"}};
  EXPECT_EQ(c.tokens, e->count_prompt_tokens(g));
  // The system message is counted: a longer one gives a longer prompt. (Without one, this
  // ChatML template writes its default system prompt.)
  const Counted longer_system =
      count(*adapter, provider,
            request_of(json::array({json{{"role", "system"}, {"content", "Be brief and polite."}},
                                    json{{"role", "user"}, {"content", "Hello there"}}})));
  ASSERT_TRUE(longer_system.result.ok);
  EXPECT_GT(longer_system.tokens, c.tokens);

  // A chat call on the same conversation decodes exactly that many prompt tokens.
  const AttemptResult r = chat(*adapter, provider, request_of(messages, {{"max_tokens", 1}}));
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.usage.prompt_tokens, c.tokens);

  // A longer conversation counts more, and again exactly what the engine counts.
  const Counted longer =
      count(*adapter, provider,
            request_of(json::array({json{{"role", "system"}, {"content", "Be brief."}},
                                    json{{"role", "user"}, {"content", "Hello there, again"}}})));
  ASSERT_TRUE(longer.result.ok);
  EXPECT_GT(longer.tokens, c.tokens);
  g.messages = {{"system", "Be brief."}, {"user", "Hello there, again"}};
  EXPECT_EQ(longer.tokens, e->count_prompt_tokens(g));
}

TEST(LocalAdapter, CountTokensRefusesWhatTheEngineCannotTake) {
  TinyModel model;
  const auto provider = local_provider(model.path());
  std::string error;
  auto adapter = make_local_adapter(provider, &error);
  ASSERT_NE(adapter, nullptr) << error;
  const json tool = json{{"type", "function"}, {"function", {{"name", "f"}}}};
  Counted c = count(*adapter, provider,
                    request_of(json::array({json{{"role", "user"}, {"content", "hi"}}}),
                               {{"tools", json::array({tool})}}));
  EXPECT_FALSE(c.result.ok);
  EXPECT_EQ(c.result.error.status, 400);
  EXPECT_EQ(c.result.error.param, "tools");
  c = count(*adapter, provider,
            request_of(json::array({json{
                {"role", "user"},
                {"content",
                 json::array({json{{"type", "image_url"},
                                   {"image_url", {{"url", "data:image/png;base64,AA"}}}}})}}})));
  EXPECT_FALSE(c.result.ok);
  EXPECT_EQ(c.result.error.status, 400);
}

}  // namespace
}  // namespace infergate::adapters
