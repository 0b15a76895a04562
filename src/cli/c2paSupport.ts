// The CLI's side of C2PA: the provenance settings every render takes from the environment (signing on by
// default), and a C2PA report printed as aligned rows with its ingredient tree.
import { readFile } from 'node:fs/promises';
import { defaultIdentityDir, readC2pa, type C2paIngredientNode, type C2paReport, type ProvenanceSettings } from '../engine/index';
import { escapeTerminalText } from '../engine/text/terminalText';

const OFF = /^(0|false|no|off)$/i;

/**
 * Provenance for renders: IMGPROMPT_C2PA=0 turns signing off; IMGPROMPT_C2PA_CERT + IMGPROMPT_C2PA_KEY
 * (PEM files) sign as the user, otherwise the local identity in IMGPROMPT_CONFIG_DIR (default
 * ~/.config/imgprompt); IMGPROMPT_PROMPT_WRITER names the prompt writer (default: git's user);
 * IMGPROMPT_PROMPT_LOG=0 turns the prompt log off.
 */
export function provenanceSettings(env: NodeJS.ProcessEnv): ProvenanceSettings {
  return {
    c2pa: !OFF.test(env.IMGPROMPT_C2PA ?? ''),
    identity: { certificateFile: env.IMGPROMPT_C2PA_CERT || undefined, privateKeyFile: env.IMGPROMPT_C2PA_KEY || undefined, identityDir: defaultIdentityDir(env) },
    promptWriter: env.IMGPROMPT_PROMPT_WRITER || undefined,
    promptLog: !OFF.test(env.IMGPROMPT_PROMPT_LOG ?? ''),
  };
}

/** Reads a file's C2PA report with the trust anchors named by IMGPROMPT_C2PA_TRUST_ANCHORS (PEM), if any. */
export async function c2paReportOf(bytes: Buffer, file: string, env: NodeJS.ProcessEnv): Promise<C2paReport> {
  const anchors = env.IMGPROMPT_C2PA_TRUST_ANCHORS ? await readFile(env.IMGPROMPT_C2PA_TRUST_ANCHORS, 'utf8') : undefined;
  const mimeType = /\.jpe?g$/i.test(file) ? 'image/jpeg' : /\.webp$/i.test(file) ? 'image/webp' : 'image/png';
  return readC2pa(bytes, mimeType, { trustAnchorsPem: anchors });
}

function tree(nodes: readonly C2paIngredientNode[], indent: string): string[] {
  const lines: string[] = [];
  for (const n of nodes) {
    const own = n.manifest ? `signed${n.manifest.signer ? ` by ${n.manifest.signer}` : ''}${n.manifest.generator ? `, made with ${n.manifest.generator}` : ''}` : 'no manifest of its own';
    const bad = n.failures.length ? `; FAILED ${n.failures.map((f) => f.code).join(', ')}` : '';
    lines.push(`${indent}- ${escapeTerminalText(n.title)} (${n.relationship}): ${escapeTerminalText(own)}${bad}`);
    if (n.manifest) lines.push(...tree(n.manifest.ingredients, `${indent}  `));
  }
  return lines;
}

/** The `c2pa:` block of `imgprompt inspect`. */
export function c2paLines(report: C2paReport, indent = '  '): string[] {
  const lines = [`${indent}c2pa: ${escapeTerminalText(report.summary)}`];
  if (report.state === 'absent' || report.state === 'unreadable') return lines;
  const pad = `${indent}  `;
  if (report.generator) lines.push(`${pad}generator    ${escapeTerminalText(report.generator)}`);
  if (report.signer?.alg) lines.push(`${pad}algorithm    ${escapeTerminalText(report.signer.alg)}`);
  lines.push(`${pad}assertions   ${escapeTerminalText(report.assertions.join(', '))}`);
  if (report.pixelsChanged !== undefined) lines.push(`${pad}image data   ${report.pixelsChanged ? 'CHANGED after signing' : 'as signed'}`);
  if (report.recipeChanged !== undefined) lines.push(`${pad}recipe       ${report.recipeChanged ? 'CHANGED after signing' : 'as signed'}`);
  for (const f of report.failures) lines.push(`${pad}failed       ${escapeTerminalText(`${f.code}${f.explanation ? `: ${f.explanation}` : ''}`)}`);
  if (report.passed.length) lines.push(`${pad}checks run   ${escapeTerminalText([...new Set(report.passed)].join(', '))}`);
  if (report.ingredients.length) lines.push(`${pad}ingredients`, ...tree(report.ingredients, `${pad}  `));
  return lines;
}
