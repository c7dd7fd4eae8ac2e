// The wire format of the mock OpenAI provider: behaviour parsing, request validation and the
// bodies it answers with. Pure functions, no I/O, so they test without sockets.
//
// The mock deliberately shares no code with api/: it is an independent reading of OpenAI's API
// reference, so a misreading in the gateway's dialect code shows up as a failing test instead of
// being mirrored by the mock.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::mock {

// Upper bounds for behaviour values: every number that comes from outside has one.
inline constexpr int kMaxBehaviourTokens = 100000;
inline constexpr int kMaxDelayMs = 600000;
inline constexpr int kMaxFailCount = 1000000;

// How one chat request is answered. Chosen per request from the model id ("name?k=v&k=v") and
// the x-mock-behaviour header ("k=v&k=v"), the header winning.
struct Behaviour {
  int latency_ms = -1;     // delay before answering; -1 = the server's --latency-ms
  int tokens = 8;          // content tokens ("tok0 tok1 ...")
  int token_delay_ms = 0;  // delay between streamed events
  int fail = 0;            // the first `fail` requests for this model id answer fail_status
  int fail_status = 500;
  int retry_after_s = -1;  // adds Retry-After to failure answers
  int reset_after = -1;    // stream: reset after K content events; JSON: after K body bytes
  bool stall = false;      // accept the request and never answer
  int stall_after = -1;    // stream K content events, then hang
  bool malformed = false;  // JSON: invalid body with 200; stream: a garbage data line
  bool tool_call = false;  // answer with a get_weather tool call
  bool usage = true;       // false: omit usage
  bool echo = false;       // content = the last user message's text
  int cached_tokens = 0;   // prompt_tokens_details.cached_tokens (capped at prompt_tokens)
  bool b64_only = false;   // images: always b64_json, whatever response_format says (gpt-image-1)
  bool parallel_tools = false;  // two tool calls in one turn (get_weather, then get_time)
  bool inspect = false;         // the content is a summary of the tool results and images received
};

// Applies "key=value&key=value" to `b`. Returns an empty string on success, else what is wrong
// (unknown key, value not a number or out of range): typos in test configs fail loudly.
std::string apply_behaviour(std::string_view spec, Behaviour& b);

// The behaviour of one request: defaults, then the model id's part after '?', then the header.
std::string behaviour_for(std::string_view model, std::string_view header, Behaviour& b);

// The fields of a chat/completions request the mock acts on.
struct ChatCall {
  std::string model;
  bool stream = false;
  bool include_usage = false;      // stream_options.include_usage
  std::int64_t prompt_tokens = 0;  // whitespace-separated words across message contents
  std::int64_t max_tokens = -1;    // max_completion_tokens or max_tokens; -1 = none
  std::string last_user_text;      // for echo=1
  std::string inspection;          // for inspect=1: inspection_text() of what the request carried
};

struct BadRequest {
  std::string message;
  std::string param;  // the offending field; empty = null
};

// Parses and validates a chat/completions body. nullopt on success.
std::optional<BadRequest> parse_chat(std::string_view body, ChatCall& call);

// Counts whitespace-separated words.
std::int64_t count_words(std::string_view text);

// OpenAI's error `type`, `code` (empty = null) and a default message for an HTTP status.
struct ErrorShape {
  std::string_view type;
  std::string_view code;
  std::string_view message;
};
ErrorShape error_shape(int status);

// {"error":{"message":...,"type":...,"param":...,"code":...}}; empty param/code become null.
std::string error_body(std::string_view message, std::string_view type, std::string_view param,
                       std::string_view code);

// Appends `s` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);

inline constexpr std::string_view kToolCallId = "call_mock_weather_0";
inline constexpr std::string_view kToolName = "get_weather";
// The arguments {"city":"Paris","unit":"celsius"}, streamed in these fragments.
inline constexpr std::array<std::string_view, 4> kToolArgumentFragments = {
    R"({"city":)", R"("Paris",)", R"("unit":)", R"("celsius"})"};

// The second call of parallel_tools=1: get_time, arguments {"timezone":"Europe/Paris"} in two
// fragments. The first call is the get_weather call above.
inline constexpr std::string_view kToolCallId2 = "call_mock_time_1";
inline constexpr std::string_view kToolName2 = "get_time";
inline constexpr std::array<std::string_view, 2> kTool2ArgumentFragments = {R"({"timezone":)",
                                                                            R"("Europe/Paris"})"};

// inspect=1: every mock says what tool results and images it received, read from ITS OWN wire
// format, in one shared sentence so a black-box test can check a translation end to end:
//   "saw: tool_result <id or name> <content>; image <media type> <N> bytes fnv1a=<8 hex>"
// (items in request order; "saw: nothing" when there were none). The image's bytes are the
// decoded base64, so the count and hash prove the very bytes arrived.
std::string describe_tool_result(std::string_view id_or_name, std::string_view content);
std::string describe_image(std::string_view media_type, std::string_view bytes);
std::string inspection_text(const std::vector<std::string>& items);

// Standard base64 (RFC 4648 section 4, '=' padding optional) to bytes; false on anything else.
bool base64_decode(std::string_view in, std::string& out);

