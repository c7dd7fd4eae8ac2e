// The mock server in-process, on an ephemeral loopback port, driven by a small Beast client.
#include "mock_server.hpp"

#include "mock_openai.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace infergate::mock {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;
using nlohmann::json;
using Response = http::response<http::string_body>;

constexpr auto kTimeout = std::chrono::seconds(10);

// A blocking-style client whose every operation has a deadline, so a misbehaving server fails a
// test instead of hanging it.
class Client {
 public:
  explicit Client(std::uint16_t port) : stream_(ioc_) {
    stream_.expires_after(kTimeout);
    stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  error_code send(http::verb verb, std::string target, std::string body = {},
                  std::vector<std::pair<std::string, std::string>> headers = {},
                  unsigned version = 11) {
    http::request<http::string_body> req{verb, target, version};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || verb == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
      req.prepare_payload();
    }
    req_ = std::move(req);
    error_code result;
    stream_.expires_after(kTimeout);
    http::async_write(stream_, req_, [&](error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  error_code read(Response& res) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    error_code result;
    stream_.expires_after(kTimeout);
    http::async_read(stream_, buf_, parser, [&](error_code ec, std::size_t) { result = ec; });
    run();
    if (!result) res = parser.release();
    return result;
  }

  // Reads at least `bytes` more raw bytes (head, chunk framing and all); `raw` is all read so far.
  error_code read_some(std::size_t bytes, std::string& raw) {
    error_code result;
    std::size_t got = 0;
    while (!result && got < bytes) {
      stream_.expires_after(kTimeout);
      stream_.async_read_some(buf_.prepare(4096), [&](error_code ec, std::size_t n) {
        result = ec;
        buf_.commit(n);
        got += n;
      });
      run();
    }
    raw = beast::buffers_to_string(buf_.data());
    return result;
  }

  Response call(http::verb verb, std::string target, std::string body = {},
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    Response res;
    EXPECT_FALSE(send(verb, std::move(target), std::move(body), std::move(headers)));
    EXPECT_FALSE(read(res));
    return res;
  }

  // Appends whatever has arrived without waiting.
  void drain(std::string& raw) {
    error_code ec;
    std::size_t n = stream_.socket().available(ec);
    if (!ec && n > 0) {
      auto got = stream_.socket().read_some(buf_.prepare(n), ec);
      buf_.commit(got);
    }
    raw = beast::buffers_to_string(buf_.data());
  }

  void close() { stream_.socket().close(); }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
};

std::string chat_body(std::string_view model, bool stream = false, std::string extra = {}) {
  json doc = {{"model", model},
              {"messages", {{{"role", "user"}, {"content", "hello mock world"}}}}};
  if (stream) doc["stream"] = true;
  std::string s = doc.dump();
  if (!extra.empty()) s.insert(s.size() - 1, "," + extra);
  return s;
}

class MockServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.threads = 2;
    server_.emplace(o);
    server_->start();
    port_ = server_->port();
  }
  void TearDown() override { server_.reset(); }

  json stats() { return json::parse(server_->stats_json()); }

