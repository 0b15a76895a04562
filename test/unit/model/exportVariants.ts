// Turns a copy of the embedded model into the kinds of ONNX export that ship no component config.json:
// configs removed (as diffusers' conversion script and Olive write them), and optionally graphs that give
// inference nothing for free: every weight renamed to an anonymous name (as graph optimizers do) and every
// size of the graph inputs and outputs made symbolic (the conversion script marks `sample`'s channels
// dynamic). Renaming and shape names change no computation, so such a copy must render the same pixels.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProtoReader, ProtoWriter, WIRE_BYTES, WIRE_VARINT } from '../../../src/engine/onnx/protobuf';

export const PIPELINE_COMPONENTS = ['unet', 'vae_decoder', 'vae_encoder', 'text_encoder'] as const;

interface Field {
  readonly field: number;
  /** The whole field, key included. */
  readonly raw: Uint8Array;
  /** A length-delimited field's payload [start, end). */
  readonly span: [number, number] | undefined;
  /** A reader over the payload. */
  readonly value: ProtoReader;
}

/** Each field of the message in [start, end). */
function fieldsOf(bytes: Uint8Array, start: number, end: number): Field[] {
  const r = new ProtoReader(bytes, start, end);
  const out: Field[] = [];
  r.fields((field, wire, fieldStart) => {
    const valueStart = r.pos;
    const span = wire === WIRE_BYTES ? r.span() : (r.skip(wire), undefined);
    const [ps, pe] = span ?? [valueStart, r.pos];
    out.push({ field, raw: bytes.subarray(fieldStart, r.pos), span, value: new ProtoReader(bytes, ps, pe) });
    return true;
  });
  return out;
}

const text = (bytes: Uint8Array, f: Field) => Buffer.from(bytes.subarray(...f.span!)).toString('utf8');

/** A ValueInfoProto with every dimension replaced by a symbolic one (`<name>_dim<k>`). */
function symbolicValueInfo(bytes: Uint8Array, span: [number, number]): ProtoWriter {
  const out = new ProtoWriter();
  let name = '';
  for (const f of fieldsOf(bytes, span[0], span[1])) {
    if (f.field === 1) {
      name = text(bytes, f);
      out.string(1, name);
    } else if (f.field === 2) {
      let elemType = 0;
      let rank = 0;
      const type = f.value;
      type.fields((tn) => {
        if (tn !== 1) return false;
        const tensor = type.sub();
        tensor.fields((n, w) => {
          if (n === 1 && w === WIRE_VARINT) elemType = tensor.varint();
          else if (n === 2 && w === WIRE_BYTES) {
            const shape = tensor.sub();
            shape.fields(() => {
              shape.sub();
              rank++;
              return true;
            });
          } else return false;
          return true;
        });
        return true;
      });
      out.message(2, (t) =>
        t.message(1, (tt) => {
          tt.int(1, elemType);
          tt.message(2, (s) => {
            for (let k = 0; k < rank; k++) s.message(1, (d) => d.string(2, `${name}_dim${k}`));
          });
        }),
      );
    } else out.raw(f.raw);
  }
  return out;
}

/**
 * The embedded UNet's ControlNet residual inputs (an imgprompt extension, absent from the exports in
 * question) keep their fixed channel counts: the UNet component requires them.
 */
function isResidual(bytes: Uint8Array, span: [number, number]): boolean {
  const name = fieldsOf(bytes, ...span).find((f) => f.field === 1);
  return name !== undefined && /_block_additional_residual/.test(text(bytes, name));
}

/** The model with its initializers renamed `w0`, `w1`, ... and its graph inputs' and outputs' sizes symbolic. */
export function anonymizeGraph(bytes: Uint8Array): Uint8Array {
  const model = new ProtoWriter();
  for (const top of fieldsOf(bytes, 0, bytes.length)) {
    if (top.field !== 7) {
      model.raw(top.raw);
      continue;
    }
    const graphFields = fieldsOf(bytes, ...top.span!);
    const renamed = new Map<string, string>();
    for (const f of graphFields) {
      if (f.field !== 5) continue;
      const nameField = fieldsOf(bytes, ...f.span!).find((t) => t.field === 8);
      renamed.set(nameField ? text(bytes, nameField) : '', `w${renamed.size}`);
    }
    const graph = new ProtoWriter();
    for (const f of graphFields) {
      const span = f.span;
      if (f.field === 1 && span) {
        graph.message(1, (n) => {
          for (const nf of fieldsOf(bytes, ...span)) {
            if (nf.field === 1 || nf.field === 2) {
              const name = text(bytes, nf);
              n.string(nf.field, renamed.get(name) ?? name);
            } else n.raw(nf.raw);
          }
        });
      } else if (f.field === 5 && span) {
        graph.message(5, (t) => {
          for (const tf of fieldsOf(bytes, ...span)) {
            if (tf.field === 8) t.string(8, renamed.get(text(bytes, tf)) ?? '');
            else t.raw(tf.raw);
          }
        });
      } else if ((f.field === 11 || f.field === 12) && span && !isResidual(bytes, span)) {
        graph.embed(f.field, symbolicValueInfo(bytes, span));
      } else graph.raw(f.raw);
    }
    model.embed(7, graph);
  }
  return model.finish();
}

/**
 * Copies `source` to `target` without the pipeline components' config.json files (preview_decoder/ and the
 * adapters keep theirs: they are not part of the exports in question). With `anonymize`, the pipeline
 * graphs are rewritten by anonymizeGraph too.
 */
export function configlessCopy(source: string, target: string, options: { anonymize?: boolean } = {}): string {
  cpSync(source, target, { recursive: true });
  for (const component of PIPELINE_COMPONENTS) {
    rmSync(join(target, component, 'config.json'), { force: true });
    if (options.anonymize) {
      const path = join(target, component, 'model.onnx');
      writeFileSync(path, anonymizeGraph(readFileSync(path)));
    }
  }
  return target;
}

/** Copies `source` to `target` with the VAE configs' scaling_factor set to `scalingFactor`. */
export function copyWithVAEScale(source: string, target: string, scalingFactor: number): string {
  cpSync(source, target, { recursive: true });
  for (const half of ['vae_decoder', 'vae_encoder']) {
    const path = join(target, half, 'config.json');
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), scaling_factor: scalingFactor }, null, 2));
  }
  return target;
}
