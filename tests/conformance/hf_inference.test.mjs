// The official Hugging Face client (@huggingface/inference, unmodified) against a running
// infergate. The client hard-codes https://router.huggingface.co and https://huggingface.co (Hub
// mapping calls); the process's fetch sends both to the gateway, as a deployment would with DNS
// or a proxy. Everything else (paths, bodies, headers, the fal queue polling and image fetches,
// which use the global fetch) is the client's own. run.sh sets up the catalog (providers named
// together, hf-inference, fal-ai, replicate in front of the mock). Environment:
//   GATEWAY_URL   e.g. http://127.0.0.1:8080/v1
//   HF_KEY        a gateway key starting with "hf_" (the client sends it to the router and Hub)
//   MOCK_URL      the mock's base URL (checks of what reached the upstream)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceClient, InferenceClientHubApiError, InferenceClientProviderApiError } from '@huggingface/inference';

const gatewayURL = process.env.GATEWAY_URL;
const hfKey = process.env.HF_KEY;
if (!gatewayURL || !hfKey) {
  throw new Error('GATEWAY_URL and HF_KEY must be set (tests/conformance/run.sh does this)');
}
const origin = new URL(gatewayURL).origin;
const mockURL = process.env.MOCK_URL;

const LLAMA = 'meta-llama/Llama-3.1-8B-Instruct';
const EMBED = 'BAAI/bge-small-en-v1.5';
const FLUX = 'black-forest-labs/FLUX.1-schnell';
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const realFetch = globalThis.fetch;
const seen = [];  // every URL the client fetched, after rewriting
function rewrite(url) {
  for (const host of ['https://router.huggingface.co', 'https://huggingface.co']) {
    if (url.startsWith(host + '/')) return origin + url.slice(host.length);
  }
  return url;
}
before(() => {
  globalThis.fetch = (input, init) => {
    const url = rewrite(typeof input === 'string' ? input : input.url);
    seen.push({ url, method: init?.method ?? 'GET', headers: { ...(init?.headers ?? {}) } });
    return realFetch(url, init);
  };
});
after(() => {
  globalThis.fetch = realFetch;
});

const client = new InferenceClient(hfKey);
const messages = [{ role: 'user', content: 'Say hello to the HF client' }];

async function lastUpstreamModel() {
  if (!mockURL) return undefined;
  const r = await realFetch(`${mockURL}/_mock/last_request`);
  const j = await r.json();
  const body = typeof j.body === 'string' ? JSON.parse(j.body) : j.body;
  return body.model;
}

async function assertPng(blob) {
  assert.ok(blob instanceof Blob, 'a Blob');
  const bytes = new Uint8Array(await blob.arrayBuffer());
  assert.deepEqual([...bytes.slice(0, 8)], PNG);
}

describe('@huggingface/inference against infergate', () => {
  test('chat with provider: Hub mapping, then /together/v1/chat/completions', async () => {
    const out = await client.chatCompletion({ model: LLAMA, provider: 'together', messages, max_tokens: 32 },
      { billTo: 'my-org' });
    assert.equal(out.object, 'chat.completion');
    assert.equal(typeof out.choices[0].message.content, 'string');
    assert.ok(out.usage.completion_tokens > 0);
    assert.ok(seen.some((s) => s.url.startsWith(`${origin}/api/models/${LLAMA}?expand`)), 'Hub mapping call');
    const call = seen.findLast((s) => s.url === `${origin}/together/v1/chat/completions`);
    assert.ok(call, 'per-provider route');
    assert.equal(call.headers['X-HF-Bill-To'], 'my-org');
    if (mockURL) assert.equal(await lastUpstreamModel(), 'together-llama');
  });

  test('chat stream with provider', async () => {
    let text = '';
    let chunks = 0;
    for await (const chunk of client.chatCompletionStream({ model: LLAMA, provider: 'together', messages })) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.ok(chunks > 1);
    assert.ok(text.length > 0);
  });

  test('chat with a model:provider suffix (the auto router, /v1/chat/completions)', async () => {
    const out = await client.chatCompletion({ model: `${LLAMA}:together`, messages });
    assert.equal(out.object, 'chat.completion');
    assert.ok(seen.some((s) => s.url === `${origin}/v1/chat/completions`));
    if (mockURL) assert.equal(await lastUpstreamModel(), 'together-llama');
    let n = 0;
    for await (const chunk of client.chatCompletionStream({ model: `${LLAMA}:fastest`, messages })) {
      n += chunk.choices.length;
    }
    assert.ok(n > 0);
  });

  test('feature extraction on hf-inference', async () => {
    const one = await client.featureExtraction({ model: EMBED, provider: 'hf-inference', inputs: 'Today is a sunny day' });
    assert.ok(Array.isArray(one) && one.length > 0 && one.every((x) => typeof x === 'number'));
    const many = await client.featureExtraction({ model: EMBED, provider: 'hf-inference', inputs: ['a b', 'c d e'] });
    assert.equal(many.length, 2);
    assert.equal(many[0].length, one.length);
    assert.ok(seen.some((s) => s.url === `${origin}/hf-inference/models/mock-embed/pipeline/feature-extraction`));
  });

  test('text-to-image through fal-ai (queue: submit, result, image URL)', async () => {
    const blob = await client.textToImage({
      model: FLUX, provider: 'fal-ai', inputs: 'an astronaut riding a horse',
      parameters: { num_inference_steps: 2, width: 64, height: 64 },
    });
    await assertPng(blob);
    assert.ok(seen.some((s) => s.url.startsWith(`${origin}/fal-ai/fal-ai/flux/schnell?_subdomain=queue`)));
    assert.ok(seen.some((s) => s.url.includes('/requests/')), 'queue result fetched');
    const json = await client.textToImage({ model: FLUX, provider: 'fal-ai', inputs: 'a cat' }, { outputType: 'json' });
    assert.ok(json.images[0].url.startsWith(origin));
  });

  test('text-to-image through replicate and hf-inference', async () => {
    await assertPng(await client.textToImage({ model: FLUX, provider: 'replicate', inputs: 'a dog' }));
    assert.ok(seen.some((s) => s.url === `${origin}/replicate/v1/models/black-forest-labs/flux-schnell/predictions`));
    await assertPng(await client.textToImage({ model: FLUX, provider: 'hf-inference', inputs: 'a dog' }));
  });

  test('Inference Endpoint style (endpointUrl): task routes on the model URL', async () => {
    const endpoint = client.endpoint(`https://router.huggingface.co/models/${FLUX}`);
    await assertPng(await endpoint.textToImage({ inputs: 'a red square' }));
    const fe = client.endpoint(`https://router.huggingface.co/models/${EMBED}`);
    const v = await fe.featureExtraction({ inputs: 'hello' });
    assert.ok(v.every((x) => typeof x === 'number'));
  });

  test('errors: unknown model at the Hub, bad input at the provider', async () => {
    await assert.rejects(
      client.featureExtraction({ model: 'nobody/nothing', provider: 'hf-inference', inputs: 'x' }),
      (e) => e instanceof InferenceClientHubApiError && e.httpResponse.status === 404 && /nobody\/nothing/.test(e.message),
    );
    await assert.rejects(
      client.textToImage({ model: FLUX, provider: 'hf-inference', inputs: '' }),
      (e) => e instanceof InferenceClientProviderApiError && e.httpResponse.status === 400 && /inputs/.test(e.message),
    );
    await assert.rejects(
      client.chatCompletion({ model: `${LLAMA}:nosuch`, messages }),
      (e) => e instanceof InferenceClientProviderApiError && e.httpResponse.status === 400,
    );
  });
});