  // Polls the stats until `pred` holds (the server notices a hang-up asynchronously).
  template <class Pred>
  bool eventually(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(stats())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  std::optional<Server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(MockServerTest, PlainChatOverKeepAlive) {
  Client c(port_);
  for (int i = 0; i < 3; ++i) {
    Response res = c.call(http::verb::post, "/v1/chat/completions", chat_body("gpt?tokens=4"));
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(res[http::field::content_type], "application/json");
    json doc = json::parse(res.body());
    EXPECT_EQ(doc["object"], "chat.completion");
    EXPECT_EQ(doc["model"], "gpt?tokens=4");
    EXPECT_EQ(doc["choices"][0]["message"]["content"], "tok0 tok1 tok2 tok3");
    EXPECT_EQ(doc["usage"]["prompt_tokens"], 3);
    EXPECT_EQ(doc["usage"]["completion_tokens"], 4);
  }
  json s = stats();
  EXPECT_EQ(s["chat_requests"], 3);
  EXPECT_EQ(s["models"]["gpt?tokens=4"], 3);
  EXPECT_EQ(s["connections_total"], 1);
}

TEST_F(MockServerTest, StreamEndsWithUsageAndDone) {
  Client c(port_);
  Response res =
      c.call(http::verb::post, "/v1/chat/completions",
             chat_body("gpt?tokens=3", true, R"("stream_options":{"include_usage":true})"));
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "text/event-stream; charset=utf-8");
  EXPECT_TRUE(res.chunked());
  const std::string& body = res.body();
  EXPECT_EQ(body.substr(body.size() - 14), "data: [DONE]\n\n");
  auto usage_at = body.rfind(R"("choices":[],"usage":{"prompt_tokens":3,"completion_tokens":3)");
  EXPECT_NE(usage_at, std::string::npos);
  EXPECT_TRUE(eventually([](const json& st) { return st["streams_completed"] == 1; }));
}

TEST_F(MockServerTest, Http10StreamIsUnchunkedAndCloses) {
  Client c(port_);
  ASSERT_FALSE(
      c.send(http::verb::post, "/v1/chat/completions", chat_body("m?tokens=2", true), {}, 10));
  Response res;
  ASSERT_FALSE(c.read(res));
  EXPECT_FALSE(res.chunked());
  EXPECT_NE(res.body().find("data: [DONE]\n\n"), std::string::npos);
  EXPECT_FALSE(res.keep_alive());
}

TEST_F(MockServerTest, FailCountsPerModelUntilReset) {
  Client c(port_);
  const std::string model = "m?fail=2&fail_status=429&retry_after=3";
  for (int i = 0; i < 2; ++i) {
    Response res = c.call(http::verb::post, "/v1/chat/completions", chat_body(model));
    ASSERT_EQ(res.result_int(), 429);
    EXPECT_EQ(res["Retry-After"], "3");
    json err = json::parse(res.body())["error"];
    EXPECT_EQ(err["code"], "rate_limit_exceeded");
    EXPECT_TRUE(err.contains("param"));
  }
  EXPECT_EQ(c.call(http::verb::post, "/v1/chat/completions", chat_body(model)).result_int(), 200);
  // Another model id has its own counter.
  EXPECT_EQ(
      c.call(http::verb::post, "/v1/chat/completions", chat_body(model + "&tokens=1")).result_int(),
      429);
  EXPECT_EQ(stats()["injected_failures"], 3);
  EXPECT_EQ(c.call(http::verb::post, "/_mock/reset").result_int(), 200);
  EXPECT_EQ(stats()["chat_requests"], 0);
  EXPECT_EQ(c.call(http::verb::post, "/v1/chat/completions", chat_body(model)).result_int(), 429);
}

TEST_F(MockServerTest, HeaderBehaviourOverridesModel) {
  Client c(port_);
  Response res = c.call(http::verb::post, "/v1/chat/completions", chat_body("m?tokens=9"),
                        {{"x-mock-behaviour", "fail=1&fail_status=503"}});
  EXPECT_EQ(res.result_int(), 503);
  EXPECT_EQ(json::parse(res.body())["error"]["type"], "server_error");
  res = c.call(http::verb::post, "/v1/chat/completions", chat_body("m"),
               {{"x-mock-behaviour", "tokens=1"}});
  EXPECT_EQ(json::parse(res.body())["choices"][0]["message"]["content"], "tok0");
}

TEST_F(MockServerTest, BadRequestsInOpenAIShape) {
  Client c(port_);
  Response res = c.call(http::verb::post, "/v1/chat/completions", R"({"model":"m","messages":3})");
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(json::parse(res.body())["error"]["param"], "messages");
  res = c.call(http::verb::post, "/v1/chat/completions", chat_body("m?tokns=2"));
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(json::parse(res.body())["error"]["param"], "model");
  res = c.call(http::verb::get, "/v1/nothing");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(json::parse(res.body())["error"]["message"], "Invalid URL (GET /v1/nothing)");
  res = c.call(http::verb::get, "/v1/chat/completions");
  EXPECT_EQ(res.result_int(), 404);
}

TEST_F(MockServerTest, ModelsList) {
  Client c(port_);
  Response res = c.call(http::verb::get, "/v1/models");
  ASSERT_EQ(res.result_int(), 200);
  json doc = json::parse(res.body());
  EXPECT_EQ(doc["object"], "list");
  ASSERT_FALSE(doc["data"].empty());
  EXPECT_EQ(doc["data"][0]["object"], "model");
}

TEST_F(MockServerTest, LastRequestShowsHeadersAndBody) {
  Client c(port_);
  EXPECT_EQ(c.call(http::verb::get, "/_mock/last_request").result_int(), 404);
  c.call(http::verb::post, "/v1/chat/completions",
         chat_body("up/model", false,
                   R"("tools":[{"type":"function"}],"response_format":{"type":"json_object"})"),
         {{"Authorization", "Bearer sk-upstream"}, {"X-Extra", "a"}});
  Response res = c.call(http::verb::get, "/_mock/last_request");
  ASSERT_EQ(res.result_int(), 200);
  json doc = json::parse(res.body());
  EXPECT_EQ(doc["method"], "POST");
  EXPECT_EQ(doc["target"], "/v1/chat/completions");
  EXPECT_EQ(doc["headers"]["authorization"], "Bearer sk-upstream");
  EXPECT_EQ(doc["headers"]["x-extra"], "a");
  EXPECT_EQ(doc["body"]["model"], "up/model");
  EXPECT_EQ(doc["body"]["response_format"]["type"], "json_object");
  EXPECT_EQ(doc["body"]["tools"].size(), 1u);
}

TEST_F(MockServerTest, LatencyDelaysTheAnswer) {
  Client c(port_);
  auto t0 = std::chrono::steady_clock::now();
  Response res = c.call(http::verb::post, "/v1/chat/completions", chat_body("m?latency_ms=150"));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
}

TEST_F(MockServerTest, ResetBeforeAnswering) {
  Client c(port_);
  ASSERT_FALSE(c.send(http::verb::post, "/v1/chat/completions", chat_body("m?reset_after=0")));
  Response res;
  error_code ec = c.read(res);
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == http::error::end_of_stream) << ec;
  EXPECT_EQ(stats()["resets"], 1);
}

