#include "infergate/adapters/upstream_error.hpp"

#include <ctime>

namespace infergate::adapters {

std::string_view describe(TransportError e) {
  switch (e) {
    case TransportError::none:
      return "no error";
    case TransportError::bad_url:
      return "upstream URL is invalid";
    case TransportError::resolve:
      return "upstream host name did not resolve";
    case TransportError::connect:
      return "upstream connection failed";
    case TransportError::tls:
      return "upstream TLS handshake or certificate verification failed";
    case TransportError::pool_timeout:
      return "no free upstream connection";
    case TransportError::connect_timeout:
      return "upstream connect timeout";
    case TransportError::first_byte_timeout:
      return "upstream did not answer in time";
    case TransportError::idle_timeout:
      return "upstream stalled mid-response";
    case TransportError::total_timeout:
      return "upstream call exceeded its deadline";
    case TransportError::reset:
      return "upstream closed the connection";
    case TransportError::protocol:
      return "upstream sent an invalid HTTP response";
    case TransportError::too_large:
      return "upstream response too large";
    case TransportError::cancelled:
      return "request cancelled";
  }
  return "upstream failure";
}

api::Error map_transport_error(TransportError e) {
  using api::ErrorKind;
  api::Error err;
  switch (e) {
    case TransportError::none:
      err = api::Error::make(ErrorKind::internal, "no error");
      break;
    case TransportError::bad_url:
      err = api::Error::make(ErrorKind::upstream, std::string(describe(e)), {}, "upstream_bad_url");
      err.retryable = true;  // a misconfigured deployment: the next one may work
      break;
    case TransportError::resolve:
    case TransportError::connect:
    case TransportError::tls:
      err = api::Error::make(ErrorKind::unavailable, std::string(describe(e)), {},
                             "upstream_unavailable");
      err.status = 502;  // the provider is unreachable, not the gateway overloaded
      err.retryable = true;
      break;
    case TransportError::pool_timeout:
      err = api::Error::make(ErrorKind::unavailable, std::string(describe(e)), {},
                             "upstream_pool_exhausted");
      err.retryable = true;
      break;
    case TransportError::connect_timeout:
    case TransportError::first_byte_timeout:
    case TransportError::idle_timeout:
    case TransportError::total_timeout:
      err = api::Error::make(ErrorKind::timeout, std::string(describe(e)), {}, "upstream_timeout");
      err.retryable = true;
      break;
    case TransportError::reset:
    case TransportError::protocol:
      err = api::Error::make(ErrorKind::upstream, std::string(describe(e)), {}, "upstream_error");
      err.retryable = true;
      break;
    case TransportError::too_large:
      err =
          api::Error::make(ErrorKind::upstream, std::string(describe(e)), {}, "upstream_too_large");
      break;
    case TransportError::cancelled:
      err = api::Error::make(ErrorKind::internal, std::string(describe(e)), {}, "cancelled");
      err.status = 499;  // client closed request (nginx's convention), for the access log
      break;
  }
  return err;
}

std::string scrub_message(std::string_view message, std::string_view secret,
                          std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(message.size(), max_bytes));
  if (secret.size() >= 6) {
    std::size_t pos = 0;
    for (;;) {
      const auto hit = message.find(secret, pos);
      if (hit == std::string_view::npos) break;
      out.append(message.substr(pos, hit - pos));
      out += "[redacted]";
      pos = hit + secret.size();
    }
    out.append(message.substr(pos));
  } else {
    out.assign(message);
  }
  if (out.size() > max_bytes) {
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out;
}

api::Error map_status_error(int status, std::string_view message, int retry_after_s,
                            std::string_view secret) {
  using api::ErrorKind;
  api::Error err;
  auto echoed = [&](std::string_view fallback) {
    std::string m = scrub_message(message, secret);
    return m.empty() ? std::string(fallback) : m;
  };
  auto generic = [&](std::string_view what) {
    return std::string(what) + " (upstream HTTP " + std::to_string(status) + ")";
  };
  if (status == 429) {
    err = api::Error::make(ErrorKind::rate_limited, "upstream rate limit exceeded", {},
                           "upstream_rate_limited");
    err.retryable = true;
  } else if (status == 401 || status == 403) {
    // The gateway's provider credentials are wrong. The upstream's message may quote part of the
    // key, so it is never echoed; the client did nothing wrong, so it is a 502.
    err = api::Error::make(ErrorKind::upstream, "upstream authentication failed", {},
                           "upstream_auth_failed");
    err.retryable = true;
  } else if (status == 400 || status == 422) {
    err = api::Error::make(ErrorKind::invalid_request, echoed("upstream rejected the request"));
  } else if (status == 404) {
    err = api::Error::make(ErrorKind::not_found, echoed("upstream model or route not found"));
  } else if (status == 413) {
    err = api::Error::make(ErrorKind::payload_too_large, echoed("request too large for upstream"));
  } else if (status == 408 || status >= 500) {
    err = api::Error::make(ErrorKind::upstream, generic("upstream error"), {}, "upstream_error");
    err.retryable = true;
  } else {
    // Redirects and other client errors: the deployment is misconfigured, not the request.
    err = api::Error::make(ErrorKind::upstream, generic("unexpected upstream response"), {},
                           "upstream_error");
  }
  err.retry_after_s = retry_after_s;
  return err;
}

namespace {

bool parse_digits(std::string_view s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + (ch - '0');
  }
  out = v;
  return true;
}

// IMF-fixdate (RFC 9110 section 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
bool parse_imf_fixdate(std::string_view s, std::time_t& out) {
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
    return false;
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int mon = -1;
  for (int i = 0; i < 12; ++i)
    if (s.substr(8, 3) == kMonths[i]) mon = i;
  int day, year, h, m, sec;
  if (mon < 0 || !parse_digits(s.substr(5, 2), day) || !parse_digits(s.substr(12, 4), year) ||
      !parse_digits(s.substr(17, 2), h) || !parse_digits(s.substr(20, 2), m) ||
      !parse_digits(s.substr(23, 2), sec) || day < 1 || day > 31 || h > 23 || m > 59 || sec > 60)
    return false;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  out = timegm(&tm);
  return out != static_cast<std::time_t>(-1);
}

}  // namespace

int parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return -1;
  int seconds = 0;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    if (value.size() > 9) return kMaxRetryAfterS;
    parse_digits(value, seconds);
    return std::min(seconds, kMaxRetryAfterS);
  }
  std::time_t when;
  if (!parse_imf_fixdate(value, when)) return -1;
  const auto delta = when - std::chrono::system_clock::to_time_t(now);
  if (delta <= 0) return 0;
  return delta > kMaxRetryAfterS ? kMaxRetryAfterS : static_cast<int>(delta);
}

}  // namespace infergate::adapters
