#include "infergate/adapters/http_client.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "test_upstream.hpp"

namespace infergate::adapters {
namespace {

using namespace testing;
using namespace boost::asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

TEST(ParseUrl, Table) {
  Endpoint ep;
  ASSERT_TRUE(parse_url("https://api.openai.com/v1", ep));
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.host, "api.openai.com");
  EXPECT_EQ(ep.port, 443);
  EXPECT_EQ(ep.host_header, "api.openai.com");
  EXPECT_EQ(make_target(ep, "/chat/completions"), "/v1/chat/completions");

  ASSERT_TRUE(parse_url("HTTP://127.0.0.1:8000/", ep));
  EXPECT_FALSE(ep.tls);
  EXPECT_EQ(ep.port, 8000);
  EXPECT_EQ(ep.host_header, "127.0.0.1:8000");
  EXPECT_EQ(make_target(ep, "/chat/completions"), "/chat/completions");

  ASSERT_TRUE(parse_url("http://[::1]:9000/openai/deployments/x?api-version=2024-10-21", ep));
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.host_header, "[::1]:9000");
  EXPECT_EQ(make_target(ep, "/chat/completions"),
            "/openai/deployments/x/chat/completions?api-version=2024-10-21");

  ASSERT_TRUE(parse_url("http://host", ep));
  EXPECT_EQ(make_target(ep, ""), "/");

  for (const char* bad : {"", "ftp://x", "http://", "http://:80", "http://a:0", "http://a:65536",
                          "http://a:12x", "http://user:pw@host/", "http://a b/", "http://[::1/",
                          "http://h/\r\nX: y", "https://a\"b/"}) {
    std::string err;
    EXPECT_FALSE(parse_url(bad, ep, &err)) << bad;
    EXPECT_FALSE(err.empty());
  }
}

TEST(HttpRequest, HeaderInjectionStripped) {
  HttpRequest r;
  r.add_header("X-A", "v\r\nX-Injected: 1");
  EXPECT_EQ(r.headers, "X-A: vX-Injected: 1\r\n");
}

// A plain JSON answer on a keep-alive connection.
asio::awaitable<bool> answer_hello(Peer& p, const Request&) {
  co_return co_await p.write(response(200, "hello", "X-Test: a\r\n"));
}

TEST(HttpClient, RequestAndResponse) {
  TestUpstream up(answer_hello);
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    auto req = post(make_target(ep, "/chat/completions"), R"({"a":1})");
    req.add_header("Authorization", "Bearer k");
    auto resp = co_await client.send(ep, req, fast_options());
    EXPECT_EQ(resp.error(), TransportError::none);
    EXPECT_EQ(resp.status(), 200);
    EXPECT_EQ(resp.header("x-test"), "a");
    EXPECT_EQ(resp.content_length(), 5);
    std::string body;
    EXPECT_TRUE(co_await resp.read_all(body, 1024));
    EXPECT_EQ(body, "hello");
    EXPECT_TRUE(resp.done());
    EXPECT_EQ(client.idle_connections(), 1u);
  });
  auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].body, R"({"a":1})");
  EXPECT_EQ(reqs[0].header("host"), "127.0.0.1:" + std::to_string(up.port()));
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer k");
  EXPECT_EQ(reqs[0].header("content-length"), "7");
}

TEST(HttpClient, KeepAliveReuse) {
  TestUpstream up(answer_hello);
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    for (int i = 0; i < 3; ++i) {
      auto resp = co_await client.send(ep, post("/x", "{}"), fast_options());
      EXPECT_EQ(resp.status(), 200);
      EXPECT_EQ(resp.reused(), i > 0);
      std::string body;
      EXPECT_TRUE(co_await resp.read_all(body, 1024));
    }
    EXPECT_EQ(client.stats().connects, 1u);
    EXPECT_EQ(client.stats().reuses, 2u);
  });
  EXPECT_EQ(up.connections(), 1);
  auto reqs = up.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[2].connection, 1);
  EXPECT_EQ(reqs[2].index, 2);
}

