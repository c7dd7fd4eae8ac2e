// infergate-mock-bedrock: a fake Amazon Bedrock runtime for integration tests. It speaks the
// Converse (JSON) and ConverseStream (application/vnd.amazon.eventstream) wire formats and
// VERIFIES each request's AWS Signature Version 4 against the credentials it was started with.
//
// The verification is written here from the SigV4 specification on purpose, apart from the
// gateway's signer (adapters/bedrock/sigv4.cpp), so that a bug shared by signer and checker
// cannot hide: only OpenSSL's SHA-256/HMAC primitives are common.
//
//   MOCK_AWS_ACCESS_KEY_ID=... MOCK_AWS_SECRET_ACCESS_KEY=... [MOCK_AWS_SESSION_TOKEN=...]
//   infergate-mock-bedrock --port 0 --port-file mock.port [--region us-east-1]
//
// Routes:
//   POST /model/{modelId}/converse          Converse answer
//   POST /model/{modelId}/converse-stream   ConverseStream answer (event stream, chunked)
//   POST /model/{modelId}/count-tokens      CountTokens answer {"inputTokens": N}, N counted as
//                                            bedrock_count.hpp says (same signature check)
//   GET  /_mock/last_request                 {target, model, body, signature_ok} of the last call
//   GET  /_mock/stats                        {requests, signature_failures}
// Behaviour by model id: contains "tools" -> a get_weather tool call (input streamed in three
// fragments); "parallel" -> two tool calls (get_weather, get_time), no text; "inspect" -> text
// saying what toolResult and image blocks arrived; "streamerror" -> ConverseStream sends two
// text deltas, then a modelStreamErrorException event; "throttle" -> 429 ThrottlingException;
// else text echoing the last user message. A bad or missing signature -> 403
// InvalidSignatureException (the error shape of the Bedrock API: x-amzn-ErrorType header,
// {"message": ...} body).
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "bedrock_count.hpp"

#include "bedrock_mock.hpp"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

struct Options {
  std::string access_key_id, secret, session_token;
  std::string region = "us-east-1";
  std::string service = "bedrock";
};

Options g_opts;
std::mutex g_mu;
json g_last = nullptr;
std::atomic<int> g_requests{0}, g_sig_failures{0};

// ---------------------------------------------------------------------------------------------
// SigV4 verification (AWS IAM User Guide, "Create a signed AWS API request").

std::string hex(const unsigned char* p, std::size_t n) {
  std::string out;
  char b[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    out += b;
  }
  return out;
}

std::string sha256(const std::string& s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  return hex(md, sizeof md);
}

std::string hmac(const std::string& key, const std::string& msg) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &n);
  return std::string(reinterpret_cast<char*>(md), n);
}

