// Cross-dialect: both official SDKs against a model served by an Anthropic-format provider
// (infergate-mock-anthropic behind `type: anthropic`), so each client dialect is exercised with a
// wire format other than its own: OpenAI client -> Anthropic upstream, and Anthropic client ->
// gateway -> Anthropic upstream through the canonical events. Tool-call arguments streamed in
// pieces must arrive complete and valid.
//
// Environment (set by run.sh): GATEWAY_URL (…/v1), GATEWAY_KEY (may use demo-claude and
// demo-claude-tools).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const baseURL = process.env.GATEWAY_URL;
const apiKey = process.env.GATEWAY_KEY;
assert.ok(baseURL && apiKey, 'GATEWAY_URL and GATEWAY_KEY must be set (run through run.sh)');

const openai = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
const anthropic = new Anthropic({ baseURL: baseURL.replace(/\/v1\/?$/, ''), apiKey, maxRetries: 0, timeout: 30_000 });
const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['city'],
  },
};
const expectedArgs = { city: 'Paris', unit: 'celsius' };

describe('OpenAI client, Anthropic upstream', () => {
  test('plain completion', async () => {
    const r = await openai.chat.completions.create({ model: 'demo-claude', messages: ask });
    assert.equal(r.model, 'demo-claude');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.match(r.choices[0].message.content, /tok0/);
    assert.ok(r.usage.completion_tokens > 0);
  });

  test('streamed text with usage', async () => {
    const stream = await openai.chat.completions.create({
      model: 'demo-claude', messages: ask, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usage = null;
    let finish = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.delta?.content ?? '';
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.match(text, /tok0/);
    assert.equal(finish, 'stop');
    assert.ok(usage && usage.completion_tokens > 0);
  });

  test('a tool call streamed in pieces arrives whole', async () => {
    const stream = await openai.chat.completions.create({
      model: 'demo-claude-tools', messages: ask, stream: true,
      tools: [{ type: 'function', function: weatherTool }],
    });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        for (const tc of c.delta?.tool_calls ?? []) {
          calls[tc.index] ??= { id: '', name: '', args: '' };
          if (tc.id) calls[tc.index].id = tc.id;
          if (tc.function?.name) calls[tc.index].name = tc.function.name;
          calls[tc.index].args += tc.function?.arguments ?? '';
        }
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'get_weather');
    assert.ok(calls[0].id.length > 0);
    assert.deepEqual(JSON.parse(calls[0].args), expectedArgs);
  });
});

describe('Anthropic client, Anthropic upstream through the gateway', () => {
  test('plain message', async () => {
    const m = await anthropic.messages.create({ model: 'demo-claude', max_tokens: 64, messages: ask });
    assert.equal(m.type, 'message');
    assert.equal(m.model, 'demo-claude');
    assert.equal(m.stop_reason, 'end_turn');
    assert.match(m.content[0].text, /tok0/);
    assert.ok(m.usage.output_tokens > 0);
  });

  test('a tool_use streamed as input_json_delta fragments', async () => {
    const stream = anthropic.messages.stream({
      model: 'demo-claude-tools', max_tokens: 64, messages: ask,
      tools: [{ name: weatherTool.name, description: weatherTool.description, input_schema: weatherTool.parameters }],
    });
    let fragments = 0;
    stream.on('inputJson', () => { fragments += 1; });
    const m = await stream.finalMessage();
    assert.equal(m.stop_reason, 'tool_use');
    const use = m.content.find((b) => b.type === 'tool_use');
    assert.ok(use, 'a tool_use block');
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, expectedArgs);
    assert.ok(fragments >= 1);
  });
});
