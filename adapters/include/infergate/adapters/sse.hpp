// An incremental Server-Sent Events parser (WHATWG HTML, "9.2.6 Interpreting an event stream").
//
// Bytes arrive in arbitrary pieces; a line may be split anywhere, even between the CR and LF of
// a CRLF. Complete lines are parsed straight from the caller's buffer; only a line split across
// pieces is copied. Pull-style, so a coroutine can await between events:
//
//   parser.feed(piece);
//   while (parser.next(ev)) co_await deliver(ev);
//   if (parser.failed()) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace infergate::adapters {

struct SseEvent {
  std::string_view type;  // the `event:` field, "message" when none was given
  std::string_view data;  // `data:` lines joined with '\n'
  std::string_view id;    // the last event ID (persists across events, as the spec says)
};

class SseParser {
 public:
  static constexpr std::size_t kDefaultMaxEventBytes = 4 * 1024 * 1024;

  // `max_event_bytes` bounds one event's data + type and any single line.
  explicit SseParser(std::size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  // Supplies the next piece of the stream. Call only after next() returned false; `bytes` must
  // stay valid until next() returns false again.
  void feed(std::string_view bytes) { input_ = bytes; }

  // Dispatches the next complete event into `ev` (views valid until the next call to next()).
  // Returns false when the fed bytes are used up or after a failure.
  bool next(SseEvent& ev);

  // An event or line exceeded max_event_bytes; the stream cannot be resynchronised.
  bool failed() const { return failed_; }
  // Something was received since the last dispatched event (an incomplete event at EOF).
  bool pending() const { return !line_.empty() || !data_.empty() || !type_.empty(); }
  // The reconnection time from the last valid `retry:` field, or -1.
  std::int64_t retry_ms() const { return retry_ms_; }
  const std::string& last_event_id() const { return id_; }

 private:
  // Interprets one complete line; true when it dispatched an event.
  bool process_line(std::string_view line);
  bool fail();

  std::size_t max_event_bytes_;
  std::string_view input_;
  std::string line_;  // a line split across pieces, carried over
  std::string data_;
  std::string type_;
  std::string id_;
  std::int64_t retry_ms_ = -1;
  bool skip_lf_ = false;      // the previous piece ended with CR: a leading LF belongs to it
  bool first_line_ = true;    // a UTF-8 BOM is stripped from the stream's first line only
  bool clear_event_ = false;  // the last call dispatched: reset the buffers on the next one
  bool failed_ = false;
};

}  // namespace infergate::adapters
