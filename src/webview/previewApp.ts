// The preview page: header (scene, freshness, lock), render progress with Cancel, and four tabs —
// Output (zoomable viewer with live step previews), Variants (seed grid with "Use this seed"),
// History & Diff, and Provenance. Renders whatever state the host sends; asks the host for diffs and
// provenance through typed requests.
import type { HistoryEntryView, HostToWebview, PreviewMethod, PreviewRequests, PreviewState, PreviewWebviewState, RequestClient } from '../shared/protocol';
import { describeFraction, DiffPanel } from './diffView';
import { h, onActivate, replaceChildren } from './dom';
import { ImageViewer } from './imageViewer';
import { FRESHNESS_TEXT, ProvenancePanel } from './provenancePanel';

const TABS = ['output', 'variants', 'history', 'provenance'] as const;
type Tab = (typeof TABS)[number];

interface TabsElement extends HTMLElement {
  selectedIndex: number;
}

export class PreviewApp {
  private state: PreviewState | undefined;
  private readonly viewer = new ImageViewer();
  private readonly diff = new DiffPanel();
  private readonly provenance: ProvenancePanel;
  private readonly sceneName = h('span', { id: 'scene-name', class: 'scene-name' });
  private readonly freshness = h('span', { id: 'freshness', class: 'badge', role: 'status' });
  private readonly lockButton = h('vscode-button', { id: 'lock', secondary: true, 'aria-pressed': 'false' }, 'Lock');
  private readonly progress = h('div', { id: 'progress', class: 'progress', hidden: true });
  private readonly progressBar = h('vscode-progress-bar', { id: 'progress-bar', max: '1', value: '0', 'aria-label': 'Render progress' });
  private readonly progressText = h('span', { id: 'progress-text', role: 'status', 'aria-live': 'polite' });
  private readonly status = h('p', { id: 'status', class: 'status', role: 'status', 'aria-live': 'polite' });
  private readonly variants = h('div', { id: 'variants', class: 'variant-grid' });
  private readonly historyStrip = h('ol', { id: 'history', class: 'history-strip', 'aria-label': 'History: activate an entry to compare it with the newer image' });
  private readonly beforeSelect = h('select', { id: 'diff-before', 'aria-label': 'Before' });
  private readonly afterSelect = h('select', { id: 'diff-after', 'aria-label': 'After' });
  private readonly gitNote = h('p', { id: 'git-note', class: 'note' });
  private readonly tabs: TabsElement;
  private readonly tabHeaders = new Map<Tab, HTMLElement>();
  private tab: Tab = 'output';
  private diffPair: { before: string; after: string } | undefined;
  private provenanceFor: string | undefined;
  private rendering = false;
  private diffRequest = 0;

