// translate_bench: the per-chunk cost of stream translation, for every pair of client dialect
// (OpenAI, Anthropic) and provider wire format (OpenAI, Anthropic, Gemini, Bedrock).
//
// For each provider format a stream of N text deltas is built in that provider's documented shape
// (SSE for OpenAI, Anthropic and Gemini; AWS event-stream frames for Bedrock). One pass runs the
// whole per-chunk path the gateway runs: framing (SSE parser / event-stream decoder with CRCs) →
// the adapter's stream decoder (upstream JSON → canonical events) → the client dialect's stream
// writer (canonical events → SSE bytes). The result is the best of several timed rounds divided
// by the number of upstream chunks: nanoseconds of CPU per relayed chunk, no sockets involved
// (the socket side is stream_probe's "added gap").
//
//   translate_bench [--chunks N] [--rounds R] [--passes P]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "anthropic_codec.hpp"
#include "bedrock_codec.hpp"
#include "eventstream.hpp"
#include "gemini_codec.hpp"
#include "infergate/adapters/openai_codec.hpp"
#include "infergate/adapters/sse.hpp"
#include "infergate/api/anthropic.hpp"
#include "infergate/api/openai.hpp"

namespace {

using namespace infergate;
using Clock = std::chrono::steady_clock;

std::string token(int i) { return "tok" + std::to_string(i % 1000) + " "; }

// --- provider streams ------------------------------------------------------------------------

// OpenAI "The chat completion chunk object", with stream_options.include_usage.
std::string openai_stream(int n) {
  std::string s;
  const std::string head =
      R"({"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_4d82d0c2a8","choices":[{"index":0,"delta":)";
  s +=
      "data: " + head +
      R"({"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null})" +
      "\n\n";
  for (int i = 0; i < n; ++i) {
    s += "data: " + head + R"({"content":")" + token(i) +
         R"("},"logprobs":null,"finish_reason":null}],"usage":null})" + "\n\n";
  }
  s += "data: " + head + R"({},"logprobs":null,"finish_reason":"stop"}],"usage":null})" + "\n\n";
  s +=
      R"(data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":)" +
      std::to_string(n) + R"(,"total_tokens":)" + std::to_string(n + 12) + "}}\n\n";
  s += "data: [DONE]\n\n";
  return s;
}

// Anthropic Messages "Streaming messages": the basic streaming request's event flow.
std::string anthropic_stream(int n) {
  std::string s;
  s +=
      "event: message_start\ndata: "
      R"({"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}})"
      "\n\n";
  s += "event: content_block_start\ndata: "
       R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
       "\n\n";
  s += "event: ping\ndata: {\"type\": \"ping\"}\n\n";
  for (int i = 0; i < n; ++i) {
    s += "event: content_block_delta\ndata: "
         R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")" +
         token(i) + "\"}}\n\n";
  }
  s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
  s +=
      "event: message_delta\ndata: "
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":)" +
      std::to_string(n) + "}}\n\n";
  s += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  return s;
}

// Gemini streamGenerateContent?alt=sse: one GenerateContentResponse per event.
std::string gemini_stream(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    s += R"(data: {"candidates": [{"content": {"parts": [{"text": ")" + token(i) +
         R"("}],"role": "model"},"index": 0)" + (last ? R"(,"finishReason": "STOP")" : "") +
         R"(}],"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": )" +
         std::to_string(i + 1) + R"(,"totalTokenCount": )" + std::to_string(i + 10) +
         R"(},"modelVersion": "gemini-2.0-flash"})" + "\r\n\r\n";
  }
  return s;
}

// Bedrock ConverseStream: event-stream frames (":event-type" names the member).
std::string bedrock_stream(int n) {
  auto frame = [](std::string_view type, std::string payload) {
    adapters::eventstream::Message m;
    auto header = [&m](std::string_view name, std::string_view value) {
      adapters::eventstream::Header h;
      h.name = std::string(name);
      h.type = adapters::eventstream::ValueType::string;
      h.bytes = std::string(value);
      m.headers.push_back(std::move(h));
    };
    header(":event-type", type);
    header(":content-type", "application/json");
    header(":message-type", "event");
    m.payload = std::move(payload);
    return adapters::eventstream::encode(m);
  };
  std::string s;
  s += frame("messageStart", R"({"p":"abcd","role":"assistant"})");
  for (int i = 0; i < n; ++i) {
    s += frame("contentBlockDelta",
               R"({"contentBlockIndex":0,"delta":{"text":")" + token(i) + R"("},"p":"abcdef"})");
  }
  s += frame("contentBlockStop", R"({"contentBlockIndex":0,"p":"ab"})");
  s += frame("messageStop", R"({"p":"abc","stopReason":"end_turn"})");
  s += frame("metadata",
             R"({"metrics":{"latencyMs":312},"p":"a","usage":{"inputTokens":9,"outputTokens":)" +
                 std::to_string(n) + R"(,"totalTokens":)" + std::to_string(n + 9) + "}}");
  return s;
}

// --- client writers --------------------------------------------------------------------------

enum class Client { openai, anthropic };

struct Writer {
  explicit Writer(Client c)
      : client(c),
        openai("public-model", "chatcmpl-req", 1741570283, true),
        anthropic("public-model", "msg_req") {}
  void append(const api::Event& ev, std::string& out) {
    client == Client::openai ? openai.append(ev, out) : anthropic.append(ev, out);
  }
  void done(std::string& out) {
    client == Client::openai ? openai.append_done(out) : anthropic.append_done(out);
  }
  Client client;
  api::openai::StreamWriter openai;
  api::anthropic::StreamWriter anthropic;
};

