// The official Anthropic TypeScript SDK against a running infergate's Messages API
// (POST /v1/messages), served by an OpenAI-type provider (run.sh: the gateway in front of
// infergate-mock-openai). Environment, as for openai_sdk.test.mjs:
//   GATEWAY_URL   e.g. http://127.0.0.1:8080/v1 (the Anthropic SDK takes the URL without /v1)
//   GATEWAY_KEY   a key allowed to use demo-chat, demo-tools and demo-fallback
//   MOCK_URL      optional, the mock's base URL: enables checks of what reached the upstream
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

const gatewayURL = process.env.GATEWAY_URL;
const apiKey = process.env.GATEWAY_KEY;
if (!gatewayURL || !apiKey) {
  throw new Error('GATEWAY_URL and GATEWAY_KEY must be set (tests/conformance/run.sh does this)');
}
const baseURL = gatewayURL.replace(/\/+$/, '').replace(/\/v1$/, '');
const mockURL = process.env.MOCK_URL;

// maxRetries 0: error tests must not wait for the SDK's backoff. The SDK sends the key as
// x-api-key, with anthropic-version.
const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

const PROMPT = 'Say hello to the conformance suite';
const PROMPT_WORDS = PROMPT.split(/\s+/).length;
// The mock answers 8 deterministic tokens by default, fewer when max_tokens is smaller.
const mockText = (n = 8) => Array.from({ length: n }, (_, i) => `tok${i}`).join(' ');
const MOCK_TEXT = mockText();
// The mock's tool call (demo-tools): get_weather with these arguments, in 4 fragments.
const MOCK_TOOL_ID = 'call_mock_weather_0';
const MOCK_TOOL_INPUT = { city: 'Paris', unit: 'celsius' };
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['city'],
  },
};

function userMessage(content = PROMPT) {
  return [{ role: 'user', content }];
}

function assertMessage(m, model) {
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.model, model);
  assert.equal(typeof m.id, 'string');
  assert.match(m.id, /^msg_./);
  assert.equal(m.stop_sequence, null);
}

function assertUsage(usage, inputTokens, outputTokens) {
  assert.ok(usage, 'usage present');
  assert.equal(usage.input_tokens, inputTokens);
  assert.equal(usage.output_tokens, outputTokens);
  assert.equal(usage.cache_read_input_tokens ?? 0, 0);
  assert.equal(usage.cache_creation_input_tokens ?? 0, 0);
}

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

// Anthropic's stream grammar: message_start, then blocks one at a time (start, deltas, stop) at
// increasing indexes, then message_delta and message_stop.
function assertEventOrder(events) {
  assert.equal(events[0]?.type, 'message_start');
  assert.deepEqual(events[0].message.content, []);
  assert.equal(events[0].message.stop_reason, null);
  let open = -1;
  let next = 0;
  let deltas = 0;
  for (const e of events.slice(1, -2)) {
    if (e.type === 'content_block_start') {
      assert.equal(open, -1, 'a block opened inside another');
      assert.equal(e.index, next);
      open = e.index;
      next += 1;
    } else if (e.type === 'content_block_delta') {
      assert.equal(e.index, open);
      deltas += 1;
    } else if (e.type === 'content_block_stop') {
      assert.equal(e.index, open);
      open = -1;
    } else {
      assert.fail(`unexpected ${e.type} between message_start and message_delta`);
    }
  }
  assert.equal(open, -1, 'a block was left open');
  assert.ok(deltas > 0, 'no content_block_delta');
  assert.equal(events.at(-2).type, 'message_delta');
  assert.equal(events.at(-1).type, 'message_stop');
}

async function lastUpstreamRequest() {
  const res = await fetch(`${mockURL}/_mock/last_request`);
  assert.equal(res.status, 200);
  return res.json();
}