TEST(HttpClient, ConnectionCloseIsNotPooled) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.write(response(200, "bye", "Connection: close\r\n"));
    co_return false;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto resp = co_await client.send(endpoint_of(up.url()), post("/x", "{}"), fast_options());
    std::string body;
    EXPECT_TRUE(co_await resp.read_all(body, 1024));
    EXPECT_EQ(client.idle_connections(), 0u);
  });
}

TEST(HttpClient, ChunkedPiecesArriveAsSent) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.write(sse_head() + chunk("data: 1\n\n"));
    co_await p.sleep(300ms);
    co_await p.write(chunk("data: 2\n\n") + std::string(kLastChunk));
    co_return true;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    const auto t0 = Clock::now();
    auto resp = co_await client.send(endpoint_of(up.url()), post("/x", "{}"), fast_options());
    EXPECT_EQ(resp.content_length(), -1);
    std::string_view piece;
    EXPECT_TRUE(co_await resp.read_some(piece));
    EXPECT_EQ(piece, "data: 1\n\n");
    EXPECT_LT(Clock::now() - t0, 250ms);  // relayed before the second piece was even written
    EXPECT_TRUE(co_await resp.read_some(piece));
    EXPECT_EQ(piece, "data: 2\n\n");
    EXPECT_FALSE(co_await resp.read_some(piece));
    EXPECT_TRUE(resp.done());
    EXPECT_EQ(resp.error(), TransportError::none);
    EXPECT_EQ(client.idle_connections(), 1u);
  });
}

TEST(HttpClient, PoolLimitWaitsForAFreeConnection) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.sleep(100ms);
    co_return co_await p.write(response(200, "ok"));
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    auto opt = fast_options();
    opt.max_connections = 1;
    auto one = [&]() -> asio::awaitable<int> {
      auto resp = co_await client.send(ep, post("/x", "{}"), opt);
      std::string body;
      co_await resp.read_all(body, 100);
      co_return resp.status();
    };
    auto [a, b] = co_await (one() && one());
    EXPECT_EQ(a, 200);
    EXPECT_EQ(b, 200);
    EXPECT_EQ(client.stats().pool_waits, 1u);
  });
  EXPECT_EQ(up.connections(), 1);
}

TEST(HttpClient, PoolExhaustedFailsRetryablyAfterConnectTimeout) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.sleep(1500ms);
    co_return co_await p.write(response(200, "late"));
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    auto opt = fast_options();
    opt.max_connections = 1;
    opt.connect_timeout = 200ms;
    auto slow = [&]() -> asio::awaitable<TransportError> {
      auto resp = co_await client.send(ep, post("/x", "{}"), opt);
      co_return resp.error();
    };
    auto waiting = [&]() -> asio::awaitable<std::pair<TransportError, Clock::duration>> {
      asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
      co_await t.async_wait(kTok);  // let the first request take the only connection
      const auto t0 = Clock::now();
      auto resp = co_await client.send(ep, post("/x", "{}"), opt);
      co_return std::make_pair(resp.error(), Clock::now() - t0);
    };
    auto [first, second] = co_await (slow() && waiting());
    EXPECT_EQ(first, TransportError::none);
    EXPECT_EQ(second.first, TransportError::pool_timeout);
    EXPECT_GE(second.second, 150ms);
    EXPECT_LT(second.second, 1000ms);
    EXPECT_TRUE(map_transport_error(second.first).retryable);
  });
}

TEST(HttpClient, ConnectRefusedIsRetryable) {
  std::uint16_t port;
  {
    asio::io_context io;
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of("http://127.0.0.1:" + std::to_string(port));
    auto resp = co_await client.send(ep, post("/x", "{}"), fast_options());
    EXPECT_EQ(resp.error(), TransportError::connect);
    const auto err = map_transport_error(resp.error());
    EXPECT_TRUE(err.retryable);
    EXPECT_EQ(err.status, 502);
  });
}

