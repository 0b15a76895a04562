// Loads every models/tiny-shapes component in onnxruntime-node and compares its outputs with the PyTorch
// reference fixtures (test/fixtures/reference/model/, written by make_fixtures.py). Prints the maximum
// absolute difference per output; exits 1 when one exceeds the fixture's tolerance.
//   node tools/tiny_model/check_onnx.mjs
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ort = createRequire(import.meta.url)('onnxruntime-node');
const model = join(root, 'models', 'tiny-shapes');
const fixtures = join(root, 'test', 'fixtures', 'reference', 'model');

const load = (name) => JSON.parse(readFileSync(join(fixtures, name), 'utf8'));
const floats = (t) => {
  const b = Buffer.from(t.base64, 'base64');
  return new ort.Tensor('float32', new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice(), t.shape);
};
const maxDiff = (a, b) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

// A UNet exported for ControlNet takes residual inputs; zeros [1, C, 1, 1] give the base output.
function withZeroResiduals(session, feeds) {
  const out = { ...feeds };
  session.inputMetadata.forEach((m) => {
    if (!(m.name in out) && /residual/.test(m.name)) out[m.name] = new ort.Tensor('float32', new Float32Array(m.shape[1]), [1, m.shape[1], 1, 1]);
  });
  return out;
}

let failed = false;
async function check(component, feeds, expected, tolerance) {
  const session = await ort.InferenceSession.create(join(model, component, 'model.onnx'), { intraOpNumThreads: 2 });
  const out = await session.run(withZeroResiduals(session, feeds));
  for (const [name, tensor] of Object.entries(expected)) {
    const want = floats(tensor);
    const got = out[name];
    const shapeOk = JSON.stringify(got.dims) === JSON.stringify(want.dims);
    const d = shapeOk ? maxDiff(got.data, want.data) : Infinity;
    const ok = d <= tolerance;
    failed ||= !ok;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${component}.${name} dims ${JSON.stringify(got.dims)} max |diff| ${d.toExponential(2)} (tol ${tolerance})`);
  }
  console.log(`     inputs ${session.inputNames.join(', ')} -> outputs ${session.outputNames.join(', ')}`);
}

const te = load('text_encoder.json');
const ids = Int32Array.from(te.input_ids.flat());
await check('text_encoder', { input_ids: new ort.Tensor('int32', ids, [te.input_ids.length, 77]) },
  { last_hidden_state: te.last_hidden_state, pooler_output: te.pooler_output }, te.tolerance_abs);
const un = load('unet.json');
await check('unet', { sample: floats(un.sample), timestep: floats(un.timestep), encoder_hidden_states: floats(un.encoder_hidden_states) },
  { out_sample: un.out_sample }, un.tolerance_abs);
const dec = load('vae_decoder.json');
await check('vae_decoder', { latent_sample: floats(dec.latent_sample) }, { sample: dec.sample }, dec.tolerance_abs);
const enc = load('vae_encoder.json');
await check('vae_encoder', { sample: floats(enc.sample) }, { latent_sample: enc.latent_sample }, enc.tolerance_abs);

// The full 10-step Euler trajectory with classifier-free guidance, as trajectory.json's header describes.
const tr = load('trajectory.json');
const opts = { intraOpNumThreads: 2 };
const teSession = await ort.InferenceSession.create(join(model, 'text_encoder', 'model.onnx'), opts);
const unetSession = await ort.InferenceSession.create(join(model, 'unet', 'model.onnx'), opts);
const ctx = (await teSession.run({ input_ids: new ort.Tensor('int32', Int32Array.from([...tr.negative_ids, ...tr.prompt_ids]), [2, 77]) })).last_hidden_state;
const noise = floats(tr.initial_noise);
let latents = Float32Array.from(noise.data, (v) => v * tr.init_noise_sigma);
const n = latents.length;
let worst = 0;
for (let i = 0; i < tr.steps; i++) {
  const s = tr.sigmas[i];
  const x = new Float32Array(2 * n);
  for (let j = 0; j < n; j++) x[j] = x[n + j] = latents[j] / Math.sqrt(s * s + 1);
  const t = tr.timesteps[i];
  const out = (await unetSession.run(withZeroResiduals(unetSession, {
    sample: new ort.Tensor('float32', x, [2, ...noise.dims.slice(1)]),
    timestep: new ort.Tensor('float32', Float32Array.from([t, t]), [2]),
    encoder_hidden_states: ctx,
  }))).out_sample.data;
  const next = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const eps = out[j] + tr.guidance * (out[n + j] - out[j]);
    next[j] = latents[j] + eps * (tr.sigmas[i + 1] - s);
  }
  latents = next;
  worst = Math.max(worst, maxDiff(latents, floats(tr.latents_after_step[i]).data));
}
const trajOk = worst <= 1e-3;
failed ||= !trajOk;
console.log(`${trajOk ? 'ok  ' : 'FAIL'} trajectory: ${tr.steps} Euler steps, max |latent diff| over all steps ${worst.toExponential(2)} (tol 1e-3)`);
process.exit(failed ? 1 : 0);