describe('messages.create', () => {
  test('plain message: text block, end_turn, usage, public model name', async () => {
    const m = await client.messages.create({ model: 'demo-chat', max_tokens: 64, messages: userMessage() });
    assertMessage(m, 'demo-chat');
    assert.deepEqual(m.content, [{ type: 'text', text: MOCK_TEXT }]);
    assert.equal(m.stop_reason, 'end_turn');
    assertUsage(m.usage, PROMPT_WORDS, 8);
  });

  test('system prompt and max_tokens: stop_reason max_tokens', async () => {
    const system = 'You are a terse assistant';
    const m = await client.messages.create({
      model: 'demo-chat',
      max_tokens: 3,
      system: [{ type: 'text', text: system }],
      messages: userMessage(),
    });
    assert.deepEqual(m.content, [{ type: 'text', text: mockText(3) }]);
    assert.equal(m.stop_reason, 'max_tokens');
    assertUsage(m.usage, PROMPT_WORDS + system.split(/\s+/).length, 3);
  });

  test('withResponse exposes a JSON response', async () => {
    const { data, response } = await client.messages
      .create({ model: 'demo-chat', max_tokens: 64, messages: userMessage() })
      .withResponse();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(data.content[0].text, MOCK_TEXT);
  });

  test('raw stream (stream: true): the event grammar', async () => {
    const stream = await client.messages.create({
      model: 'demo-chat',
      max_tokens: 64,
      messages: userMessage(),
      stream: true,
    });
    const events = await collect(stream);
    assertEventOrder(events);
    assert.equal(events[0].message.model, 'demo-chat');
    assert.match(events[0].message.id, /^msg_./);
    const text = events
      .filter((e) => e.type === 'content_block_delta')
      .map((e) => {
        assert.equal(e.delta.type, 'text_delta');
        return e.delta.text;
      })
      .join('');
    assert.equal(text, MOCK_TEXT);
    const delta = events.at(-2);
    assert.equal(delta.delta.stop_reason, 'end_turn');
    assert.equal(delta.usage.output_tokens, 8);
  });

  test('non-streaming tool_use and the tool_result round trip', async () => {
    const m = await client.messages.create({
      model: 'demo-tools',
      max_tokens: 256,
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'auto' },
      messages: userMessage('What is the weather in Paris?'),
    });
    assertMessage(m, 'demo-tools');
    assert.equal(m.stop_reason, 'tool_use');
    const uses = m.content.filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 1);
    assert.equal(uses[0].id, MOCK_TOOL_ID);
    assert.equal(uses[0].name, 'get_weather');
    assert.deepEqual(uses[0].input, MOCK_TOOL_INPUT);

    const followUp = await client.messages.create({
      model: 'demo-chat',
      max_tokens: 64,
      tools: [WEATHER_TOOL],
      messages: [
        ...userMessage('What is the weather in Paris?'),
        { role: 'assistant', content: m.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: JSON.stringify({ temperature: 21 }) }],
        },
      ],
    });
    assert.equal(followUp.stop_reason, 'end_turn');
    assert.equal(followUp.content[0].text, MOCK_TEXT);
  });
});

describe('messages.stream', () => {
  test('text events and finalMessage()', async () => {
    const stream = client.messages.stream({ model: 'demo-chat', max_tokens: 64, messages: userMessage() });
    let text = '';
    stream.on('text', (delta) => {
      text += delta;
    });
    const m = await stream.finalMessage();
    assert.equal(text, MOCK_TEXT);
    assertMessage(m, 'demo-chat');
    assert.deepEqual(m.content, [{ type: 'text', text: MOCK_TEXT }]);
    assert.equal(m.stop_reason, 'end_turn');
    // Usage arrives with message_delta: input tokens too (message_start cannot know them yet).
    assertUsage(m.usage, PROMPT_WORDS, 8);
    assert.equal(await stream.finalText(), MOCK_TEXT);
  });

  test('a tool_use streamed as input_json_delta fragments', async () => {
    const stream = client.messages.stream({
      model: 'demo-tools',
      max_tokens: 256,
      tools: [WEATHER_TOOL],
      messages: userMessage('What is the weather in Paris?'),
    });
    let partial = '';
    stream.on('inputJson', (delta) => {
      partial += delta;
    });
    const m = await stream.finalMessage();
    assertMessage(m, 'demo-tools');
    assert.equal(m.stop_reason, 'tool_use');
    assert.equal(m.content.length, 1);
    const [use] = m.content;
    assert.equal(use.type, 'tool_use');
    assert.equal(use.id, MOCK_TOOL_ID);
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, MOCK_TOOL_INPUT);
    assert.deepEqual(JSON.parse(partial), MOCK_TOOL_INPUT);
    assertUsage(m.usage, 'What is the weather in Paris?'.split(/\s+/).length, 4);
  });

  test('fallback: the first deployment is down, the stream comes from the second', async () => {
    const m = await client.messages
      .stream({ model: 'demo-fallback', max_tokens: 64, messages: userMessage() })
      .finalMessage();
    assert.equal(m.model, 'demo-fallback');
    assert.equal(m.content[0].text, MOCK_TEXT);
  });

  test('a stream can be abandoned early', async () => {
    const stream = await client.messages.create({
      model: 'demo-chat',
      max_tokens: 64,
      messages: userMessage(),
      stream: true,
    });
    for await (const event of stream) {
      if (event.type === 'content_block_delta') break;
    }
    const m = await client.messages.create({ model: 'demo-chat', max_tokens: 64, messages: userMessage() });
    assert.equal(m.content[0].text, MOCK_TEXT);
  });
});