  constructor(
    root: HTMLElement,
    private readonly client: RequestClient,
    private readonly persist: (state: PreviewWebviewState) => void,
  ) {
    this.provenance = new ProvenancePanel(() => void this.ask('importScene', { image: this.provenanceFor ?? 'working' }));
    this.lockButton.addEventListener('click', () => void this.ask('setLocked', { locked: !(this.state?.locked ?? false) }));
    const openScene = h('vscode-button', { id: 'open-scene', secondary: true }, 'Open Scene');
    openScene.addEventListener('click', () => void this.ask('openScene', {}));
    const cancel = h('vscode-button', { id: 'cancel-render' }, 'Cancel');
    cancel.addEventListener('click', () => {
      this.progressText.textContent = 'Cancelling…';
      void this.ask('cancelRender', {});
    });
    this.progress.append(this.progressBar, this.progressText, cancel);
    const compare = () => this.requestDiff(this.beforeSelect.value, this.afterSelect.value);
    this.beforeSelect.addEventListener('change', compare);
    this.afterSelect.addEventListener('change', compare);

    this.tabs = h('vscode-tabs', { id: 'tabs', panel: true }) as TabsElement;
    const panels: Record<Tab, [string, HTMLElement]> = {
      output: ['Output', this.viewer.element],
      variants: ['Variants', h('div', {}, h('p', { class: 'note' }, 'Each variant seed of the scene; “Use this seed” makes it the scene’s seed.'), this.variants)],
      history: [
        'History & Diff',
        h(
          'div',
          { class: 'history' },
          this.historyStrip,
          this.gitNote,
          h('div', { class: 'pair' }, h('label', { for: 'diff-before' }, 'Before'), this.beforeSelect, h('label', { for: 'diff-after' }, 'After'), this.afterSelect),
          this.diff.element,
        ),
      ],
      provenance: ['Provenance', this.provenance.element],
    };
    for (const tab of TABS) {
      // vscode-tabs assigns its own ids to headers and panels (for aria-controls): name them by data-tab.
      const header = h('vscode-tab-header', { slot: 'header', 'data-tab': tab }, panels[tab][0]);
      this.tabHeaders.set(tab, header);
      this.tabs.append(header, h('vscode-tab-panel', { 'data-tab': tab }, panels[tab][1]));
    }
    this.tabs.addEventListener('vsc-tabs-select', (event) => this.onTab(TABS[(event as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex]));
    replaceChildren(
      root,
      h('header', { class: 'toolbar' }, this.sceneName, this.freshness, h('span', { class: 'spacer' }), openScene, this.lockButton),
      this.progress,
      this.status,
      this.tabs,
    );
  }

  handle(message: HostToWebview): void {
    switch (message.type) {
      case 'state':
        this.render(message.state);
        break;
      case 'renderStarted':
        this.rendering = true;
        this.progress.hidden = false;
        this.progressBar.setAttribute('max', String(message.totalSteps * message.jobs));
        this.progressBar.setAttribute('value', '0');
        this.progressText.textContent = `Starting ${message.jobs > 1 ? `${message.jobs} renders` : 'the render'}…`;
        this.status.textContent = '';
        break;
      case 'renderStep':
        this.progressBar.setAttribute('value', String(message.job * message.totalSteps + message.step));
        this.progressText.textContent = `Step ${message.step} of ${message.totalSteps}${message.jobs > 1 ? ` · output ${message.job + 1} of ${message.jobs}` : ''}`;
        if (message.job === 0) this.viewer.showStep(message.rgb, message.width, message.height);
        break;
      case 'renderEnded':
        this.rendering = false;
        this.progress.hidden = true;
        this.status.textContent = message.outcome === 'cancelled' ? 'Render cancelled.' : message.outcome === 'failed' ? `Render failed: ${message.message ?? 'unknown error'}` : '';
        this.viewer.showImage(this.state?.output?.src, this.state?.output?.alt ?? '');
        break;
      case 'showProvenance':
        this.provenance.show(message.provenance);
        break;
      case 'reply':
        break;
    }
  }

  private async ask<K extends PreviewMethod>(method: K, params: PreviewRequests[K]['params']): Promise<PreviewRequests[K]['result'] | undefined> {
    try {
      return await this.client.request(method, params);
    } catch (error) {
      this.status.textContent = error instanceof Error ? error.message : String(error);
      return undefined;
    }
  }

  private render(state: PreviewState): void {
    const previous = this.state;
    this.state = state;
    this.persist({ ...state.persist, tab: this.tab });
    document.body.dataset.freshness = state.freshness;
    this.sceneName.textContent = state.sceneName ?? state.outputName ?? '';
    this.freshness.textContent = state.provenanceOnly ? 'Provenance' : state.freshness === 'missing' ? 'Not rendered' : state.freshness === 'up-to-date' ? 'Up to date' : state.freshness === 'stale' ? 'Out of date' : 'Not checked';
    this.freshness.className = `badge ${state.freshness}`;
    this.freshness.title = state.freshnessReason ?? FRESHNESS_TEXT[state.freshness];
    this.lockButton.textContent = state.locked ? 'Unlock' : 'Lock';
    this.lockButton.setAttribute('aria-pressed', String(state.locked));
    this.lockButton.hidden = state.provenanceOnly;
    for (const tab of ['variants', 'history'] as const) this.tabHeaders.get(tab)?.toggleAttribute('hidden', state.provenanceOnly);
    if (!this.rendering) this.viewer.showImage(state.output?.src, state.output?.alt ?? 'No output yet');
    if (!state.output && !state.provenanceOnly) this.status.textContent = `${state.outputName ?? 'The output'} is not rendered yet: save or render the scene.`;
    else if (this.status.textContent?.endsWith('not rendered yet: save or render the scene.')) this.status.textContent = '';
    this.renderVariants(state);
    this.renderHistory(state);
    if (state.provenanceOnly) this.selectTab('provenance');
    // A new working output invalidates the diff and provenance shown.
    const changed = previous?.output?.src !== state.output?.src || previous?.history.length !== state.history.length;
    if (changed) {
      this.diffPair = undefined;
      this.provenanceFor = undefined;
      if (this.tab === 'history') this.ensureDiff();
      if (this.tab === 'provenance' && !state.provenanceOnly) void this.loadProvenance('working');
    }
  }

  private renderVariants(state: PreviewState): void {
    if (state.variants.length === 0) return replaceChildren(this.variants, h('p', { class: 'note' }, 'This scene has no variants. Add `variants: {seeds: [1, 2, 3]}` to render several seeds.'));
    replaceChildren(
      this.variants,
      ...state.variants.map((variant) => {
        const use = h('vscode-button', { class: 'use-seed', 'data-seed': variant.seed, disabled: variant.current, secondary: variant.current }, variant.current ? 'Current seed' : 'Use this seed');
        use.addEventListener('click', () => {
          if (!variant.current) void this.ask('useSeed', { seed: variant.seed });
        });
        return h(
          'figure',
          { class: variant.current ? 'variant current' : 'variant', 'data-seed': variant.seed },
          variant.image ? h('img', { src: variant.image.src, alt: variant.image.alt }) : h('div', { class: 'placeholder', role: 'img', 'aria-label': `seed ${variant.seed} not rendered yet` }, 'not rendered'),
          h('figcaption', {}, `seed ${variant.seed}`),
          use,
        );
      }),
    );
  }

  private renderHistory(state: PreviewState): void {
    this.gitNote.textContent = state.gitNote ? `Git history: ${state.gitNote}.` : '';
    replaceChildren(
      this.historyStrip,
      ...state.history.map((entry) => {
        const item = h(
          'li',
          { class: `history-entry ${entry.kind}`, tabindex: '0', role: 'button', 'data-id': entry.image.id, 'aria-label': `${entry.label}, ${formatDate(entry.date)}: ${entry.change || 'no recipe change'}. Compare.` },
          h('img', { src: entry.image.src, alt: entry.image.alt }),
          h('span', { class: 'label' }, entry.label),
          h('time', { datetime: new Date(entry.date).toISOString() }, formatDate(entry.date)),
          h('span', { class: 'change', title: entry.detail ?? entry.change }, entry.change),
        );
        onActivate(item, () => {
          // Compare the entry with the working output (or, for the working output, with its predecessor).
          const other = entry.kind === 'working' ? state.history[1]?.image.id : 'working';
          if (!other) return;
          const [before, after] = entry.kind === 'working' ? [other, entry.image.id] : [entry.image.id, other];
          this.requestDiff(before, after);
        });
        return item;
      }),
    );
    for (const select of [this.beforeSelect, this.afterSelect]) {
      const value = select.value;
      replaceChildren(select, ...state.history.map((entry) => h('option', { value: entry.image.id }, `${entry.label} · ${formatDate(entry.date)}`)));
      if (value) select.value = value;
    }
  }

  private onTab(tab: Tab | undefined): void {
    if (!tab) return;
    this.tab = tab;
    if (this.state) this.persist({ ...this.state.persist, tab });
    if (tab === 'history') this.ensureDiff();
    if (tab === 'provenance' && !this.state?.provenanceOnly && !this.provenanceFor) void this.loadProvenance('working');
  }

  selectTab(tab: Tab): void {
    this.tabs.selectedIndex = TABS.indexOf(tab);
    this.onTab(tab);
  }

  private ensureDiff(): void {
    if (this.diffPair || !this.state) return;
    const pair = this.state.defaultDiff ?? (this.state.history.length >= 2 ? { before: this.state.history[1].image.id, after: this.state.history[0].image.id } : undefined);
    if (!pair) {
      this.diff.showMessage(this.state.history.length === 0 ? 'Nothing to compare yet: render the scene.' : 'Only one version so far: render again (or commit the output) to compare.');
      return;
    }
    this.requestDiff(pair.before, pair.after);
  }

  private requestDiff(before: string, after: string): void {
    const state = this.state;
    if (!state) return;
    const entry = (id: string): HistoryEntryView | undefined => state.history.find((e) => e.image.id === id);
    const a = entry(before);
    const b = entry(after);
    if (!a || !b) return;
    this.diffPair = { before, after };
    this.beforeSelect.value = before;
    this.afterSelect.value = after;
    const request = ++this.diffRequest;
    this.diff.showMessage(`Comparing ${a.label} with ${b.label}…`);
    void this.client.request('diff', { before, after }).then(
      (diff) => {
        if (request !== this.diffRequest) return;
        this.diff.show(diff, a, b);
        this.status.textContent = diff.pixels ? `${a.label} → ${b.label}: ${describeFraction(diff.pixels.changedFraction)} of pixels changed` : '';
      },
      (error: unknown) => {
        if (request === this.diffRequest) this.diff.showMessage(error instanceof Error ? error.message : String(error));
      },
    );
  }

  private async loadProvenance(image: string): Promise<void> {
    if (!this.state?.output) return this.provenance.showMessage('No image yet: render the scene to see its provenance.');
    this.provenanceFor = image;
    try {
      this.provenance.show(await this.client.request('provenance', { image }));
    } catch (error) {
      this.provenance.showMessage(error instanceof Error ? error.message : String(error));
    }
  }
}

function formatDate(ms: number): string {
  if (!ms) return 'date unknown';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