TEST(HttpClient, FirstByteTimeout) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.wait_close();  // never answers
    co_return false;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto opt = fast_options();
    opt.first_byte_timeout = 200ms;
    const auto t0 = Clock::now();
    auto resp = co_await client.send(endpoint_of(up.url()), post("/x", "{}"), opt);
    const auto took = Clock::now() - t0;
    EXPECT_EQ(resp.error(), TransportError::first_byte_timeout);
    EXPECT_GE(took, 180ms);
    EXPECT_LT(took, 2s);
    const auto err = map_transport_error(resp.error());
    EXPECT_EQ(err.status, 504);
    EXPECT_TRUE(err.retryable);
  });
  EXPECT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
}

TEST(HttpClient, IdleTimeoutMidStream) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.write(sse_head() + chunk("data: 1\n\n"));
    co_await p.wait_close();
    co_return false;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto opt = fast_options();
    opt.idle_timeout = 200ms;
    auto resp = co_await client.send(endpoint_of(up.url()), post("/x", "{}"), opt);
    std::string_view piece;
    EXPECT_TRUE(co_await resp.read_some(piece));
    const auto t0 = Clock::now();
    EXPECT_FALSE(co_await resp.read_some(piece));
    EXPECT_EQ(resp.error(), TransportError::idle_timeout);
    EXPECT_GE(Clock::now() - t0, 180ms);
    EXPECT_EQ(client.idle_connections(), 0u);
  });
  EXPECT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
}

TEST(HttpClient, TotalDeadline) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.write(sse_head());
    for (int i = 0; i < 100; ++i) {  // keeps trickling: never idle, never done
      co_await p.sleep(50ms);
      if (!co_await p.write(chunk(": ping\n"))) break;
    }
    co_return false;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto opt = fast_options();
    opt.deadline = Clock::now() + 400ms;
    auto resp = co_await client.send(endpoint_of(up.url()), post("/x", "{}"), opt);
    std::string body;
    EXPECT_FALSE(co_await resp.read_all(body, 1 << 20));
    EXPECT_EQ(resp.error(), TransportError::total_timeout);
    EXPECT_FALSE(body.empty());
  });
}

TEST(HttpClient, BodyLimits) {
  TestUpstream up([](Peer& p, const Request& r) -> asio::awaitable<bool> {
    if (r.target == "/cl") co_return co_await p.write(response(200, std::string(1000, 'x')));
    co_await p.write(sse_head() + chunk(std::string(60, 'a')) + chunk(std::string(60, 'b')) +
                     std::string(kLastChunk));
    co_return true;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    auto resp = co_await client.send(ep, post("/cl", "{}"), fast_options());
    std::string body;
    EXPECT_FALSE(co_await resp.read_all(body, 100));
    EXPECT_EQ(resp.error(), TransportError::too_large);
    auto resp2 = co_await client.send(ep, post("/chunked", "{}"), fast_options());
    body.clear();
    EXPECT_FALSE(co_await resp2.read_all(body, 100));
    EXPECT_EQ(resp2.error(), TransportError::too_large);
    EXPECT_LE(body.size(), 100u);
    EXPECT_EQ(client.idle_connections(), 0u);
  });
}

TEST(HttpClient, MalformedResponseIsProtocolError) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.write("SMTP ready\r\n\r\n");
    co_return false;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto resp = co_await client.send(endpoint_of(up.url()), post("/x", "{}"), fast_options());
    EXPECT_EQ(resp.error(), TransportError::protocol);
  });
}

TEST(HttpClient, StaleIdleConnectionIsNotReused) {
  // The server answers with keep-alive, then drops the connection while it sits in the pool.
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.write(response(200, "ok"));
    co_return false;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    for (int i = 0; i < 2; ++i) {
      auto resp = co_await client.send(ep, post("/x", "{}"), fast_options());
      EXPECT_EQ(resp.status(), 200);
      EXPECT_FALSE(resp.reused());
      std::string body;
      EXPECT_TRUE(co_await resp.read_all(body, 100));
      asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
      co_await t.async_wait(kTok);  // the FIN arrives
    }
    EXPECT_EQ(client.stats().stale_retries, 0u);
  });
  EXPECT_EQ(up.connections(), 2);
}