// What one request answers, decided before any byte is written.
struct Answer {
  std::vector<std::string> pieces;  // content fragments; concatenated they are the content
  bool tool_call = false;
  bool parallel = false;  // with tool_call: a second call (get_time) follows the first
  std::string_view finish_reason = "stop";
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
  bool usage = true;

  // Number of streamed content events (content pieces or tool-argument fragments; with parallel,
  // also the event that opens the second call).
  std::size_t events() const {
    if (!tool_call) return pieces.size();
    return kToolArgumentFragments.size() + (parallel ? 1 + kTool2ArgumentFragments.size() : 0);
  }
};

Answer plan_answer(const ChatCall& call, const Behaviour& b);

// A whole chat.completion body.
std::string completion_body(const ChatCall& call, const Answer& answer, std::string_view id,
                            std::int64_t created);

// The chat.completion.chunk events of one stream, each as SSE bytes ("data: ...\n\n").
class ChunkWriter {
 public:
  ChunkWriter(const ChatCall& call, const Answer& answer, std::string_view id,
              std::int64_t created);

  // The first event: the assistant role (and, for a tool call, the call's id and name).
  void first(std::string& out) const;
  // Content event `i` (a piece, or a tool-argument fragment).
  void event(std::size_t i, std::string& out) const;
  // The event that carries finish_reason.
  void finish(std::string& out) const;
  // The usage chunk (empty choices) when the client asked for it and usage is on; else nothing.
  void usage(std::string& out) const;
  static void done(std::string& out);
  // A data line that is not JSON (malformed=1).
  static void garbage(std::string& out);

 private:
  void open(std::string& out) const;
  void close(std::string& out, std::string_view finish_reason) const;

  const Answer& answer_;
  std::string prefix_;  // {"id":...,"choices":[{"index":0,"delta":
  bool usage_null_;     // include_usage: every chunk carries "usage":null
};

// ---------------------------------------------------------------------------------------------
// Non-chat routes: /v1/embeddings, /v1/images/generations, /v1/completions.

inline constexpr int kDefaultEmbeddingDims = 8;
inline constexpr int kMaxEmbeddingDims = 4096;
inline constexpr std::size_t kMaxMockInputs = 2048;

// The fields of an embeddings request the mock acts on.
struct EmbeddingsCall {
  std::string model;
  std::vector<std::string> inputs;  // texts; a token array becomes its ids joined by spaces
  bool base64 = false;              // encoding_format "base64"
  int dims = kDefaultEmbeddingDims;
  std::int64_t prompt_tokens = 0;  // words of the texts + ids of the token arrays
};
std::optional<BadRequest> parse_embeddings(std::string_view body, EmbeddingsCall& call);

// A deterministic unit vector of `dims` values for `text` (FNV-1a seeded splitmix64): the same
// text always embeds the same, different texts differ.
std::vector<float> embedding_for(std::string_view text, int dims);

// {"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"}; with
// base64 the vectors are base64 of little-endian float32.
std::string embeddings_body(const EmbeddingsCall& call);

// The fields of an image request the mock acts on.
struct ImageCall {
  std::string model;
  std::string prompt;
  int n = 1;
  bool url = false;  // response_format "url" (default b64_json, as gpt-image-1 answers)
};
std::optional<BadRequest> parse_image(std::string_view body, ImageCall& call);

// A valid 1x1 PNG the image route returns (base64) or serves at kImagePath.
std::string_view tiny_png();
inline constexpr std::string_view kImagePath = "/_mock/images/tiny.png";
// {"created","data":[{"b64_json"|"url","revised_prompt"}],"usage"}; urls point at
// `base` + kImagePath (base: "http://host:port" of the mock as the client reached it).
std::string images_body(const ImageCall& call, std::string_view base, std::int64_t created);

// Standard base64 of `bytes`.
std::string base64(std::string_view bytes);

// The fields of a legacy completions request the mock acts on.
struct CompletionCall {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;
  std::string prompt;  // the first prompt (text, or token ids joined by spaces)
  std::int64_t prompt_tokens = 0;
  std::int64_t max_tokens = 16;  // OpenAI's default for /v1/completions
};
std::optional<BadRequest> parse_completion(std::string_view body, CompletionCall& call);

// The text pieces one completion answers (tok0 tok1 ..., cut by max_tokens) and its finish.
Answer plan_completion(const CompletionCall& call, const Behaviour& b);

// A whole text_completion object.
std::string text_completion_body(const CompletionCall& call, const Answer& answer,
                                 std::string_view id, std::int64_t created);
// One text_completion stream chunk ("data: ...\n\n") with `text` and `finish_reason` (empty =
// null); usage_chunk: the last chunk with empty choices and the usage.
void text_completion_chunk(const CompletionCall& call, std::string_view id, std::int64_t created,
                           std::string_view text, std::string_view finish_reason, std::string& out);
void text_completion_usage_chunk(const CompletionCall& call, const Answer& answer,
                                 std::string_view id, std::int64_t created, std::string& out);

}  // namespace infergate::mock
