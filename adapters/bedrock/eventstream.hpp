// The AWS event stream binary framing (`application/vnd.amazon.eventstream`), as Bedrock's
// ConverseStream and InvokeModelWithResponseStream answer with it. One message:
//
//   prelude:  total length (u32 BE) | headers length (u32 BE) | prelude CRC32 (u32 BE)
//   headers:  name length (u8) | name | value type (u8) | value      (repeated)
//   payload:  total - headers - 16 bytes
//   trailer:  message CRC32 (u32 BE) over everything before it
//
// Header value types: 0 true, 1 false, 2 byte, 3 short, 4 int, 5 long (big-endian signed),
// 6 byte array and 7 string (u16 BE length + bytes), 8 timestamp (i64 ms), 9 UUID (16 bytes).
// Reference: AWS SDK developer docs, "Event stream encoding" (awslabs/aws-c-event-stream).
//
// The decoder is incremental and pull-style like SseParser: bytes arrive in arbitrary pieces;
// a message split across pieces is buffered (bounded by max_message_bytes). A bad CRC or length
// cannot be resynchronised: the decoder fails for good.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::adapters::eventstream {

enum class ValueType : std::uint8_t {
  bool_true = 0,
  bool_false = 1,
  byte = 2,
  int16 = 3,
  int32 = 4,
  int64 = 5,
  bytes = 6,
  string = 7,
  timestamp = 8,
  uuid = 9,
};

struct Header {
  std::string name;
  ValueType type = ValueType::string;
  std::int64_t number = 0;  // bool (0/1), byte, int16, int32, int64, timestamp
  std::string bytes;        // bytes, string, uuid
};

struct Message {
  std::vector<Header> headers;
  std::string payload;

  const Header* find(std::string_view name) const;
  // The value of a string header, empty when absent or of another type.
  std::string_view string_header(std::string_view name) const;
};

enum class DecodeError : std::uint8_t {
  none,
  bad_length,   // total length below the minimum, or headers longer than the message allows
  too_large,    // total length above max_message_bytes, or headers above kMaxHeadersBytes
  prelude_crc,  // prelude CRC mismatch
  message_crc,  // message CRC mismatch
  bad_header,   // a header runs past the header block, or has an unknown type / empty name
};

std::string_view describe(DecodeError e);

class Decoder {
 public:
  static constexpr std::size_t kPreludeBytes = 12;
  static constexpr std::size_t kMinMessageBytes = 16;
  static constexpr std::size_t kDefaultMaxMessageBytes = 16 * 1024 * 1024;
  static constexpr std::size_t kMaxHeadersBytes = 128 * 1024;
  static constexpr std::size_t kMaxHeaders = 1024;

  explicit Decoder(std::size_t max_message_bytes = kDefaultMaxMessageBytes)
      : max_message_bytes_(max_message_bytes < kMinMessageBytes ? kMinMessageBytes
                                                                : max_message_bytes) {}

  // Supplies the next piece of the stream. Call after next() returned false.
  void feed(std::string_view bytes);
  // Decodes the next complete message into `msg`. False when more bytes are needed or after a
  // failure (see error()).
  bool next(Message& msg);

  bool failed() const { return error_ != DecodeError::none; }
  DecodeError error() const { return error_; }
  // Bytes of an incomplete message are buffered (a stream ending now was cut off).
  bool pending() const { return buffer_.size() > offset_; }

 private:
  bool fail(DecodeError e);

  std::size_t max_message_bytes_;
  std::string buffer_;
  std::size_t offset_ = 0;  // start of the next message in buffer_
  DecodeError error_ = DecodeError::none;
};

// Encodes a message (tests, fuzz seeds, mocks). Header values are written per their type.
std::string encode(const Message& msg);

// Convenience for building messages.
Header string_header(std::string name, std::string value);

}  // namespace infergate::adapters::eventstream