// --- one pass per provider format: returns the bytes written (so nothing is optimised away) ---

struct Sink {
  explicit Sink(Client c) : writer(c) {}
  void take(std::vector<api::Event>& events) {
    for (const auto& ev : events) {
      payload.clear();
      writer.append(ev, payload);
      written += payload.size();
    }
    events.clear();
  }
  Writer writer;
  std::string payload;
  std::size_t written = 0;
};

// The upstream bytes arrive in reads of `read_size` (a chunk may straddle two reads).
template <class Feed>
void in_reads(std::string_view stream, std::size_t read_size, Feed&& feed) {
  for (std::size_t off = 0; off < stream.size(); off += read_size)
    feed(stream.substr(off, read_size));
}

constexpr std::size_t kReadSize = 4096;

std::size_t pass_openai(std::string_view stream, Client c) {
  Sink sink(c);
  adapters::SseParser parser;
  adapters::openai::ChunkDecoder decoder("sk-secret");
  adapters::SseEvent ev;
  std::vector<api::Event> events;
  in_reads(stream, kReadSize, [&](std::string_view piece) {
    parser.feed(piece);
    while (parser.next(ev)) {
      decoder.decode(ev.data, events, ev.type);
      sink.take(events);
    }
  });
  sink.writer.done(sink.payload);
  return sink.written + sink.payload.size();
}

std::size_t pass_anthropic(std::string_view stream, Client c) {
  Sink sink(c);
  adapters::SseParser parser;
  adapters::anthropic::StreamDecoder decoder("sk-ant-secret");
  adapters::SseEvent ev;
  std::vector<api::Event> events;
  in_reads(stream, kReadSize, [&](std::string_view piece) {
    parser.feed(piece);
    while (parser.next(ev)) {
      decoder.decode(ev.type, ev.data, events);
      sink.take(events);
    }
  });
  sink.writer.done(sink.payload);
  return sink.written + sink.payload.size();
}

std::size_t pass_gemini(std::string_view stream, Client c) {
  Sink sink(c);
  adapters::SseParser parser;
  adapters::gemini::ResponseDecoder decoder("AIza-secret");
  adapters::SseEvent ev;
  std::vector<api::Event> events;
  in_reads(stream, kReadSize, [&](std::string_view piece) {
    parser.feed(piece);
    while (parser.next(ev)) {
      decoder.decode(ev.data, events);
      sink.take(events);
    }
  });
  decoder.flush(events);
  sink.take(events);
  sink.writer.done(sink.payload);
  return sink.written + sink.payload.size();
}

std::size_t pass_bedrock(std::string_view stream, Client c) {
  Sink sink(c);
  adapters::eventstream::Decoder framing;
  adapters::bedrock::StreamDecoder decoder("req-id", "public-model", 1741570283);
  adapters::eventstream::Message msg;
  std::vector<api::Event> events;
  in_reads(stream, kReadSize, [&](std::string_view piece) {
    framing.feed(piece);
    while (framing.next(msg)) {
      decoder.decode(msg, events, "aws-secret");
      sink.take(events);
    }
  });
  sink.writer.done(sink.payload);
  return sink.written + sink.payload.size();
}

}  // namespace

int main(int argc, char** argv) {
  int chunks = 500, rounds = 7, passes = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (v <= 0 || v > 1000000) {
      std::fprintf(stderr, "translate_bench: bad value for %s\n", argv[i]);
      return 2;
    }
    if (flag == "--chunks") {
      chunks = v;
    } else if (flag == "--rounds") {
      rounds = v;
    } else if (flag == "--passes") {
      passes = v;
    } else {
      std::fprintf(stderr, "usage: translate_bench [--chunks N] [--rounds R] [--passes P]\n");
      return 2;
    }
  }
  struct Format {
    const char* name;
    std::string stream;
    std::size_t (*pass)(std::string_view, Client);
  };
  const Format formats[] = {
      {"openai", openai_stream(chunks), pass_openai},
      {"anthropic", anthropic_stream(chunks), pass_anthropic},
      {"gemini", gemini_stream(chunks), pass_gemini},
      {"bedrock", bedrock_stream(chunks), pass_bedrock},
  };
  std::printf("%-10s %-10s %10s %12s\n", "client", "provider", "chunks", "ns/chunk");
  std::size_t sink = 0;
  for (const Client client : {Client::openai, Client::anthropic}) {
    const char* client_name = client == Client::openai ? "openai" : "anthropic";
    for (const auto& f : formats) {
      // The output must carry every token (a broken pass would otherwise look fast).
      const std::size_t bytes = f.pass(f.stream, client);
      if (bytes < static_cast<std::size_t>(chunks) * 5) {
        std::fprintf(stderr, "translate_bench: %s -> %s wrote only %zu bytes\n", f.name,
                     client_name, bytes);
        return 1;
      }
      double best = 1e300;
      for (int r = 0; r < rounds; ++r) {
        const auto t0 = Clock::now();
        for (int p = 0; p < passes; ++p) sink += f.pass(f.stream, client);
        const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
        best = std::min(best, ns / passes / chunks);
      }
      std::printf("%-10s %-10s %10d %12.0f\n", client_name, f.name, chunks, best);
      std::printf("RESULT client=%s provider=%s ns_per_chunk=%.0f\n", client_name, f.name, best);
    }
  }
  return sink == 0 ? 1 : 0;
}