TEST(HttpClient, KeepAliveRaceIsRetriedOnce) {
  // The second request on a connection is read and the connection closed without an answer:
  // what a client sees when the server's idle timer fires as the request goes out.
  TestUpstream up([](Peer& p, const Request& r) -> asio::awaitable<bool> {
    if (r.index > 0) co_return false;
    co_return co_await p.write(response(200, "ok"));
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    for (int i = 0; i < 2; ++i) {
      auto resp = co_await client.send(ep, post("/x", "{}"), fast_options());
      EXPECT_EQ(resp.error(), TransportError::none);
      EXPECT_EQ(resp.status(), 200);
      std::string body;
      EXPECT_TRUE(co_await resp.read_all(body, 100));
    }
    EXPECT_EQ(client.stats().stale_retries, 1u);
  });
  EXPECT_EQ(up.connections(), 2);
}

TEST(HttpClient, FreshConnectionClosedWithoutAnswerIsNotRetried) {
  TestUpstream up([](Peer&, const Request&) -> asio::awaitable<bool> { co_return false; });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto resp = co_await client.send(endpoint_of(up.url()), post("/x", "{}"), fast_options());
    EXPECT_EQ(resp.error(), TransportError::reset);
    EXPECT_EQ(client.stats().stale_retries, 0u);
  });
  EXPECT_EQ(up.connections(), 1);
}

// Cancelling the awaiting coroutine (what the gateway's `||` does when the client disconnects)
// stops the upstream read at once and closes the connection: the server sees EOF.
TEST(HttpClient, CancellationMidBodyClosesConnection) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.write(sse_head() + chunk("data: 1\n\n"));
    co_await p.wait_close();
    co_return false;
  });
  Clock::time_point cancelled_at, read_ended;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    auto call = [&]() -> asio::awaitable<void> {
      auto resp = co_await client.send(ep, post("/x", "{}"), fast_options());
      std::string_view piece;
      co_await resp.read_some(piece);
      // Blocks (the server sends nothing more) until the cancellation aborts it: Beast's
      // tcp_stream passes the per-operation cancellation slot down to the socket.
      EXPECT_FALSE(co_await resp.read_some(piece));
      EXPECT_EQ(resp.error(), TransportError::cancelled);
      read_ended = Clock::now();
    };
    auto timer = [&]() -> asio::awaitable<void> {
      asio::steady_timer t(co_await asio::this_coro::executor, 150ms);
      co_await t.async_wait(kTok);
      cancelled_at = Clock::now();
    };
    co_await (call() || timer());
    EXPECT_EQ(client.idle_connections(), 0u);
  });
  EXPECT_LT(read_ended - cancelled_at, 100ms);
  ASSERT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
  EXPECT_LT(up.last_close() - cancelled_at, 500ms);
}

TEST(HttpClient, CancellationWhileWaitingForHeaderClosesConnection) {
  TestUpstream up([](Peer& p, const Request&) -> asio::awaitable<bool> {
    co_await p.wait_close();
    co_return false;
  });
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto ep = endpoint_of(up.url());
    auto call = [&]() -> asio::awaitable<void> {
      auto resp = co_await client.send(ep, post("/x", "{}"), fast_options());
      (void)resp;
    };
    auto timer = [&]() -> asio::awaitable<void> {
      asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
      co_await t.async_wait(kTok);
    };
    const auto t0 = Clock::now();
    co_await (call() || timer());
    EXPECT_LT(Clock::now() - t0, 1s);
    EXPECT_EQ(client.idle_connections(), 0u);
  });
  EXPECT_TRUE(wait_until([&] { return up.closed_by_peer() == 1; }, 2s));
}

