// The official OpenAI Node SDK against a running infergate (run.sh sets it up: the gateway in
// front of infergate-mock-openai). Environment:
//   GATEWAY_URL   e.g. http://127.0.0.1:8080/v1
//   GATEWAY_KEY   a key allowed to use demo-chat, demo-tools and demo-fallback (not demo-hidden)
//   MOCK_URL      optional, the mock's base URL: enables checks of what reached the upstream
//   UPSTREAM_KEY  optional, the api_key the gateway's mock provider is configured with
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.GATEWAY_URL;
const apiKey = process.env.GATEWAY_KEY;
if (!baseURL || !apiKey) {
  throw new Error('GATEWAY_URL and GATEWAY_KEY must be set (tests/conformance/run.sh does this)');
}
const mockURL = process.env.MOCK_URL;

// maxRetries 0: error tests must not wait for the SDK's backoff.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

const PROMPT = 'Say hello to the conformance suite';
const PROMPT_WORDS = PROMPT.split(/\s+/).length;
// The mock answers 8 deterministic tokens by default.
const MOCK_TEXT = Array.from({ length: 8 }, (_, i) => `tok${i}`).join(' ');
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city'],
    },
  },
};

function userMessage(content = PROMPT) {
  return [{ role: 'user', content }];
}

function assertUsage(usage, completionTokens) {
  assert.ok(usage, 'usage present');
  assert.equal(usage.prompt_tokens, PROMPT_WORDS);
  assert.equal(usage.completion_tokens, completionTokens);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

// Joins streamed tool-call fragments by index, as the SDK documentation describes.
function joinToolCalls(chunks) {
  const calls = [];
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      for (const d of choice.delta?.tool_calls ?? []) {
        const call = (calls[d.index] ??= { id: '', type: '', name: '', arguments: '' });
        if (d.id) call.id = d.id;
        if (d.type) call.type = d.type;
        if (d.function?.name) call.name += d.function.name;
        if (d.function?.arguments) call.arguments += d.function.arguments;
      }
    }
  }
  return calls;
}

async function lastUpstreamRequest() {
  const res = await fetch(`${mockURL}/_mock/last_request`);
  assert.equal(res.status, 200);
  return res.json();
}

describe('chat.completions.create', () => {
  test('plain completion: content, usage, public model name', async () => {
    const r = await client.chat.completions.create({ model: 'demo-chat', messages: userMessage() });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'demo-chat');
    assert.equal(typeof r.id, 'string');
    assert.ok(r.id.length > 0);
    assert.equal(typeof r.created, 'number');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].index, 0);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, MOCK_TEXT);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assertUsage(r.usage, 8);
  });

  test('withResponse exposes a JSON response', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'demo-chat', messages: userMessage() })
      .withResponse();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(data.choices[0].message.content, MOCK_TEXT);
  });

  test('streaming with include_usage: chunks, text, final usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo-chat',
      messages: userMessage(),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);
    assert.ok(chunks.length >= 3, `got ${chunks.length} chunks`);
    let text = '';
    let finishes = 0;
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.model, 'demo-chat');
      for (const choice of chunk.choices) {
        text += choice.delta?.content ?? '';
        if (choice.finish_reason) {
          assert.equal(choice.finish_reason, 'stop');
          finishes += 1;
        }
      }
    }
    assert.equal(text, MOCK_TEXT);
    assert.equal(finishes, 1);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assertUsage(last.usage, 8);
    // Only the last chunk carries usage.
    for (const chunk of chunks.slice(0, -1)) assert.ok(chunk.usage == null);
    // Every chunk belongs to the same completion.
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  });

  test('streaming without include_usage carries no usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo-chat',
      messages: userMessage(),
      stream: true,
    });
    const chunks = await collect(stream);
    let text = '';
    for (const chunk of chunks) {
      assert.ok(chunk.usage == null);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.equal(text, MOCK_TEXT);
  });

  test('a stream can be abandoned early', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo-chat',
      messages: userMessage(),
      stream: true,
    });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) break;
    }
    // The gateway keeps serving after a client leaves mid-stream.
    const r = await client.chat.completions.create({ model: 'demo-chat', messages: userMessage() });
    assert.equal(r.choices[0].message.content, MOCK_TEXT);
  });
});

describe('models.list', () => {
  test('lists exactly the models the key may use', async () => {
    const ids = [];
    for await (const model of client.models.list()) {
      assert.equal(model.object, 'model');
      assert.equal(typeof model.owned_by, 'string');
      assert.equal(typeof model.created, 'number');
      ids.push(model.id);
    }
    assert.deepEqual([...ids].sort(), [
      'demo-chat', 'demo-claude', 'demo-claude-tools', 'demo-embed', 'demo-fallback', 'demo-image',
      'demo-instruct', 'demo-tools',
    ]);
  });
});

