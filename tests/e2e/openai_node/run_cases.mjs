// Runs OpenAI golden cases (tests/e2e/openai_golden) with the official openai
// Node SDK. Reads JSON lines {case, base_url, api_key, fake_url} on stdin;
// for each, queues the case's upstream steps on the fake provider
// (fake_url/_fake/reset, then /_fake/script), makes the call, and prints one
// JSON line: the result normalized as tests/e2e/golden.py describes (the same
// shape the Python SDK's runner gives). One process serves a whole test module.
import readline from 'node:readline';
import OpenAI from 'openai';

async function scriptFake(fakeUrl, steps) {
  for (const [path, body] of [['/_fake/reset', {}], ['/_fake/script', steps || []]]) {
    const r = await fetch(fakeUrl + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`fake ${path}: ${r.status} ${await r.text()}`);
  }
}

function errorJson(err) {
  if (err instanceof OpenAI.APIError) {
    return {
      class: err.constructor.name,
      status: err.status ?? null,
      code: err.code ?? null,
      param: err.param ?? null,
      type: err.type ?? null,
      // the server's own message, as golden.py takes it (the SDK prefixes the status)
      message: typeof err.error?.message === 'string' ? err.error.message : err.message,
    };
  }
  return { class: err?.constructor?.name ?? 'Error', message: String(err?.message ?? err) };
}

const headersOf = (response) => Object.fromEntries([...response.headers].map(([k, v]) => [k.toLowerCase(), v]));

// The answer text of streamed chunks: choice 0's deltas, or Responses text deltas.
function streamText(chunks) {
  let text = '';
  for (const c of chunks) {
    if (c.type === 'response.output_text.delta') text += c.delta ?? '';
    for (const ch of c.choices ?? []) if ((ch.index ?? 0) === 0) text += ch.delta?.content ?? '';
  }
  return text;
}

function create(resource) {
  return async (client, args) => {
    const { data, response } = await resource(client).create(args).withResponse();
    if (!args.stream) return { ...data, headers: headersOf(response) };
    const out = { chunks: [], text: '', headers: headersOf(response) };
    try {
      for await (const chunk of data) out.chunks.push(chunk);
    } catch (err) {
      out.error = errorJson(err);
    }
    out.text = streamText(out.chunks);
    return out;
  };
}

const withoutStream = ({ stream, ...rest }) => rest;

// responses.create() adds output_text to what it returns; the stream helper's
// finalResponse() does not (SDK 5.x): add it the same way, as Python has it.
function withOutputText(response) {
  if (response.output_text !== undefined) return response;
  const texts = [];
  for (const item of response.output ?? [])
    if (item.type === 'message')
      for (const part of item.content ?? []) if (part.type === 'output_text') texts.push(part.text);
  return { ...response, output_text: texts.join('') };
}

const CALLS = {
  'chat.completions.create': create((c) => c.chat.completions),
  'chat.completions.stream': async (client, args) =>
    client.chat.completions.stream(withoutStream(args)).finalChatCompletion(),
  'embeddings.create': create((c) => c.embeddings),
  'models.list': async (client) => {
    const { data: page, response } = await client.models.list().withResponse();
    return { object: page.object, data: page.data, headers: headersOf(response) };
  },
  'models.retrieve': async (client, args) => {
    const { data, response } = await client.models.retrieve(args.model).withResponse();
    return { ...data, headers: headersOf(response) };
  },
  'responses.create': create((c) => c.responses),
  'responses.stream': async (client, args) =>
    withOutputText(await client.responses.stream(withoutStream(args)).finalResponse()),
};

async function run(line) {
  let job;
  try {
    job = JSON.parse(line);
    await scriptFake(job.fake_url, job.case.upstream);
  } catch (err) {
    return { harness_error: String(err?.stack ?? err) };
  }
  const call = CALLS[job.case.call];
  if (!call) return { harness_error: `unknown call ${job.case.call}` };
  const client = new OpenAI({ baseURL: job.base_url, apiKey: job.api_key, maxRetries: 0, timeout: 30_000 });
  try {
    return await call(client, structuredClone(job.case.args ?? {}));
  } catch (err) {
    return { error: errorJson(err) };
  }
}

// One case at a time, in order: each answer is one line.
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const result = await run(line);
  process.stdout.write(JSON.stringify(result) + '\n');
}
