// The provenance panel: how an image was made (purpose, model and hashes, LoRAs, hint images, seed and
// RNG, sampler settings, engine versions), the AI-generated disclosure and whether the file is current.
// Images from other tools are shown read-only with Import as Scene.
import type { C2paView, OutputFreshness, ProvenanceView } from '../shared/protocol';
import { h, replaceChildren } from './dom';

export const FRESHNESS_TEXT: Record<OutputFreshness, string> = {
  'up-to-date': 'Up to date with its scene',
  stale: 'Out of date: the scene changed since this render',
  missing: 'Not rendered yet',
  unknown: 'Not checked against the scene yet (render or save the scene to check)',
};

export class ProvenancePanel {
  readonly element: HTMLElement;

  constructor(private readonly onImport: () => void) {
    this.element = h('section', { id: 'provenance', class: 'provenance', 'aria-label': 'Provenance' }, h('p', { class: 'note' }, 'Select the Provenance tab to read the image’s metadata.'));
  }

  showMessage(message: string): void {
    replaceChildren(this.element, h('p', { class: 'note' }, message));
  }

  show(view: ProvenanceView): void {
    const list = h('dl', { id: 'provenance-rows', class: 'provenance-rows' });
    for (const row of view.rows) list.append(h('dt', {}, row.label), h('dd', { 'data-label': row.label }, row.value));
    const hints = view.hints.length
      ? h(
          'div',
          { class: 'hints' },
          h('h3', {}, 'Hint images'),
          ...view.hints.map((hint) => h('figure', { class: 'hint' }, hint.image ? h('img', { src: hint.image.src, alt: hint.image.alt }) : h('span', { class: 'note' }, '(file not found)'), h('figcaption', {}, hint.label))),
        )
      : null;
    let importButton: HTMLElement | null = null;
    if (view.foreign && view.source !== 'none') {
      importButton = h('vscode-button', { id: 'import-scene' }, 'Import as Scene');
      importButton.addEventListener('click', () => this.onImport());
    }
    replaceChildren(
      this.element,
      h('h2', {}, view.file),
      h('p', { id: 'provenance-source', class: 'source' }, view.foreign ? `Made by ${sourceName(view.source)} · read-only` : 'Made by imgprompt'),
      h('p', { id: 'disclosure', class: view.aiGenerated ? 'disclosure ai' : 'disclosure' }, view.disclosure),
      view.foreign ? null : h('p', { id: 'provenance-freshness', class: `freshness ${view.freshness}` }, FRESHNESS_TEXT[view.freshness]),
      importButton,
      list,
      view.c2pa ? c2paSection(view.c2pa) : null,
      hints,
      view.warnings.length ? h('ul', { class: 'warnings' }, ...view.warnings.map((w) => h('li', {}, w))) : null,
    );
  }
}

/** Content Credentials: the state (valid / trusted / invalid / absent), its rows and the ingredient tree. */
function c2paSection(c2pa: C2paView): HTMLElement {
  const rows = h('dl', { class: 'provenance-rows' });
  for (const row of c2pa.rows) rows.append(h('dt', {}, row.label), h('dd', { 'data-label': row.label }, row.value));
  return h(
    'section',
    { id: 'c2pa', class: `c2pa ${c2pa.state}`, 'data-state': c2pa.state },
    h('h3', {}, 'Content Credentials (C2PA)'),
    h('p', { id: 'c2pa-state', class: 'c2pa-state' }, c2pa.summary),
    c2pa.rows.length ? rows : null,
    c2pa.ingredients.length ? h('div', { class: 'c2pa-ingredients' }, h('h4', {}, 'Ingredients'), h('pre', { id: 'c2pa-ingredients' }, c2pa.ingredients.join('\n'))) : null,
  );
}

function sourceName(source: string): string {
  return ({ automatic1111: 'AUTOMATIC1111', comfyui: 'ComfyUI', invokeai: 'InvokeAI', none: 'an unknown tool' } as Record<string, string>)[source] ?? source;
}