// POST /v1/messages/count_tokens ("Messages > Count tokens in a Message"), whatever provider
// serves the model: demo-claude's is Anthropic-type (infergate-mock-anthropic counts words of the
// system prompt, + (words + 1) per message, + (1 + description words) per tool); demo-chat's only
// provider is OpenAI-type, which has no count endpoint.
describe('messages.countTokens', () => {
  test('counts system, messages and tools through the provider', async () => {
    const r = await client.messages.countTokens({
      model: 'demo-claude',
      system: 'You are a scientist',
      messages: userMessage(),
      tools: [WEATHER_TOOL],
    });
    assert.deepEqual(r, { input_tokens: 4 + PROMPT_WORDS + 1 + 1 + WEATHER_TOOL.description.split(/\s+/).length });
    const bare = await client.messages.countTokens({ model: 'demo-claude', messages: userMessage() });
    assert.equal(bare.input_tokens, PROMPT_WORDS + 1);
  });

  test('a model none of whose providers counts: BadRequestError 400', async () => {
    await assert.rejects(client.messages.countTokens({ model: 'demo-chat', messages: userMessage() }), (err) => {
      assert.ok(err instanceof Anthropic.BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 400);
      assert.equal(err.error?.type, 'error');
      assert.equal(err.error?.error?.type, 'invalid_request_error');
      assert.match(err.error.error.message, /demo-chat/);
      assert.match(err.error.error.message, /counts tokens/);
      return true;
    });
  });
});

describe('errors', () => {
  // The Anthropic error shape: {"type":"error","error":{"type":...,"message":...}}.
  function assertApiError(err, cls, status, type) {
    assert.ok(err instanceof cls, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, status);
    assert.equal(err.error?.type, 'error');
    assert.equal(err.error?.error?.type, type);
    assert.equal(typeof err.error?.error?.message, 'string');
    assert.equal(err.type, type);
    return true;
  }

  test('unknown key: AuthenticationError 401', async () => {
    const stranger = new Anthropic({ baseURL, apiKey: 'ig-not-a-key-of-this-gateway', maxRetries: 0 });
    await assert.rejects(
      stranger.messages.create({ model: 'demo-chat', max_tokens: 64, messages: userMessage() }),
      (err) => assertApiError(err, Anthropic.AuthenticationError, 401, 'authentication_error'),
    );
  });

  test('unknown model: NotFoundError 404', async () => {
    await assert.rejects(
      client.messages.create({ model: 'no-such-model', max_tokens: 64, messages: userMessage() }),
      (err) => assertApiError(err, Anthropic.NotFoundError, 404, 'not_found_error'),
    );
  });

  test('missing max_tokens: BadRequestError 400 naming the field', async () => {
    await assert.rejects(
      client.messages.create({ model: 'demo-chat', messages: userMessage() }),
      (err) => {
        assertApiError(err, Anthropic.BadRequestError, 400, 'invalid_request_error');
        assert.match(err.error.error.message, /max_tokens/);
        return true;
      },
    );
  });

  test('unsupported content block: BadRequestError 400 naming its path', async () => {
    await assert.rejects(
      client.messages.create({
        model: 'demo-chat',
        max_tokens: 64,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Summarise' },
              { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } },
            ],
          },
        ],
      }),
      (err) => {
        assertApiError(err, Anthropic.BadRequestError, 400, 'invalid_request_error');
        assert.match(err.error.error.message, /messages\.0\.content\.1\.type/);
        return true;
      },
    );
  });

  test('errors are raised before streaming starts', async () => {
    await assert.rejects(
      client.messages.stream({ model: 'no-such-model', max_tokens: 64, messages: userMessage() }).finalMessage(),
      (err) => assertApiError(err, Anthropic.NotFoundError, 404, 'not_found_error'),
    );
  });
});

describe('what reaches the upstream', { skip: mockURL ? false : 'MOCK_URL not set' }, () => {
  test('translated into an OpenAI chat/completions request', async () => {
    // Other test files may call the mock at the same time: tag the request and retry until the
    // mock's last request is ours.
    const marker = `anthropic-upstream-check-${process.pid}-${Date.now()}`;
    let last;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const stream = client.messages.stream({
        model: 'demo-tools',
        max_tokens: 77,
        system: 'You are a weather bot',
        tools: [WEATHER_TOOL],
        tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
        stop_sequences: ['END'],
        temperature: 0.25,
        metadata: { user_id: marker },
        messages: userMessage(),
      });
      await stream.finalMessage();
      last = await lastUpstreamRequest();
      if (last.body?.user === marker) break;
    }
    assert.equal(last.body.user, marker);
    assert.equal(last.method, 'POST');
    assert.equal(last.body.model, 'mock-tools?tool_call=1');
    assert.equal(last.body.max_tokens, 77);
    assert.deepEqual(last.body.messages, [
      { role: 'system', content: 'You are a weather bot' },
      { role: 'user', content: PROMPT },
    ]);
    assert.deepEqual(last.body.tools, [
      {
        type: 'function',
        function: {
          name: WEATHER_TOOL.name,
          description: WEATHER_TOOL.description,
          parameters: WEATHER_TOOL.input_schema,
        },
      },
    ]);
    assert.deepEqual(last.body.tool_choice, { type: 'function', function: { name: 'get_weather' } });
    assert.equal(last.body.parallel_tool_calls, false);
    assert.deepEqual(last.body.stop, ['END']);
    assert.equal(last.body.temperature, 0.25);
    assert.equal(last.body.stream, true);
    assert.equal(last.body.stream_options?.include_usage, true);
    // The client's gateway key never travels upstream.
    assert.ok(!JSON.stringify(last.headers).includes(apiKey));
  });
});