TEST_F(MockServerTest, StreamResetAfterK) {
  Client c(port_);
  ASSERT_FALSE(
      c.send(http::verb::post, "/v1/chat/completions", chat_body("m?reset_after=2", true)));
  Response res;
  error_code ec = c.read(res);
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == http::error::partial_message) << ec;
  EXPECT_EQ(stats()["resets"], 1);
  EXPECT_EQ(stats()["streams_completed"], 0);
}

TEST_F(MockServerTest, MalformedAnswers) {
  Client c(port_);
  Response res = c.call(http::verb::post, "/v1/chat/completions", chat_body("m?malformed=1"));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(json::parse(res.body(), nullptr, false).is_discarded());
  res = c.call(http::verb::post, "/v1/chat/completions", chat_body("m?malformed=1", true));
  EXPECT_NE(res.body().find("data: {\"id\": not json"), std::string::npos);
}

TEST_F(MockServerTest, AbandonedStreamIsCounted) {
  {
    Client c(port_);
    ASSERT_FALSE(c.send(http::verb::post, "/v1/chat/completions",
                        chat_body("m?tokens=1000&token_delay_ms=20", true)));
    std::string raw;
    ASSERT_FALSE(c.read_some(200, raw));
    EXPECT_NE(raw.find("200 OK"), std::string::npos);
    EXPECT_TRUE(eventually([](const json& s) { return s["active_requests"] == 1; }));
    c.close();
  }
  EXPECT_TRUE(eventually(
      [](const json& s) { return s["abandoned_streams"] == 1 && s["active_requests"] == 0; }));
}