// Step 1, CanonicalURI: each path segment URI-encoded (again, for non-S3 services).
std::string encode_segment_chars(const std::string& seg) {
  std::string out;
  for (unsigned char c : seg) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

std::string canonical_path(const std::string& raw) {
  std::string out;
  std::string seg;
  for (std::size_t i = 0; i <= raw.size(); ++i) {
    if (i == raw.size() || raw[i] == '/') {
      if (i > 0) {
        out += '/';
        out += encode_segment_chars(seg);
      }
      seg.clear();
    } else {
      seg += raw[i];
    }
  }
  return out.empty() ? "/" : out;
}

std::string trim(std::string v) {
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  std::size_t i = 0;
  while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
  return v.substr(i);
}

// Empty when the signature checks out; else why not (never quoting secrets).
std::string verify(const http::request<http::string_body>& req) {
  const std::string auth(req[http::field::authorization]);
  const std::string amz_date(req["x-amz-date"]);
  const std::string prefix = "AWS4-HMAC-SHA256 Credential=";
  if (auth.rfind(prefix, 0) != 0) return "missing or non-SigV4 Authorization";
  const auto sh = auth.find(", SignedHeaders=");
  const auto sg = auth.find(", Signature=");
  if (sh == std::string::npos || sg == std::string::npos || sg < sh)
    return "malformed Authorization";
  const std::string credential = auth.substr(prefix.size(), sh - prefix.size());
  const std::string signed_headers = auth.substr(sh + 16, sg - sh - 16);
  const std::string signature = auth.substr(sg + 12);
  if (amz_date.size() != 16) return "missing X-Amz-Date";
  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/" + g_opts.region + "/" + g_opts.service + "/aws4_request";
  if (credential != g_opts.access_key_id + "/" + scope) return "wrong credential scope";

  // Within 15 minutes of now, as AWS requires.
  std::tm tm{};
  if (!strptime(amz_date.c_str(), "%Y%m%dT%H%M%SZ", &tm)) return "bad X-Amz-Date";
  const long skew = static_cast<long>(timegm(&tm) - std::time(nullptr));
  if (skew > 900 || skew < -900) return "request time too skewed";

  // Every required header must be signed.
  std::vector<std::string> names;
  for (std::size_t p = 0; p <= signed_headers.size();) {
    auto q = signed_headers.find(';', p);
    if (q == std::string::npos) q = signed_headers.size();
    names.push_back(signed_headers.substr(p, q - p));
    p = q + 1;
  }
  auto signs = [&](const std::string& n) {
    for (const auto& x : names)
      if (x == n) return true;
    return false;
  };
  if (!signs("host") || !signs("x-amz-date")) return "host and x-amz-date must be signed";
  if (!g_opts.session_token.empty()) {
    if (!signs("x-amz-security-token")) return "x-amz-security-token must be signed";
    if (std::string(req["x-amz-security-token"]) != g_opts.session_token)
      return "wrong security token";
  }

  std::string canonical_headers;
  for (const auto& n : names) {
    std::string joined;
    bool found = false;
    for (const auto& f : req) {
      std::string fname(f.name_string());
      for (auto& c : fname) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (fname != n) continue;
      if (found) joined += ",";
      joined += trim(std::string(f.value()));
      found = true;
    }
    if (!found) return "a signed header is missing";
    canonical_headers += n + ":" + joined + "\n";
  }
  const std::string target(req.target());
  const auto qpos = target.find('?');
  if (qpos != std::string::npos) return "unexpected query string";
  const std::string creq = std::string(req.method_string()) + "\n" + canonical_path(target) +
                           "\n\n" + canonical_headers + "\n" + signed_headers + "\n" +
                           sha256(req.body());
  const std::string sts = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + sha256(creq);
  std::string k = hmac("AWS4" + g_opts.secret, date);
  k = hmac(k, g_opts.region);
  k = hmac(k, g_opts.service);
  k = hmac(k, "aws4_request");
  const std::string raw = hmac(k, sts);
  const std::string want = hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (signature.size() != want.size() ||
      CRYPTO_memcmp(signature.data(), want.data(), want.size()) != 0)
    return "signature mismatch";
  return {};
}

// ---------------------------------------------------------------------------------------------
// Event stream framing: bedrock_mock.hpp (frame, event, exception_event).

using infergate::mock::bedrock::event;
using infergate::mock::bedrock::exception_event;

std::string chunk(const std::string& data) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

// ---------------------------------------------------------------------------------------------
// Answers

std::string url_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string last_user_text(const json& body) {
  std::string text;
  for (const auto& m : body["messages"]) {
    if (m.value("role", "") != "user") continue;
    for (const auto& c : m["content"])
      if (c.contains("text")) text = c["text"].get<std::string>();
  }
  return text;
}

std::string http_response(int status, const std::string& reason, const std::string& body,
                          const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nx-amzn-RequestId: mock-req-1\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string error_response(int status, const std::string& type, const std::string& message) {
  return http_response(status, "Error", json{{"message", message}}.dump(),
                       "x-amzn-ErrorType: " + type + ":http://internal.amazon.com/coral/\r\n");
}

std::string answer(const http::request<http::string_body>& req) {
  ++g_requests;
  const std::string target(req.target());
  if (req.method() == http::verb::get && target == "/_mock/last_request") {
    std::lock_guard lock(g_mu);
    return http_response(g_last.is_null() ? 404 : 200, "OK", g_last.dump());
  }
  if (req.method() == http::verb::get && target == "/_mock/stats") {
    return http_response(
        200, "OK",
        json{{"requests", g_requests.load()}, {"signature_failures", g_sig_failures.load()}}
            .dump());
  }
  const std::string prefix = "/model/";
  const auto slash = target.rfind('/');
  if (req.method() != http::verb::post || target.rfind(prefix, 0) != 0 || slash <= prefix.size())
    return error_response(404, "UnknownOperationException", "unknown route");
  const std::string op = target.substr(slash + 1);
  if (op != "converse" && op != "converse-stream" && op != "count-tokens")
    return error_response(404, "UnknownOperationException", "unknown operation");
  const std::string raw_model = target.substr(prefix.size(), slash - prefix.size());
  const std::string model = url_decode(raw_model);

  const std::string why = verify(req);
  const json body = json::parse(req.body(), nullptr, false);
  {
    std::lock_guard lock(g_mu);
    g_last = {{"target", target},
              {"model", model},
              {"signature_ok", why.empty()},
              {"body", body.is_discarded() ? json(nullptr) : body}};
  }
  if (!why.empty()) {
    ++g_sig_failures;
    std::cerr << "infergate-mock-bedrock: signature rejected: " << why << '\n';
    return error_response(403, "InvalidSignatureException",
                          "The request signature we calculated does not match the signature you "
                          "provided. (" +
                              why + ")");
  }
  if (op == "count-tokens") {
    std::int64_t n = 0;
    if (auto bad = infergate::mock::bedrock::count_tokens(req.body(), n))
      return error_response(400, "ValidationException", *bad);
    if (model.find("throttle") != std::string::npos)
      return error_response(429, "ThrottlingException",
                            "Too many requests, please wait before trying again.");
    return http_response(200, "OK", json{{"inputTokens", n}}.dump());
  }
  if (body.is_discarded() || !body.is_object() || !body.contains("messages") ||
      !body["messages"].is_array() || body["messages"].empty())
    return error_response(400, "ValidationException", "messages is required");
  const auto plan = infergate::mock::bedrock::plan_for(model);
  if (plan.throttle)
    return error_response(429, "ThrottlingException",
                          "Too many requests, please wait before trying again.");

  const auto tools = infergate::mock::bedrock::tool_uses(plan.tools);
  // "tools": a text block, then the call; "parallel": two toolUse blocks, no text.
  const std::string text = plan.inspect      ? infergate::mock::bedrock::inspect(body)
                           : plan.tools == 1 ? "Let me check."
                           : plan.tools > 1  ? ""
                                             : "mock bedrock says: " + last_user_text(body);
  const char* stop = tools.empty() ? "end_turn" : "tool_use";
  const json usage = {{"inputTokens", 7}, {"outputTokens", 5}, {"totalTokens", 12}};
  if (op == "converse") {
    json content = json::array();
    if (!text.empty()) content.push_back({{"text", text}});
    for (const auto& t : tools)
      content.push_back({{"toolUse", {{"toolUseId", t.id}, {"name", t.name}, {"input", t.input}}}});
    return http_response(
        200, "OK",
        json{{"output", {{"message", {{"role", "assistant"}, {"content", content}}}}},
             {"stopReason", stop},
             {"usage", usage},
             {"metrics", {{"latencyMs", 1}}}}
            .dump());
  }
  // ConverseStream ("ConverseStreamOutput"): messageStart, per block contentBlockStart (tool use
  // only), contentBlockDelta..., contentBlockStop, then messageStop and metadata.
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
      "x-amzn-RequestId: mock-req-2\r\nTransfer-Encoding: chunked\r\n\r\n";
  out += chunk(event("messageStart", {{"role", "assistant"}, {"p", "abc"}}));
  int index = 0;
  if (!text.empty()) {
    int deltas = 0;
    for (std::size_t pos = 0; pos < text.size(); pos += 6) {
      if (plan.stream_error && deltas == 2) {
        // Two deltas, then the exception the API sends in the stream after its 200: no
        // contentBlockStop, no messageStop.
        out += chunk(exception_event("modelStreamErrorException",
                                     "The model stream failed (mock streamerror)."));
        return out + "0\r\n\r\n";
      }
      out += chunk(event("contentBlockDelta", {{"contentBlockIndex", index},
                                               {"delta", {{"text", text.substr(pos, 6)}}}}));
      ++deltas;
    }
    out += chunk(event("contentBlockStop", {{"contentBlockIndex", index}}));
    ++index;
  }
  for (const auto& t : tools) {
    out += chunk(event("contentBlockStart",
                       {{"contentBlockIndex", index},
                        {"start", {{"toolUse", {{"toolUseId", t.id}, {"name", t.name}}}}}}));
    for (const auto& piece : t.fragments)
      out += chunk(event("contentBlockDelta", {{"contentBlockIndex", index},
                                               {"delta", {{"toolUse", {{"input", piece}}}}}}));
    out += chunk(event("contentBlockStop", {{"contentBlockIndex", index}}));
    ++index;
  }
  out += chunk(event("messageStop", {{"stopReason", stop}}));
  out += chunk(event("metadata", {{"usage", usage}, {"metrics", {{"latencyMs", 1}}}}));
  out += "0\r\n\r\n";
  return out;
}

void serve(tcp::socket sock) {
  boost::beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    boost::system::error_code ec;
    http::read(sock, buf, parser, ec);
    if (ec) return;
    const std::string out = answer(parser.get());
    asio::write(sock, asio::buffer(out), ec);
    if (ec || !parser.get().keep_alive()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", port_file;
  unsigned short port = 8082;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--host")
      host = v;
    else if (a == "--port")
      port = static_cast<unsigned short>(std::stoi(v));
    else if (a == "--port-file")
      port_file = v;
    else if (a == "--region")
      g_opts.region = v;
    else if (a == "--service")
      g_opts.service = v;
    else {
      std::cerr << "usage: infergate-mock-bedrock [--host H] [--port N] [--port-file F] "
                   "[--region R] [--service S]\n";
      return 2;
    }
  }
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  g_opts.access_key_id = env("MOCK_AWS_ACCESS_KEY_ID");
  g_opts.secret = env("MOCK_AWS_SECRET_ACCESS_KEY");
  g_opts.session_token = env("MOCK_AWS_SESSION_TOKEN");
  if (g_opts.access_key_id.empty() || g_opts.secret.empty()) {
    std::cerr << "infergate-mock-bedrock: set MOCK_AWS_ACCESS_KEY_ID and "
                 "MOCK_AWS_SECRET_ACCESS_KEY\n";
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    asio::io_context io;
    tcp::acceptor acceptor(io, {asio::ip::make_address(host), port});
    const unsigned bound = acceptor.local_endpoint().port();
    if (!port_file.empty()) {
      {
        std::ofstream f(port_file + ".tmp", std::ios::trunc);
        f << bound << '\n';
      }
      std::rename((port_file + ".tmp").c_str(), port_file.c_str());
    }
    std::cerr << "infergate-mock-bedrock listening on " << host << ':' << bound << '\n';
    for (;;) {
      tcp::socket sock(io);
      acceptor.accept(sock);
      std::thread(serve, std::move(sock)).detach();
    }
  } catch (const std::exception& e) {
    std::cerr << "infergate-mock-bedrock: " << e.what() << '\n';
    return 1;
  }
}
