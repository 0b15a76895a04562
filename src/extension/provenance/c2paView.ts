// A C2PA report (from the render worker, which holds the native C2PA library) as the provenance panel
// shows it: the state in a sentence, rows for signer, checks and changes, and the ingredient tree.
import type { C2paIngredientNode, C2paReport } from '../../engine/editor';
import type { C2paView, ProvenanceRow } from '../../shared/protocol';

function tree(nodes: readonly C2paIngredientNode[], depth: number, out: string[]): void {
  for (const n of nodes) {
    const own = n.manifest ? `signed${n.manifest.signer ? ` by ${n.manifest.signer}` : ''}${n.manifest.generator ? `, made with ${n.manifest.generator}` : ''}` : 'no manifest of its own';
    const failed = n.failures.length ? `; failed: ${n.failures.map((f) => f.code).join(', ')}` : '';
    out.push(`${'  '.repeat(depth)}${n.title} (${n.relationship}): ${own}${failed}`);
    if (n.manifest && depth < 16) tree(n.manifest.ingredients, depth + 1, out);
  }
}

export function c2paView(report: C2paReport): C2paView {
  const rows: ProvenanceRow[] = [];
  const add = (label: string, value: string | undefined) => {
    if (value) rows.push({ label, value });
  };
  if (report.state !== 'absent' && report.state !== 'unreadable') {
    add('Signer', [report.signer?.commonName, report.signer?.issuer && `issued by ${report.signer.issuer}`].filter(Boolean).join(', '));
    add('Trust', report.trusted ? 'issuer on the trust list' : 'issuer not on a trust list');
    add('Made with', report.generator);
    add('Algorithm', report.signer?.alg);
    if (report.pixelsChanged !== undefined) add('Image data', report.pixelsChanged ? 'changed after signing' : 'as signed');
    if (report.recipeChanged !== undefined) add('Recipe', report.recipeChanged ? 'changed after signing' : 'as signed');
    for (const f of report.failures) add('Failed check', `${f.code}${f.explanation ? `: ${f.explanation}` : ''}`);
    add('Checks passed', [...new Set(report.passed)].join(', '));
    add('Assertions', report.assertions.join(', '));
  }
  const ingredients: string[] = [];
  tree(report.ingredients, 0, ingredients);
  return { state: report.state, summary: report.summary, rows, ingredients };
}

/** The view when the manifest could not be checked (Restricted Mode, worker failure). */
export function c2paUnavailable(reason: string): C2paView {
  return { state: 'unavailable', summary: `Content Credentials not checked: ${reason}`, rows: [], ingredients: [] };
}
