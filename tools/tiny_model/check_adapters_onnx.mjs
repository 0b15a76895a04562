// Checks the adapter graphs in onnxruntime-node against PyTorch (export_adapters.py writes the case):
// the UNet with ControlNet residual inputs, fed zeros [1, C, 1, 1], must equal the base export bit for
// bit; fed with PyTorch's residuals it must match PyTorch; the ControlNet's outputs must match PyTorch,
// and chained ControlNet -> UNet in onnxruntime must match the PyTorch chain. Exits 1 on a failure.
//   node tools/tiny_model/check_adapters_onnx.mjs <model dir> <base unet.onnx> <case.json>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const ort = createRequire(import.meta.url)('onnxruntime-node');
const [model, baseUnet, casePath] = process.argv.slice(2);
const c = JSON.parse(readFileSync(casePath, 'utf8'));
const tensor = (t) => {
  const b = Buffer.from(t.base64, 'base64');
  return new ort.Tensor('float32', new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice(), t.shape);
};
const maxDiff = (a, b) => {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
let failed = false;
const report = (ok, msg) => {
  failed ||= !ok;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${msg}`);
};
const opts = { intraOpNumThreads: 1 };
const unet = await ort.InferenceSession.create(join(model, 'unet', 'model.onnx'), opts);
const base = await ort.InferenceSession.create(baseUnet, opts);
const cn = await ort.InferenceSession.create(join(model, 'controlnet', 'canny', 'model.onnx'), opts);
console.log(`     unet inputs ${unet.inputNames.join(', ')}`);
console.log(`     controlnet inputs ${cn.inputNames.join(', ')} -> ${cn.outputNames.join(', ')}`);

const feeds = { sample: tensor(c.sample), timestep: tensor(c.timestep), encoder_hidden_states: tensor(c.encoder_hidden_states) };
const resNames = [...c.residuals.slice(0, -1).map((_, i) => `down_block_additional_residual_${i}`), 'mid_block_additional_residual'];
const missing = resNames.filter((n) => !unet.inputNames.includes(n));
report(missing.length === 0, `unet lists the residual inputs (${missing.length ? `missing ${missing.join(', ')}` : resNames.length})`);
// Without a ControlNet the engine feeds zeros [1, C, 1, 1].
const zeros = { ...feeds };
resNames.forEach((n, i) => { zeros[n] = new ort.Tensor('float32', new Float32Array(c.residuals[i].shape[1]), [1, c.residuals[i].shape[1], 1, 1]); });
const plain = (await unet.run(zeros)).out_sample;
const ref = (await base.run(feeds)).out_sample;
let identical = plain.data.length === ref.data.length;
for (let i = 0; identical && i < plain.data.length; i++) identical = plain.data[i] === ref.data[i];
report(identical, `unet with zero residuals [1, C, 1, 1] equals the base export bit for bit (max |diff| ${maxDiff(plain.data, ref.data).toExponential(2)})`);
const dPlain = maxDiff(plain.data, tensor(c.out_plain).data);
report(dPlain <= c.tolerance_abs, `unet without residuals vs PyTorch: max |diff| ${dPlain.toExponential(2)} (tol ${c.tolerance_abs})`);

const withRes = { ...feeds };
resNames.forEach((n, i) => { withRes[n] = tensor(c.random_residuals[i]); });
const controlled = (await unet.run(withRes)).out_sample;
const dCtl = maxDiff(controlled.data, tensor(c.out_random).data);
const moved = maxDiff(controlled.data, plain.data);
report(dCtl <= c.tolerance_abs && moved > 1e-2, `unet with random residuals vs PyTorch: max |diff| ${dCtl.toExponential(2)} (output moved by ${moved.toExponential(2)})`);

const cnOut = await cn.run({ ...feeds, controlnet_cond: tensor(c.controlnet_cond),
  conditioning_scale: new ort.Tensor('float32', Float32Array.from([c.conditioning_scale]), []) });
let dRes = 0;
cn.outputNames.forEach((n, i) => { dRes = Math.max(dRes, maxDiff(cnOut[n].data, tensor(c.residuals[i]).data)); });
report(dRes <= c.tolerance_abs, `controlnet outputs vs PyTorch: max |diff| ${dRes.toExponential(2)}`);
const chained = { ...feeds };
resNames.forEach((n, i) => { chained[n] = cnOut[cn.outputNames[i]]; });
const dChain = maxDiff((await unet.run(chained)).out_sample.data, tensor(c.out_controlled).data);
report(dChain <= c.tolerance_abs, `controlnet -> unet in onnxruntime vs PyTorch: max |diff| ${dChain.toExponential(2)}`);
process.exit(failed ? 1 : 0);