TEST_F(MockServerTest, StalledRequestEndsWhenClientLeaves) {
  {
    Client c(port_);
    ASSERT_FALSE(c.send(http::verb::post, "/v1/chat/completions", chat_body("m?stall=1")));
    EXPECT_TRUE(eventually([](const json& s) { return s["active_requests"] == 1; }));
    c.close();
  }
  EXPECT_TRUE(eventually(
      [](const json& s) { return s["abandoned_requests"] == 1 && s["active_requests"] == 0; }));
}

TEST_F(MockServerTest, StallAfterKEvents) {
  Client c(port_);
  ASSERT_FALSE(c.send(http::verb::post, "/v1/chat/completions",
                      chat_body("m?stall_after=2&tokens=5", true)));
  std::string raw;
  while (raw.find("tok1") == std::string::npos) ASSERT_FALSE(c.read_some(1, raw));
  // Two content events arrive, then nothing.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  c.drain(raw);
  EXPECT_EQ(raw.find("tok2"), std::string::npos);
  EXPECT_EQ(stats()["active_requests"], 1);
  c.close();
  EXPECT_TRUE(eventually([](const json& s) { return s["abandoned_streams"] == 1; }));
}

TEST_F(MockServerTest, ManyConnectionsAtOnce) {
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(port_));
    ASSERT_FALSE(clients.back()->send(http::verb::post, "/v1/chat/completions",
                                      chat_body("m?latency_ms=100")));
  }
  for (auto& c : clients) {
    Response res;
    ASSERT_FALSE(c->read(res));
    EXPECT_EQ(res.result_int(), 200);
  }
  EXPECT_EQ(stats()["connections_active"], kClients);
}

TEST_F(MockServerTest, ManyStalledRequestsAllHeldThenReleased) {
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(port_));
    ASSERT_FALSE(
        clients.back()->send(http::verb::post, "/v1/chat/completions", chat_body("m?stall=1")));
  }
  EXPECT_TRUE(eventually([](const json& s) { return s["active_requests"] == kClients; }));
  clients.clear();
  EXPECT_TRUE(eventually([](const json& s) {
    return s["active_requests"] == 0 && s["abandoned_requests"] == kClients &&
           s["connections_active"] == 0;
  }));
}

// --- non-chat routes -------------------------------------------------------------------------

TEST_F(MockServerTest, EmbeddingsAreDeterministicFloatOrBase64) {
  Client c(port_);
  auto a = c.call(http::verb::post, "/v1/embeddings",
                  R"({"model":"emb","input":["hello world","other"],"dimensions":4})");
  ASSERT_EQ(a.result_int(), 200u) << a.body();
  const json ja = json::parse(a.body());
  EXPECT_EQ(ja["object"], "list");
  ASSERT_EQ(ja["data"].size(), 2u);
  EXPECT_EQ(ja["data"][0]["object"], "embedding");
  EXPECT_EQ(ja["data"][1]["index"], 1);
  ASSERT_EQ(ja["data"][0]["embedding"].size(), 4u);
  EXPECT_NE(ja["data"][0]["embedding"], ja["data"][1]["embedding"]);
  EXPECT_EQ(ja["usage"]["prompt_tokens"], 3);
  auto again = c.call(http::verb::post, "/v1/embeddings",
                      R"({"model":"emb","input":"hello world","dimensions":4})");
  EXPECT_EQ(json::parse(again.body())["data"][0]["embedding"], ja["data"][0]["embedding"]);
  auto b = c.call(http::verb::post, "/v1/embeddings",
                  R"({"model":"emb","input":"hello world","encoding_format":"base64"})");
  const json jb = json::parse(b.body());
  ASSERT_TRUE(jb["data"][0]["embedding"].is_string());
  EXPECT_EQ(jb["data"][0]["embedding"].get<std::string>().size(), 44u);  // 8 floats, 32 bytes
  auto bad = c.call(http::verb::post, "/v1/embeddings", R"({"model":"emb","input":""})");
  EXPECT_EQ(bad.result_int(), 400u);
  EXPECT_EQ(json::parse(bad.body())["error"]["param"], "input");
  EXPECT_EQ(stats()["embeddings_requests"], 4);
}

