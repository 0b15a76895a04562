// The diff between two images of the history: side by side, swipe (a slider reveals one over the other),
// onion skin (the newer over the older at an adjustable opacity) and a difference heatmap painted from
// the host's per-pixel magnitudes in the theme's error colour; with the changed-pixel fraction, PSNR and
// the recipe diff (prompt words added and removed) beside it.
import type { DiffView, HistoryEntryView, RecipeFieldView } from '../shared/protocol';
import { h, replaceChildren, themeColour } from './dom';

export type DiffMode = 'side' | 'swipe' | 'onion' | 'heatmap';

const MODES: { mode: DiffMode; label: string }[] = [
  { mode: 'side', label: 'Side by side' },
  { mode: 'swipe', label: 'Swipe' },
  { mode: 'onion', label: 'Onion skin' },
  { mode: 'heatmap', label: 'Heatmap' },
];

export class DiffPanel {
  readonly element: HTMLElement;
  private readonly stage: HTMLElement;
  private readonly slider: HTMLInputElement;
  private readonly sliderLabel: HTMLElement;
  private readonly stats: HTMLElement;
  private readonly recipe: HTMLElement;
  private readonly modeButtons = new Map<DiffMode, HTMLElement>();
  private mode: DiffMode = 'side';
  private diff: DiffView | undefined;
  private before: HistoryEntryView | undefined;
  private after: HistoryEntryView | undefined;
  private swipe = 50;
  private opacity = 50;

  constructor() {
    const modes = h('div', { class: 'diff-modes', role: 'radiogroup', 'aria-label': 'Diff mode' });
    for (const { mode, label } of MODES) {
      const button = h('vscode-button', { id: `mode-${mode}`, secondary: true, role: 'radio', 'aria-checked': 'false' }, label);
      button.addEventListener('click', () => this.setMode(mode));
      this.modeButtons.set(mode, button);
      modes.append(button);
    }
    this.slider = h('input', { id: 'diff-slider', type: 'range', min: '0', max: '100', value: '50' });
    this.sliderLabel = h('label', { for: 'diff-slider', id: 'diff-slider-label' }, 'Swipe position');
    this.slider.addEventListener('input', () => {
      if (this.mode === 'swipe') this.swipe = Number(this.slider.value);
      else this.opacity = Number(this.slider.value);
      this.layout();
    });
    this.stage = h('div', { id: 'diff-stage', class: 'diff-stage', 'aria-live': 'polite' });
    this.stats = h('dl', { id: 'diff-stats', class: 'diff-stats' });
    this.recipe = h('div', { id: 'recipe-diff', class: 'recipe-diff', role: 'region', 'aria-label': 'Recipe diff' });
    this.element = h(
      'div',
      { class: 'diff' },
      h('div', { class: 'diff-controls' }, modes, h('div', { class: 'diff-slider' }, this.sliderLabel, this.slider)),
      h('div', { class: 'diff-body' }, this.recipe, h('div', { class: 'diff-images' }, this.stats, this.stage)),
    );
    this.setMode('side');
  }

  get currentMode(): DiffMode {
    return this.mode;
  }

  /** Shows a computed diff between the two history entries. */
  show(diff: DiffView, before: HistoryEntryView, after: HistoryEntryView): void {
    this.diff = diff;
    this.before = before;
    this.after = after;
    this.renderStats();
    this.renderRecipe();
    this.layout();
  }

  showMessage(message: string): void {
    this.diff = undefined;
    replaceChildren(this.stage, h('p', { class: 'note' }, message));
    replaceChildren(this.stats);
    replaceChildren(this.recipe);
  }

  setMode(mode: DiffMode): void {
    this.mode = mode;
    for (const [m, button] of this.modeButtons) {
      button.setAttribute('aria-checked', String(m === mode));
      button.toggleAttribute('secondary', m !== mode);
    }
    const slider = mode === 'swipe' || mode === 'onion';
    this.slider.hidden = !slider;
    this.sliderLabel.hidden = !slider;
    this.sliderLabel.textContent = mode === 'swipe' ? 'Swipe position' : 'Opacity of the newer image';
    this.slider.value = String(mode === 'swipe' ? this.swipe : this.opacity);
    this.element.dataset.mode = mode;
    this.layout();
  }

  private figure(entry: HistoryEntryView, cls: string): HTMLElement {
    return h('img', { class: cls, src: entry.image.src, alt: `${entry.label}: ${entry.image.alt}`, draggable: 'false' });
  }

