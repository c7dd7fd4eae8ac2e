#include "infergate/adapters/sse.hpp"

#include <cstring>

namespace infergate::adapters {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Position of the first CR or LF, or npos. memchr-based: the common line is a long data: line.
std::size_t find_eol(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  const void* lf = std::memchr(p, '\n', s.size());
  const char* lf_at = lf ? static_cast<const char*>(lf) : end;
  const void* cr = std::memchr(p, '\r', static_cast<std::size_t>(lf_at - p));
  const char* at = cr ? static_cast<const char*>(cr) : lf_at;
  return at == end ? std::string_view::npos : static_cast<std::size_t>(at - p);
}

}  // namespace

bool SseParser::fail() {
  failed_ = true;
  input_ = {};
  return false;
}

bool SseParser::next(SseEvent& ev) {
  if (failed_) return false;
  if (clear_event_) {
    clear_event_ = false;
    data_.clear();
    type_.clear();
  }
  while (!input_.empty()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (input_.front() == '\n') {
        input_.remove_prefix(1);
        continue;
      }
    }
    const std::size_t eol = find_eol(input_);
    if (eol == std::string_view::npos) {
      if (line_.size() + input_.size() > max_event_bytes_) return fail();
      line_.append(input_);
      input_ = {};
      return false;
    }
    std::string_view line = input_.substr(0, eol);
    if (!line_.empty()) {
      if (line_.size() + line.size() > max_event_bytes_) return fail();
      line_.append(line);
      line = line_;
    }
    if (input_[eol] == '\r') {
      if (eol + 1 < input_.size()) {
        input_.remove_prefix(input_[eol + 1] == '\n' ? eol + 2 : eol + 1);
      } else {
        skip_lf_ = true;
        input_.remove_prefix(eol + 1);
      }
    } else {
      input_.remove_prefix(eol + 1);
    }
    const bool dispatched = process_line(line);
    line_.clear();
    if (failed_) return false;
    if (dispatched) {
      clear_event_ = true;
      ev.type = type_.empty() ? std::string_view("message") : std::string_view(type_);
      ev.data = data_;
      ev.id = id_;
      return true;
    }
  }
  return false;
}

bool SseParser::process_line(std::string_view line) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  }
  if (line.empty()) {
    if (data_.empty()) {  // nothing to dispatch: reset the buffers (spec step for empty data)
      type_.clear();
      return false;
    }
    data_.pop_back();  // the LF appended after the last data line
    return true;
  }
  if (line.front() == ':') return false;  // comment (keep-alive pings)

  std::string_view field = line, value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (data_.size() + type_.size() + value.size() + 1 > max_event_bytes_) return fail();
    data_.append(value);
    data_ += '\n';
  } else if (field == "event") {
    if (data_.size() + value.size() > max_event_bytes_) return fail();
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      if (value.size() > max_event_bytes_) return fail();
      id_.assign(value);
    }
  } else if (field == "retry") {
    bool digits = !value.empty() && value.size() <= 15;  // 15 digits cannot overflow int64
    for (char ch : value) digits = digits && ch >= '0' && ch <= '9';
    if (digits) {
      std::int64_t v = 0;
      for (char ch : value) v = v * 10 + (ch - '0');
      retry_ms_ = v;
    }
  }
  return false;  // unknown fields are ignored
}

}  // namespace infergate::adapters