describe('errors', () => {
  test('unknown key: AuthenticationError 401', async () => {
    const stranger = new OpenAI({ baseURL, apiKey: 'ig-not-a-key-of-this-gateway', maxRetries: 0 });
    await assert.rejects(
      stranger.chat.completions.create({ model: 'demo-chat', messages: userMessage() }),
      (err) => {
        assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}`);
        assert.equal(err.status, 401);
        assert.equal(typeof err.error?.message, 'string');
        return true;
      },
    );
  });

  test('unknown key on models.list: AuthenticationError 401', async () => {
    const stranger = new OpenAI({ baseURL, apiKey: 'ig-not-a-key-of-this-gateway', maxRetries: 0 });
    await assert.rejects(stranger.models.list(), OpenAI.AuthenticationError);
  });

  test('unknown model: NotFoundError 404', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: userMessage() }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}`);
        assert.equal(err.status, 404);
        assert.equal(typeof err.error?.message, 'string');
        return true;
      },
    );
  });

  test('invalid body (messages not an array): BadRequestError 400', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'demo-chat', messages: 'hello' }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}`);
        assert.equal(err.status, 400);
        assert.equal(err.error?.type, 'invalid_request_error');
        return true;
      },
    );
  });

  test('errors are raised before streaming starts', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: userMessage(), stream: true }),
      OpenAI.NotFoundError,
    );
  });
});

describe('tool calls', () => {
  test('non-streaming: complete tool_calls whose arguments parse', async () => {
    const r = await client.chat.completions.create({
      model: 'demo-tools',
      messages: userMessage('What is the weather in Paris?'),
      tools: [WEATHER_TOOL],
      tool_choice: 'auto',
    });
    const choice = r.choices[0];
    assert.equal(r.model, 'demo-tools');
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(typeof call.id, 'string');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', unit: 'celsius' });

    // The round trip: the tool's result goes back with the assistant's call.
    const followUp = await client.chat.completions.create({
      model: 'demo-chat',
      messages: [
        ...userMessage('What is the weather in Paris?'),
        { role: 'assistant', content: null, tool_calls: choice.message.tool_calls },
        { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temperature: 21 }) },
      ],
      tools: [WEATHER_TOOL],
    });
    assert.equal(followUp.choices[0].finish_reason, 'stop');
    assert.equal(followUp.choices[0].message.content, MOCK_TEXT);
  });

  test('streaming: fragments join into a complete call', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo-tools',
      messages: userMessage('What is the weather in Paris?'),
      tools: [WEATHER_TOOL],
      stream: true,
    });
    const chunks = await collect(stream);
    const calls = joinToolCalls(chunks);
    assert.equal(calls.length, 1);
    assert.ok(calls[0].id.length > 0);
    assert.equal(calls[0].type, 'function');
    assert.equal(calls[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Paris', unit: 'celsius' });
    const finishes = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean);
    assert.deepEqual(finishes, ['tool_calls']);
  });
});

describe('fallback', () => {
  test('the first deployment is down, the second answers', async () => {
    const r = await client.chat.completions.create({ model: 'demo-fallback', messages: userMessage() });
    assert.equal(r.model, 'demo-fallback');
    assert.equal(r.choices[0].message.content, MOCK_TEXT);
    assertUsage(r.usage, 8);
  });

  test('streaming falls back too', async () => {
    const stream = await client.chat.completions.create({
      model: 'demo-fallback',
      messages: userMessage(),
      stream: true,
    });
    const chunks = await collect(stream);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), MOCK_TEXT);
  });
});

describe('what reaches the upstream', { skip: mockURL ? false : 'MOCK_URL not set' }, () => {
  test('model rewritten, provider key and headers, unknown fields passed through', async () => {
    const responseFormat = { type: 'json_object' };
    await client.chat.completions.create({
      model: 'demo-tools',
      messages: userMessage(),
      tools: [WEATHER_TOOL],
      response_format: responseFormat,
      stream: true,
      stream_options: { include_usage: true },
    }).then(collect);
    const last = await lastUpstreamRequest();
    assert.equal(last.method, 'POST');
    assert.equal(last.body.model, 'mock-tools?tool_call=1');
    assert.deepEqual(last.body.tools, [WEATHER_TOOL]);
    assert.deepEqual(last.body.response_format, responseFormat);
    assert.equal(last.body.stream, true);
    assert.equal(last.body.stream_options?.include_usage, true);
    assert.deepEqual(last.body.messages, userMessage());
    if (process.env.UPSTREAM_KEY) {
      assert.equal(last.headers.authorization, `Bearer ${process.env.UPSTREAM_KEY}`);
    }
    // The client's gateway key never travels upstream.
    assert.ok(!JSON.stringify(last.headers).includes(apiKey));
  });
});
