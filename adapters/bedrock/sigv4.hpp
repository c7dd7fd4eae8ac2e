// AWS Signature Version 4 for request headers (AWS IAM User Guide, "Create a signed AWS API
// request": canonical request, string to sign, signing key, signature), with OpenSSL's SHA-256
// and HMAC-SHA256. Pure functions: the clock is the caller's.
//
// Paths follow the rules for every service but S3: the path as sent on the wire is normalised
// (no empty, "." or ".." segments) and each segment is URI-encoded once more, so a Bedrock model
// id "a.b-v1:0" travels as "a.b-v1%3A0" and is signed as "a.b-v1%253A0".
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::adapters::sigv4 {

struct Credentials {
  std::string_view access_key_id;
  std::string_view secret_access_key;
  std::string_view session_token;  // empty: long-term credentials
  std::string_view region;         // e.g. us-east-1
  std::string_view service;        // e.g. bedrock
};

struct Request {
  std::string_view method = "POST";
  std::string_view path = "/";  // as sent on the wire (already percent-encoded), no query
  std::string_view query;       // after '?', without it; may be empty
  // Headers to sign besides those sign() adds (x-amz-date, x-amz-security-token); must include
  // `host`. Names in any case; values are trimmed and inner runs of spaces folded.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view payload;  // the body; its SHA-256 is the payload hash
};

struct Signed {
  std::string amz_date;        // X-Amz-Date value, YYYYMMDD'T'HHMMSS'Z'
  std::string authorization;   // Authorization header value
  std::string signed_headers;  // e.g. content-type;host;x-amz-date
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lowercase hex
};

// Signs `request` at `now`. The caller sends X-Amz-Date: amz_date, X-Amz-Security-Token (when a
// session token is set) and Authorization. No secret appears in any field but `authorization`
// (which carries only the access key id and the signature).
Signed sign(const Request& request, const Credentials& credentials,
            std::chrono::system_clock::time_point now);

// --- the steps, exposed for tests -----------------------------------------------------------

// YYYYMMDD'T'HHMMSS'Z' in UTC.
std::string amz_date(std::chrono::system_clock::time_point now);
// Lowercase hex SHA-256.
std::string sha256_hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string to_hex(std::string_view bytes);
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service);
// RFC 3986 percent-encoding of everything but A-Z a-z 0-9 - . _ ~ (and '/' when keep_slash),
// uppercase hex.
std::string uri_encode(std::string_view s, bool keep_slash);
// The canonical URI of a wire path (normalised, every segment encoded again; "/" when empty).
std::string canonical_uri(std::string_view path);
// The canonical query string: parameters decoded, re-encoded, sorted by name then value.
std::string canonical_query(std::string_view query);

}  // namespace infergate::adapters::sigv4
