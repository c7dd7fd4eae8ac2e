// The official OpenAI Node SDK against infergate's non-chat routes (run.sh sets it up: the
// gateway in front of infergate-mock-openai): client.embeddings.create (float, and the SDK's
// default base64 which it decodes itself), client.images.generate, client.completions.create
// (plain and stream), and an error case. Environment as in openai_sdk.test.mjs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.GATEWAY_URL;
const apiKey = process.env.GATEWAY_KEY;
if (!baseURL || !apiKey) {
  throw new Error('GATEWAY_URL and GATEWAY_KEY must be set (tests/conformance/run.sh does this)');
}
const mockURL = process.env.MOCK_URL;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

async function lastUpstreamRequest() {
  const res = await fetch(`${mockURL}/_mock/last_request`);
  assert.equal(res.status, 200);
  return res.json();
}

describe('embeddings.create', () => {
  test('float: one vector per input, public model name, usage', async () => {
    const r = await client.embeddings.create({
      model: 'demo-embed',
      input: ['The food was delicious', 'and the waiter'],
      encoding_format: 'float',
    });
    assert.equal(r.object, 'list');
    assert.equal(r.model, 'demo-embed');
    assert.equal(r.data.length, 2);
    for (const [i, d] of r.data.entries()) {
      assert.equal(d.object, 'embedding');
      assert.equal(d.index, i);
      assert.equal(d.embedding.length, 8);
      assert.ok(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
    }
    assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
    assert.equal(r.usage.prompt_tokens, 7);
    assert.equal(r.usage.total_tokens, 7);
    if (mockURL) {
      const up = await lastUpstreamRequest();
      assert.equal(up.body.model, 'mock-embed');
      assert.equal(up.body.encoding_format, 'float');
    }
  });

  test('default (the SDK asks for base64 and decodes it): same vectors as float', async () => {
    const input = 'The food was delicious';
    const asFloat = await client.embeddings.create({
      model: 'demo-embed', input, encoding_format: 'float', dimensions: 12,
    });
    const byDefault = await client.embeddings.create({ model: 'demo-embed', input, dimensions: 12 });
    assert.equal(byDefault.data.length, 1);
    const v = Array.from(byDefault.data[0].embedding);
    assert.equal(v.length, 12);
    // float32 on the wire both ways: the decoded values equal the JSON numbers read as float32.
    assert.deepEqual(v, asFloat.data[0].embedding.map((x) => Math.fround(x)));
  });
});

describe('images.generate', () => {
  test('b64_json: a real PNG', async () => {
    const r = await client.images.generate({
      model: 'demo-image', prompt: 'A cute baby sea otter', n: 2, size: '1024x1024',
      response_format: 'b64_json',
    });
    assert.ok(r.created > 0);
    assert.equal(r.data.length, 2);
    const png = Buffer.from(r.data[0].b64_json, 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(r.data[0].revised_prompt, 'mock: A cute baby sea otter');
  });

  test('url: a URL the SDK user can fetch', async () => {
    const r = await client.images.generate({
      model: 'demo-image', prompt: 'otter', response_format: 'url',
    });
    assert.equal(r.data.length, 1);
    const res = await fetch(r.data[0].url);
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(bytes.subarray(1, 4).toString(), 'PNG');
  });
});

describe('completions.create', () => {
  test('plain: text_completion with text, finish_reason, usage', async () => {
    const r = await client.completions.create({
      model: 'demo-instruct', prompt: 'Say this is a test', max_tokens: 3, temperature: 0,
    });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.model, 'demo-instruct');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].text, 'tok0 tok1 tok2');
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.choices[0].index, 0);
    assert.equal(r.usage.prompt_tokens, 5);
    assert.equal(r.usage.completion_tokens, 3);
    assert.equal(r.usage.total_tokens, 8);
  });

  test('stream: text_completion chunks, then usage', async () => {
    const stream = await client.completions.create({
      model: 'demo-instruct', prompt: 'Say this is a test', stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'text_completion');
      assert.equal(chunk.model, 'demo-instruct');
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(text, Array.from({ length: 8 }, (_, i) => `tok${i}`).join(' '));
    assert.equal(finish, 'stop');
    assert.equal(usage.completion_tokens, 8);
    assert.equal(usage.prompt_tokens, 5);
  });
});

describe('errors', () => {
  test('a chat-only provider cannot embed: 400 unsupported_operation', async () => {
    await assert.rejects(
      client.embeddings.create({ model: 'demo-claude', input: 'x', encoding_format: 'float' }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
        assert.equal(err.status, 400);
        assert.equal(err.code, 'unsupported_operation');
        assert.equal(err.param, 'model');
        return true;
      });
  });

  test('a bad field is a 400 naming it', async () => {
    await assert.rejects(
      client.images.generate({ model: 'demo-image', prompt: 'otter', n: 11 }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
        assert.equal(err.param, 'n');
        return true;
      });
  });

  test('an unknown model is a 404', async () => {
    await assert.rejects(
      client.completions.create({ model: 'no-such-model', prompt: 'x' }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `got ${err}`);
        return true;
      });
  });
});