TEST_F(MockServerTest, ImagesB64OrUrlServedByTheMock) {
  Client c(port_);
  auto a = c.call(http::verb::post, "/v1/images/generations",
                  R"({"model":"img","prompt":"an otter","n":2})");
  ASSERT_EQ(a.result_int(), 200u) << a.body();
  const json ja = json::parse(a.body());
  ASSERT_EQ(ja["data"].size(), 2u);
  EXPECT_EQ(ja["data"][0]["b64_json"], base64(tiny_png()));
  EXPECT_GT(ja["created"].get<std::int64_t>(), 0);
  auto u = c.call(http::verb::post, "/v1/images/generations",
                  R"({"model":"img","prompt":"an otter","response_format":"url"})");
  const json ju = json::parse(u.body());
  const std::string url = ju["data"][0]["url"];
  EXPECT_EQ(url, "http://127.0.0.1" + std::string(kImagePath));
  auto png = c.call(http::verb::get, std::string(kImagePath));
  EXPECT_EQ(png.result_int(), 200u);
  EXPECT_EQ(png[http::field::content_type], "image/png");
  EXPECT_EQ(png.body(), tiny_png());
}

TEST_F(MockServerTest, CompletionsPlainStreamAndFailures) {
  Client c(port_);
  auto a = c.call(http::verb::post, "/v1/completions",
                  R"({"model":"inst","prompt":"say this is a test","max_tokens":3})");
  ASSERT_EQ(a.result_int(), 200u) << a.body();
  const json ja = json::parse(a.body());
  EXPECT_EQ(ja["object"], "text_completion");
  EXPECT_EQ(ja["choices"][0]["text"], "tok0 tok1 tok2");
  EXPECT_EQ(ja["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(ja["usage"]["prompt_tokens"], 5);

  auto s = c.call(
      http::verb::post, "/v1/completions",
      R"({"model":"inst","prompt":"x","stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(s.result_int(), 200u);
  std::vector<json> chunks;
  std::size_t pos = 0;
  bool done = false;
  while ((pos = s.body().find("data: ", pos)) != std::string::npos) {
    const auto end = s.body().find("\n\n", pos);
    const std::string data = s.body().substr(pos + 6, end - pos - 6);
    if (data == "[DONE]")
      done = true;
    else
      chunks.push_back(json::parse(data));
    pos = end;
  }
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 10u);  // 8 tokens, finish, usage
  EXPECT_EQ(chunks[0]["object"], "text_completion");
  EXPECT_EQ(chunks[0]["choices"][0]["text"], "tok0");
  EXPECT_EQ(chunks[8]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chunks[9]["usage"]["completion_tokens"], 8);

  auto f1 = c.call(http::verb::post, "/v1/completions",
                   R"({"model":"inst?fail=1&fail_status=429&retry_after=3","prompt":"x"})");
  EXPECT_EQ(f1.result_int(), 429u);
  EXPECT_EQ(f1[http::field::retry_after], "3");
  auto f2 = c.call(http::verb::post, "/v1/completions",
                   R"({"model":"inst?fail=1&fail_status=429&retry_after=3","prompt":"x"})");
  EXPECT_EQ(f2.result_int(), 200u);
  EXPECT_EQ(stats()["injected_failures"], 1);
  auto typo = c.call(http::verb::post, "/v1/embeddings", R"({"model":"e?nope=1","input":"x"})");
  EXPECT_EQ(typo.result_int(), 400u);
  EXPECT_EQ(json::parse(typo.body())["error"]["param"], "model");
}

}  // namespace
}  // namespace infergate::mock