// ---------------------------------------------------------------------------------------------
// TLS against a self-signed certificate made for the test.

struct TestCert {
  std::string cert_pem, key_pem;
};

TestCert make_cert(const char* dns_name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(dns_name), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  const std::string san = std::string("DNS:") + dns_name;
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san.c_str()},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  auto to_pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data;
    const long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return s;
  };
  TestCert c;
  c.cert_pem = to_pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  c.key_pem = to_pem(
      [&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(x);
  EVP_PKEY_free(key);
  return c;
}

class HttpClientTls : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = make_cert("localhost");
    server_ctx_.use_certificate_chain(asio::buffer(cert_.cert_pem));
    server_ctx_.use_private_key(asio::buffer(cert_.key_pem), ssl::context::pem);
    ca_file_ = std::filesystem::temp_directory_path() /
               ("infergate-net-test-ca-" + std::to_string(::getpid()) + ".pem");
    ca_file_str_ = ca_file_.string();
    std::ofstream(ca_file_) << cert_.cert_pem;
  }
  void TearDown() override { std::filesystem::remove(ca_file_); }

  // Sends one request and returns the transport result.
  TransportError call(const std::string& url, bool verify, bool with_ca) {
    TransportError result = TransportError::none;
    run_client([&](HttpClient& client) -> asio::awaitable<void> {
      auto opt = fast_options();
      opt.tls_verify = verify;
      if (with_ca) opt.ca_file = ca_file_str_;
      for (int i = 0; i < 2; ++i) {  // the second one reuses the TLS connection
        auto resp = co_await client.send(endpoint_of(url), post("/x", "{}"), opt);
        result = resp.error();
        if (result != TransportError::none) co_return;
        std::string body;
        EXPECT_TRUE(co_await resp.read_all(body, 100));
        EXPECT_EQ(body, "hello");
        EXPECT_EQ(resp.reused(), i == 1);
      }
    });
    return result;
  }

  TestCert cert_;
  ssl::context server_ctx_{ssl::context::tls_server};
  std::filesystem::path ca_file_;
  std::string ca_file_str_;
};

TEST_F(HttpClientTls, VerifiedWithCaFileAndSni) {
  TestUpstream up(answer_hello, &server_ctx_);
  EXPECT_EQ(call("https://localhost:" + std::to_string(up.port()), true, true),
            TransportError::none);
  EXPECT_EQ(up.last_sni(), "localhost");
  EXPECT_EQ(up.connections(), 1);
}

TEST_F(HttpClientTls, UntrustedCertificateFails) {
  TestUpstream up(answer_hello, &server_ctx_);
  const auto err = call("https://localhost:" + std::to_string(up.port()), true, false);
  EXPECT_EQ(err, TransportError::tls);
  EXPECT_TRUE(map_transport_error(err).retryable);
}

TEST_F(HttpClientTls, HostnameMismatchFails) {
  TestUpstream up(answer_hello, &server_ctx_);  // certificate names "localhost" only
  EXPECT_EQ(call(up.url(), true, true), TransportError::tls);
}

TEST_F(HttpClientTls, VerificationCanBeDisabled) {
  TestUpstream up(answer_hello, &server_ctx_);
  EXPECT_EQ(call(up.url(), false, false), TransportError::none);
  EXPECT_EQ(up.last_sni(), "");  // no SNI for an IP literal
}

TEST_F(HttpClientTls, MissingCaFileFails) {
  TestUpstream up(answer_hello, &server_ctx_);
  TransportError result = TransportError::none;
  run_client([&](HttpClient& client) -> asio::awaitable<void> {
    auto opt = fast_options();
    const auto missing =
        (std::filesystem::temp_directory_path() / "infergate-no-such-ca.pem").string();
    opt.ca_file = missing;
    auto resp = co_await client.send(endpoint_of(up.url()), post("/x", "{}"), opt);
    result = resp.error();
  });
  EXPECT_EQ(result, TransportError::tls);
}

}  // namespace
}  // namespace infergate::adapters
