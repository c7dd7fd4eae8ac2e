#include "sigv4.hpp"

#include <gtest/gtest.h>

namespace infergate::adapters::sigv4 {
namespace {

using namespace std::chrono;

constexpr std::string_view kKeyId = "AKIDEXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

// 2015-08-30T12:36:00Z, the time of every AWS example below.
system_clock::time_point example_time() { return system_clock::time_point(seconds(1440938160)); }

// The AWS Signature Version 4 test suite (aws-sig-v4-test-suite, as shipped in
// awslabs/aws-c-auth tests/aws-signing-test-suite/v4/<name>/): region us-east-1, service
// "service", host example.amazonaws.com, no body.
std::string suite_signature(std::string_view method, std::string_view path,
                            std::string_view query = {}, std::string_view token = {}) {
  Request r;
  r.method = method;
  r.path = path;
  r.query = query;
  r.headers = {{"Host", "example.amazonaws.com"}};
  const Credentials c{kKeyId, kSecret, token, "us-east-1", "service"};
  return sign(r, c, example_time()).signature;
}

TEST(SigV4, AwsTestSuiteGetVanilla) {
  Request r;
  r.method = "GET";
  r.path = "/";
  r.headers = {{"Host", "example.amazonaws.com"}};
  const auto s = sign(r, Credentials{kKeyId, kSecret, {}, "us-east-1", "service"}, example_time());
  EXPECT_EQ(s.amz_date, "20150830T123600Z");
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, AwsTestSuiteVectors) {
  // get-vanilla-query-order-key-case: parameters sorted by name.
  EXPECT_EQ(suite_signature("GET", "/", "Param2=value2&Param1=value1"),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  // post-vanilla
  EXPECT_EQ(suite_signature("POST", "/"),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  // get-utf8: the raw UTF-8 path "/\u1234" is signed as /%E1%88%B4.
  EXPECT_EQ(suite_signature("GET", "/\xE1\x88\xB4"),
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
  // get-space-normalized: "/example space/".
  EXPECT_EQ(suite_signature("GET", "/example space/"),
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
  // get-vanilla-with-session-token: x-amz-security-token is signed.
  EXPECT_EQ(suite_signature("GET", "/", {},
                            "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
}

// AWS General Reference, "Signature Version 4 signing process" worked example (IAM ListUsers):
// canonical request hash, derived signing key and signature as published.
TEST(SigV4, AwsDocsIamListUsersExample) {
  EXPECT_EQ(to_hex(signing_key(kSecret, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  Request r;
  r.method = "GET";
  r.path = "/";
  r.query = "Action=ListUsers&Version=2010-05-08";
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
               {"Host", "iam.amazonaws.com"}};
  const auto s = sign(r, Credentials{kKeyId, kSecret, {}, "us-east-1", "iam"}, example_time());
  EXPECT_EQ(sha256_hex(s.canonical_request),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

// A Bedrock Converse call: the model id's ':' travels as %3A and is signed as %253A (every
// service but S3 encodes the path once more). Expected values computed independently (Python
// hashlib/hmac over the canonical request written out by hand).
TEST(SigV4, BedrockModelIdIsEncodedTwice) {
  const std::string body = R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})";
  Request r;
  r.method = "POST";
  r.path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
  r.headers = {{"host", "bedrock-runtime.us-east-1.amazonaws.com"},
               {"content-type", "application/json"}};
  r.payload = body;
  const auto s =
      sign(r, Credentials{kKeyId, kSecret, "SESSIONTOKEN+/=EXAMPLE", "us-east-1", "bedrock"},
           example_time());
  EXPECT_EQ(s.canonical_request,
            "POST\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n\n"
            "content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\nx-amz-security-token:SESSIONTOKEN+/=EXAMPLE\n\n"
            "content-type;host;x-amz-date;x-amz-security-token\n"
            "c3335e07d6e89650bf94cb98664be69f8774dbc3198df221f113db0a59ea14f0");
  EXPECT_EQ(s.signature, "990174564333fdf28bea18ed4c3665cd4e2e84126f8a698baf2dfcff67187118");
  EXPECT_EQ(s.signed_headers, "content-type;host;x-amz-date;x-amz-security-token");
  // Nothing secret outside the signature.
  EXPECT_EQ(s.authorization.find(kSecret), std::string::npos);
  EXPECT_EQ(s.canonical_request.find(kSecret), std::string::npos);
}

TEST(SigV4, UriEncoding) {
  EXPECT_EQ(uri_encode("a.b-v1:0", false), "a.b-v1%3A0");
  EXPECT_EQ(uri_encode("arn:aws:bedrock:us-east-1:1:inference-profile/x", false),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx");
  EXPECT_EQ(uri_encode("-._~AZaz09 +*%", true), "-._~AZaz09%20%2B%2A%25");
  EXPECT_EQ(uri_encode("a/b", true), "a/b");
  EXPECT_EQ(canonical_uri(""), "/");
  EXPECT_EQ(canonical_uri("/"), "/");
  EXPECT_EQ(canonical_uri("/a//b/./c/../d/"), "/a/b/d/");
  EXPECT_EQ(canonical_uri("/model/x%2Fy/converse"), "/model/x%252Fy/converse");
  EXPECT_EQ(canonical_query("b=2&a=1&A=0&c"), "A=0&a=1&b=2&c=");
  EXPECT_EQ(canonical_query("k=a%20b&k=a+b"), "k=a%20b&k=a%2Bb");
}

TEST(SigV4, HeaderValuesAreTrimmedAndRepeatedNamesJoined) {
  Request r;
  r.method = "GET";
  r.path = "/";
  r.headers = {{"Host", "h"}, {"My-Header", "  a   b  "}, {"my-header", "c"}};
  const auto s = sign(r, Credentials{kKeyId, kSecret, {}, "r", "s"}, example_time());
  EXPECT_NE(s.canonical_request.find("my-header:a b,c\n"), std::string::npos)
      << s.canonical_request;
  EXPECT_EQ(s.signed_headers, "host;my-header;x-amz-date");
}

TEST(SigV4, DateFormat) {
  EXPECT_EQ(amz_date(system_clock::time_point(seconds(0))), "19700101T000000Z");
  EXPECT_EQ(amz_date(example_time() + milliseconds(999)), "20150830T123600Z");
}

}  // namespace
}  // namespace infergate::adapters::sigv4
