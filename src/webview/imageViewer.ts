// The output viewer: fit-to-panel or 1:1, zoom in and out, pan by dragging or with the arrow keys. Shows
// either the output image or, while rendering, the live step preview painted on a canvas.
import { h } from './dom';

export type ZoomMode = 'fit' | 'manual';

const MIN_SCALE = 0.05;
const MAX_SCALE = 32;

export class ImageViewer {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly image: HTMLImageElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly zoomLabel: HTMLElement;
  private mode: ZoomMode = 'fit';
  private scale = 1;
  private x = 0;
  private y = 0;
  private showingSteps = false;

  constructor() {
    this.image = h('img', { id: 'output-image', alt: '', draggable: 'false' });
    this.canvas = h('canvas', { id: 'step-canvas', role: 'img', 'aria-label': 'Live preview of the render in progress', hidden: true });
    this.viewport = h(
      'div',
      {
        id: 'viewport',
        class: 'viewport',
        tabindex: '0',
        role: 'group',
        'aria-label': 'Image viewer. Plus and minus zoom, 0 fits, 1 shows actual size, arrow keys pan.',
      },
      this.image,
      this.canvas,
    );
    this.zoomLabel = h('span', { id: 'zoom-level', class: 'zoom-level', 'aria-live': 'polite' }, 'Fit');
    const button = (id: string, label: string, title: string, action: () => void) => {
      const b = h('vscode-button', { id, secondary: true, title, 'aria-label': title }, label);
      b.addEventListener('click', action);
      return b;
    };
    const toolbar = h(
      'div',
      { class: 'viewer-toolbar', role: 'toolbar', 'aria-label': 'Zoom' },
      button('zoom-fit', 'Fit', 'Fit to panel (0)', () => this.fit()),
      button('zoom-actual', '1:1', 'Actual size (1)', () => this.setScale(1)),
      button('zoom-out', '−', 'Zoom out (−)', () => this.setScale(this.currentScale() / 1.25)),
      button('zoom-in', '+', 'Zoom in (+)', () => this.setScale(this.currentScale() * 1.25)),
      this.zoomLabel,
    );
    this.element = h('div', { class: 'viewer' }, toolbar, this.viewport);
    this.image.addEventListener('load', () => this.apply());
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    this.viewport.addEventListener('wheel', (e) => {
      if (!e.ctrlKey) return;
      e.preventDefault();
      this.setScale(this.currentScale() * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
    });
    this.enableDrag();
    new ResizeObserver(() => this.apply()).observe(this.viewport);
  }

  /** Shows `src` (a webview resource URI) with `alt`; keeps the zoom unless the size changed. */
  showImage(src: string | undefined, alt: string): void {
    this.showingSteps = false;
    this.canvas.hidden = true;
    this.image.hidden = !src;
    this.image.alt = alt;
    if (src && this.image.getAttribute('src') !== src) this.image.src = src;
    if (!src) this.image.removeAttribute('src');
    this.apply();
  }

  /** Paints one step preview (RGB bytes) and shows it instead of the image until showImage. */
  showStep(rgb: Uint8Array, width: number, height: number): void {
    const context = this.canvas.getContext('2d');
    if (!context) return;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const rgba = new ImageData(width, height);
    for (let i = 0, j = 0; i < width * height; i++, j += 3) {
      rgba.data[i * 4] = rgb[j];
      rgba.data[i * 4 + 1] = rgb[j + 1];
      rgba.data[i * 4 + 2] = rgb[j + 2];
      rgba.data[i * 4 + 3] = 255;
    }
    context.putImageData(rgba, 0, 0);
    this.showingSteps = true;
    this.canvas.hidden = false;
    this.image.hidden = true;
    this.apply();
  }

  fit(): void {
    this.mode = 'fit';
    this.x = this.y = 0;
    this.apply();
  }

  setScale(scale: number): void {
    this.mode = 'manual';
    this.scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
    this.apply();
  }

  private content(): { element: HTMLElement; width: number; height: number } {
    if (this.showingSteps) {
      // Step previews are at latent size (an eighth of the output): show them at the output's size.
      const width = this.image.naturalWidth || this.canvas.width * 8;
      const height = this.image.naturalHeight || this.canvas.height * 8;
      return { element: this.canvas, width, height };
    }
    return { element: this.image, width: this.image.naturalWidth, height: this.image.naturalHeight };
  }

  private currentScale(): number {
    const { width, height } = this.content();
    if (this.mode === 'manual' || !width || !height) return this.scale;
    const box = this.viewport.getBoundingClientRect();
    return Math.max(MIN_SCALE, Math.min(box.width / width, box.height / height));
  }

  private apply(): void {
    const { element, width, height } = this.content();
    if (!width || !height) return;
    const scale = this.currentScale();
    element.style.width = `${width}px`;
    element.style.height = `${height}px`;
    element.style.transform = `translate(-50%, -50%) translate(${this.x}px, ${this.y}px) scale(${scale})`;
    element.classList.toggle('pixelated', scale >= 2 || this.showingSteps);
    this.zoomLabel.textContent = this.mode === 'fit' ? `Fit (${Math.round(scale * 100)}%)` : `${Math.round(scale * 100)}%`;
    this.element.dataset.scale = scale.toFixed(4);
    this.element.dataset.mode = this.mode;
  }

  private onKey(event: KeyboardEvent): void {
    const step = 40;
    const actions: Record<string, () => void> = {
      '+': () => this.setScale(this.currentScale() * 1.25),
      '=': () => this.setScale(this.currentScale() * 1.25),
      '-': () => this.setScale(this.currentScale() / 1.25),
      '0': () => this.fit(),
      '1': () => this.setScale(1),
      ArrowLeft: () => this.pan(step, 0),
      ArrowRight: () => this.pan(-step, 0),
      ArrowUp: () => this.pan(0, step),
      ArrowDown: () => this.pan(0, -step),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }

  private pan(dx: number, dy: number): void {
    if (this.mode === 'fit') {
      this.scale = this.currentScale();
      this.mode = 'manual';
    }
    this.x += dx;
    this.y += dy;
    this.apply();
  }

  private enableDrag(): void {
    let last: { x: number; y: number } | undefined;
    this.viewport.addEventListener('pointerdown', (e) => {
      last = { x: e.clientX, y: e.clientY };
      this.viewport.setPointerCapture(e.pointerId);
      this.viewport.classList.add('dragging');
    });
    this.viewport.addEventListener('pointermove', (e) => {
      if (!last) return;
      this.pan(e.clientX - last.x, e.clientY - last.y);
      last = { x: e.clientX, y: e.clientY };
    });
    const end = () => {
      last = undefined;
      this.viewport.classList.remove('dragging');
    };
    this.viewport.addEventListener('pointerup', end);
    this.viewport.addEventListener('pointercancel', end);
  }
}
