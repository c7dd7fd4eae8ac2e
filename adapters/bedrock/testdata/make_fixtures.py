#!/usr/bin/env python3
"""Writes the ConverseStream golden fixtures (*.bin) and the fuzz seeds.

Independent of the C++ encoder on purpose: framing per the AWS event stream encoding
(prelude: total length, headers length, CRC32 of both; headers; payload; CRC32 of all before),
CRC32 from zlib. Payload shapes: Amazon Bedrock API Reference, ConverseStreamOutput and the event
types it names (MessageStartEvent, ContentBlockStartEvent, ContentBlockDeltaEvent,
ContentBlockStopEvent, MessageStopEvent, ConverseStreamMetadataEvent); Bedrock pads each event
payload with a "p" member, which decoders must ignore.
Run from this directory: python3 make_fixtures.py
"""
import json
import shutil
import struct
import zlib


def header(name, type_, value=b""):
    n = name.encode()
    return bytes([len(n)]) + n + bytes([type_]) + value


def sheader(name, value):
    v = value.encode()
    return header(name, 7, struct.pack(">H", len(v)) + v)


def frame(headers, payload):
    total = 16 + len(headers) + len(payload)
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    msg = prelude + headers + payload
    return msg + struct.pack(">I", zlib.crc32(msg) & 0xFFFFFFFF)


def event(kind, body):
    hs = sheader(":event-type", kind) + sheader(":content-type", "application/json") + \
        sheader(":message-type", "event")
    return frame(hs, json.dumps(body, separators=(",", ":")).encode())


def exception(kind, message):
    hs = sheader(":exception-type", kind) + sheader(":content-type", "application/json") + \
        sheader(":message-type", "exception")
    return frame(hs, json.dumps({"message": message}).encode())


text = b"".join([
    event("messageStart", {"p": "abcdefghijk", "role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}, "p": "abcd"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": ", world"}, "p": "ab"}),
    event("contentBlockStop", {"contentBlockIndex": 0, "p": "abcdefghijklmnopq"}),
    event("messageStop", {"p": "abcdefghijklmnopqrstuv", "stopReason": "end_turn"}),
    event("metadata", {"metrics": {"latencyMs": 412}, "p": "abcdefg",
                       "usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 20,
                                 "cacheReadInputTokens": 3, "cacheWriteInputTokens": 1}}),
])

tools = b"".join([
    event("messageStart", {"p": "abc", "role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking both."},
                                "p": "abcd"}),
    event("contentBlockStop", {"contentBlockIndex": 0, "p": "ab"}),
    event("contentBlockStart", {"contentBlockIndex": 1, "p": "abcdef", "start": {
        "toolUse": {"name": "get_weather", "toolUseId": "tooluse_Paris01"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ""}},
                                "p": "a"}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {
        "input": "{\"city\": \"Pa"}}, "p": "abcde"}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {
        "input": "ris\", \"unit\""}}, "p": "ab"}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {
        "input": ": \"celsius\"}"}}, "p": "abc"}),
    event("contentBlockStop", {"contentBlockIndex": 1, "p": "abcd"}),
    event("contentBlockStart", {"contentBlockIndex": 2, "p": "ab", "start": {
        "toolUse": {"name": "get_weather", "toolUseId": "tooluse_Rome02"}}}),
    event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {
        "input": "{\"city\": \"Rome\"}"}}, "p": "abcdefg"}),
    event("contentBlockStop", {"contentBlockIndex": 2, "p": "abcd"}),
    event("messageStop", {"p": "abcdef", "stopReason": "tool_use"}),
    event("metadata", {"metrics": {"latencyMs": 903}, "p": "a",
                       "usage": {"inputTokens": 310, "outputTokens": 61, "totalTokens": 371}}),
])

reasoning = b"".join([
    event("messageStart", {"p": "abc", "role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {
        "text": "The user greets me."}}, "p": "ab"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {
        "signature": "EqoBCkgIARABGAIiQ"}}, "p": "ab"}),
    event("contentBlockStop", {"contentBlockIndex": 0, "p": "ab"}),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hi!"}, "p": "ab"}),
    event("contentBlockStop", {"contentBlockIndex": 1, "p": "ab"}),
    event("messageStop", {"p": "abc", "stopReason": "max_tokens"}),
    event("metadata", {"metrics": {"latencyMs": 100},
                       "usage": {"inputTokens": 5, "outputTokens": 9, "totalTokens": 14}}),
])

throttled = b"".join([
    event("messageStart", {"p": "abc", "role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Par"}, "p": "ab"}),
    exception("throttlingException",
              "Too many tokens, please wait before trying again."),
])

# One message with a header of every value type (0..9) and a binary payload.
all_types = frame(
    header("true", 0) + header("false", 1) + header("byte", 2, struct.pack(">b", -7)) +
    header("short", 3, struct.pack(">h", -300)) + header("int", 4, struct.pack(">i", 70000)) +
    header("long", 5, struct.pack(">q", -5000000000)) +
    header("bytes", 6, struct.pack(">H", 3) + b"\x00\x01\xff") +
    sheader("string", "caf\u00e9") +
    header("timestamp", 8, struct.pack(">q", 1440938160000)) +
    header("uuid", 9, bytes(range(16))),
    b"\x00payload\xff")

for name, data in [("converse_stream_text.bin", text), ("converse_stream_tools.bin", tools),
                   ("converse_stream_reasoning.bin", reasoning),
                   ("converse_stream_throttled.bin", throttled),
                   ("all_header_types.bin", all_types)]:
    with open(name, "wb") as f:
        f.write(data)
    shutil.copy(name, "fuzz/" + name)
