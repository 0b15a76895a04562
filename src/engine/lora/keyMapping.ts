// Groups a LoRA file's tensor names into modules (one down/up pair each), for the two naming schemes in
// use: kohya-ss (`lora_unet_<module_with_underscores>.lora_down.weight`, `lora_te_`/`lora_te1_`/`lora_te2_`,
// `.alpha`) and diffusers / PEFT (`unet.<dotted.module>.lora_A.weight` / `.lora_B.weight`, an optional
// `base_model.model.` prefix, the older `.lora.down.weight` / `.lora.up.weight`, and attention-processor
// names `...attn1.processor.to_q_lora.down.weight`). Other adapter kinds (LoHa `hada_`, LoKr `lokr_`,
// DoRA `dora_scale`, full weight diffs) are returned as unsupported, never dropped silently. kohya's
// SDXL UNet keys name SGM blocks (`input_blocks_4_1_…`) and are looked up under diffusers' names
// (sgmLoraKeys.ts).
import { sgmToDiffusersLoraKey } from './sgmLoraKeys';

export type LoraComponent = 'unet' | 'text_encoder' | 'text_encoder_2';

export const LORA_COMPONENTS: readonly LoraComponent[] = ['unet', 'text_encoder', 'text_encoder_2'];

export interface LoraModuleKeys {
  readonly component: LoraComponent;
  /** The module name as the file spells it (underscores for kohya, dots for diffusers / PEFT). */
  readonly key: string;
  /** The key in the underscore form used to look modules up in a graph. */
  readonly lookupKey: string;
  /** Tensor names. */
  readonly down: string;
  readonly up: string;
  readonly alpha?: string;
  /** LoCon Tucker middle tensor (not applied; such modules are reported unsupported). */
  readonly mid?: string;
}

export interface LoraKeyGroups {
  readonly modules: LoraModuleKeys[];
  /** Tensor names of other adapter kinds or incomplete modules. */
  readonly unsupported: string[];
}

type Role = 'down' | 'up' | 'alpha' | 'mid';

interface Parsed {
  component: LoraComponent;
  key: string;
  role: Role;
}

const KOHYA = /^lora_(unet|te1|te2|te)_(.+)\.(lora_down\.weight|lora_up\.weight|lora_mid\.weight|alpha)$/;
const KOHYA_COMPONENTS: Record<string, LoraComponent> = { unet: 'unet', te: 'text_encoder', te1: 'text_encoder', te2: 'text_encoder_2' };
const KOHYA_ROLES: Record<string, Role> = { 'lora_down.weight': 'down', 'lora_up.weight': 'up', 'lora_mid.weight': 'mid', alpha: 'alpha' };
const PEFT = /^(.+)\.(lora_A\.weight|lora_B\.weight|lora\.down\.weight|lora\.up\.weight|alpha)$/;
const PEFT_ROLES: Record<string, Role> = { 'lora_A.weight': 'down', 'lora_B.weight': 'up', 'lora.down.weight': 'down', 'lora.up.weight': 'up', alpha: 'alpha' };
const PROCESSOR = /^(.+)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/;

function splitComponent(dotted: string): { component: LoraComponent; rest: string } | undefined {
  for (const c of ['text_encoder_2', 'text_encoder', 'unet'] as const) {
    if (dotted.startsWith(`${c}.`)) return { component: c, rest: dotted.slice(c.length + 1) };
  }
  // PEFT files of a single model have no component prefix; a CLIP text model is recognisable by its root.
  if (dotted.startsWith('text_model.')) return { component: 'text_encoder', rest: dotted };
  return undefined;
}

function parseName(name: string): Parsed | undefined {
  const kohya = KOHYA.exec(name);
  if (kohya) return { component: KOHYA_COMPONENTS[kohya[1]], key: kohya[2], role: KOHYA_ROLES[kohya[3]] };
  const bare = name.startsWith('base_model.model.') ? name.slice('base_model.model.'.length) : name;
  const processor = PROCESSOR.exec(bare);
  if (processor) {
    const split = splitComponent(processor[1]) ?? { component: 'unet' as const, rest: processor[1] };
    const projection = processor[2] === 'to_out' ? 'to_out.0' : processor[2];
    return { component: split.component, key: `${split.rest}.${projection}`, role: processor[3] as Role };
  }
  const peft = PEFT.exec(bare);
  if (peft) {
    const split = splitComponent(peft[1]);
    // Without a component prefix a PEFT key is the UNet's only if it came with PEFT's own prefix.
    if (!split && bare === name) return undefined;
    const { component, rest } = split ?? { component: 'unet' as const, rest: peft[1] };
    return { component, key: rest, role: PEFT_ROLES[peft[2]] };
  }
  return undefined;
}

/** Groups tensor names into LoRA modules; everything that is not part of a complete down/up pair is unsupported. */
export function groupLoraKeys(names: Iterable<string>): LoraKeyGroups {
  const groups = new Map<string, { component: LoraComponent; key: string; tensors: Partial<Record<Role, string>>; all: string[] }>();
  const unsupported = new Set<string>();
  for (const name of names) {
    const parsed = parseName(name);
    if (!parsed) {
      unsupported.add(name);
      continue;
    }
    const id = `${parsed.component}\0${parsed.key}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { component: parsed.component, key: parsed.key, tensors: {}, all: [] }));
    group.all.push(name);
    if (group.tensors[parsed.role] !== undefined) unsupported.add(name);
    else group.tensors[parsed.role] = name;
  }
  const modules: LoraModuleKeys[] = [];
  for (const g of groups.values()) {
    const { down, up, alpha, mid } = g.tensors;
    if (down === undefined || up === undefined) {
      for (const n of g.all) unsupported.add(n);
      continue;
    }
    const underscored = g.key.replaceAll('.', '_');
    const lookupKey = (g.component === 'unet' ? sgmToDiffusersLoraKey(underscored) : undefined) ?? underscored;
    modules.push({ component: g.component, key: g.key, lookupKey, down, up, ...(alpha ? { alpha } : {}), ...(mid ? { mid } : {}) });
  }
  return { modules, unsupported: [...unsupported] };
}

/** The component a tensor name most likely belongs to, for reporting unsupported keys per component. */
export function componentOfName(name: string): LoraComponent | undefined {
  const bare = name.startsWith('base_model.model.') ? name.slice('base_model.model.'.length) : name;
  if (/^lora_te2_|^text_encoder_2\./.test(bare)) return 'text_encoder_2';
  if (/^lora_te1?_|^text_encoder\.|^text_model\./.test(bare)) return 'text_encoder';
  if (/^lora_unet_|^unet\./.test(bare)) return 'unet';
  return undefined;
}