  private layout(): void {
    if (!this.diff || !this.before || !this.after) return;
    const { before, after } = this;
    if (this.mode === 'side') {
      replaceChildren(
        this.stage,
        h('figure', { class: 'side' }, this.figure(before, 'diff-image'), h('figcaption', {}, `Before: ${before.label}`)),
        h('figure', { class: 'side' }, this.figure(after, 'diff-image'), h('figcaption', {}, `After: ${after.label}`)),
      );
    } else if (this.mode === 'swipe' || this.mode === 'onion') {
      const under = this.figure(after, 'diff-image layer-under');
      const over = this.figure(this.mode === 'swipe' ? before : after, 'diff-image layer-over');
      if (this.mode === 'onion') {
        under.setAttribute('src', before.image.src);
        under.setAttribute('alt', `${before.label}: ${before.image.alt}`);
        over.style.opacity = String(this.opacity / 100);
      } else {
        // The older image covers the left part, up to the slider; the newer shows to its right.
        over.style.clipPath = `inset(0 ${100 - this.swipe}% 0 0)`;
      }
      const divider = h('div', { class: 'swipe-divider', 'aria-hidden': 'true' });
      divider.style.left = `${this.swipe}%`;
      replaceChildren(this.stage, h('div', { class: 'stack', id: 'diff-stack' }, under, over, this.mode === 'swipe' ? divider : null));
    } else {
      replaceChildren(this.stage, this.heatmap());
    }
  }

  private heatmap(): HTMLElement {
    const pixels = this.diff?.pixels;
    if (!pixels || !this.after) return h('p', { class: 'note', id: 'heatmap-note' }, this.diff?.pixelNote ?? 'No pixel diff.');
    const { width, height, magnitude } = pixels;
    const canvas = h('canvas', { id: 'heatmap', class: 'diff-image pixelated', role: 'img', 'aria-label': `Difference heatmap: brighter means more changed; ${describeFraction(pixels.changedFraction)} of pixels changed` });
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext('2d');
    if (!context) return canvas;
    const base = new Image();
    base.onload = () => {
      // The newer image, greyed and dimmed, locates the changes; the overlay is the theme's error colour
      // with the difference as its opacity (amplified so small changes stay visible).
      context.clearRect(0, 0, width, height);
      context.filter = 'grayscale(1)';
      context.globalAlpha = 0.3;
      context.drawImage(base, 0, 0, width, height);
      context.filter = 'none';
      context.globalAlpha = 1;
      const [r, g, b] = themeColour('--vscode-editorError-foreground', '--vscode-errorForeground');
      const overlay = new ImageData(width, height);
      for (let i = 0; i < magnitude.length; i++) {
        overlay.data[i * 4] = r;
        overlay.data[i * 4 + 1] = g;
        overlay.data[i * 4 + 2] = b;
        overlay.data[i * 4 + 3] = Math.min(255, magnitude[i] * 4);
      }
      const layer = document.createElement('canvas');
      layer.width = width;
      layer.height = height;
      layer.getContext('2d')?.putImageData(overlay, 0, 0);
      context.drawImage(layer, 0, 0);
      canvas.dataset.painted = 'true';
    };
    base.src = this.after.image.src;
    return canvas;
  }

  private renderStats(): void {
    const d = this.diff;
    if (!d) return;
    const rows: [string, string, string][] = [];
    if (d.pixels) {
      rows.push(['changed', 'Changed pixels', `${describeFraction(d.pixels.changedFraction)} (difference above ${d.pixels.threshold} of 255)`]);
      rows.push(['psnr', 'PSNR', d.pixels.psnr === null ? '∞ (identical)' : `${d.pixels.psnr.toFixed(2)} dB`]);
      rows.push(['size', 'Size', `${d.pixels.width} × ${d.pixels.height}`]);
    } else if (d.pixelNote) rows.push(['note', 'Pixels', d.pixelNote]);
    replaceChildren(this.stats, ...rows.flatMap(([id, label, value]) => [h('dt', {}, label), h('dd', { id: `stat-${id}` }, value)]));
  }

  private renderRecipe(): void {
    const d = this.diff;
    if (!d) return;
    const heading = h('h3', {}, 'Recipe diff');
    if (d.recipeNote) return replaceChildren(this.recipe, heading, h('p', { class: 'note' }, d.recipeNote));
    if (d.recipe.length === 0) return replaceChildren(this.recipe, heading, h('p', { class: 'note', id: 'recipe-same' }, 'Same recipe: nothing that affects pixels changed.'));
    const table = h('table', { id: 'recipe-table' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Change'))));
    const body = h('tbody');
    for (const field of d.recipe) body.append(h('tr', { 'data-field': field.field }, h('th', { scope: 'row' }, field.field), h('td', {}, changeCell(field))));
    table.append(body);
    replaceChildren(this.recipe, heading, table);
  }
}

function changeCell(field: RecipeFieldView): HTMLElement {
  if (field.words) {
    return h('span', { class: 'words' }, ...field.words.map((w) => (w.kind === 'same' ? w.text : h(w.kind === 'added' ? 'ins' : 'del', {}, w.text))));
  }
  return h('span', {}, h('del', {}, field.before ?? '(none)'), ' → ', h('ins', {}, field.after ?? '(none)'));
}

export function describeFraction(fraction: number): string {
  const percent = fraction * 100;
  return `${percent === 0 || percent >= 10 ? percent.toFixed(1) : percent.toFixed(2)} %`;
}
