// Typed messages between the extension host and the preview webview; both sides import this file only.
// Events flow host → webview as `HostToWebview`; the webview asks for things with `request` messages
// whose method, parameters and result types come from `PreviewRequests`, and the host answers each with
// one `reply` carrying the same id (the webview gives up after a time-out, see RequestClient).

/** One image the preview can show: a webview resource URI plus what a screen reader says about it. */
export interface ImageView {
  /** Stable id within the preview (history entries and diffs refer to images by it). */
  readonly id: string;
  /** A webview resource URI (asWebviewUri); never a file path. */
  readonly src: string;
  /** Alt text, from the prompt. */
  readonly alt: string;
  readonly width?: number;
  readonly height?: number;
}

export interface VariantView {
  readonly seed: string;
  /** Absent when the variant has not been rendered yet. */
  readonly image?: ImageView;
  /** True for the scene's own seed (the main output). */
  readonly current: boolean;
}

export type HistoryKind = 'working' | 'render' | 'git';

export interface HistoryEntryView {
  readonly image: ImageView;
  readonly kind: HistoryKind;
  /** `Working copy`, `HEAD`, `a1b2c3d`, `Render 14:02:11`. */
  readonly label: string;
  /** Milliseconds since the epoch: render time, or the commit's date. */
  readonly date: number;
  /** One line: what in the recipe changed against the entry before it (`prompt: +soft shadows`). */
  readonly change: string;
  /** The commit message, for git versions. */
  readonly detail?: string;
}

/** Whether the PNG on disk was rendered from the scene as it is now. */
/** An output's state as the engine judges it (render/freshness.ts), or `unknown` before it has been checked. */
export type OutputFreshness = 'up-to-date' | 'stale' | 'missing' | 'unknown';

export interface PreviewState {
  /** The scene's file name and URI (as text); absent for a provenance-only view of a PNG. */
  readonly sceneName?: string;
  readonly sceneUri?: string;
  readonly prompt: string;
  readonly output?: ImageView;
  readonly outputName?: string;
  readonly freshness: OutputFreshness;
  /** Why it is out of date, when known. */
  readonly freshnessReason?: string;
  readonly variants: readonly VariantView[];
  readonly history: readonly HistoryEntryView[];
  /** Ids of the pair the diff shows first (working output vs git HEAD, else vs the previous render). */
  readonly defaultDiff?: { readonly before: string; readonly after: string };
  /** True while the panel stays on its scene instead of following the active editor. */
  readonly locked: boolean;
  /** Why git history is missing, when it is (`git is not available`, `not in a repository`). */
  readonly gitNote?: string;
  /** A provenance-only view of a PNG (Show Image Provenance): no scene, no rendering. */
  readonly provenanceOnly: boolean;
  /** What the webview saves with setState so the serializer can restore the panel after a reload. */
  readonly persist: PreviewWebviewState;
}

export interface WordSegmentView {
  readonly kind: 'same' | 'added' | 'removed';
  readonly text: string;
}

export interface RecipeFieldView {
  readonly field: string;
  readonly before?: string;
  readonly after?: string;
  readonly words?: readonly WordSegmentView[];
}

export interface DiffView {
  readonly before: string;
  readonly after: string;
  /** Pixel statistics; absent with `pixelNote` when they cannot be computed (sizes differ). */
  readonly pixels?: {
    readonly width: number;
    readonly height: number;
    /** Per pixel, the largest channel difference 0–255 (the webview paints it in a theme colour). */
    readonly magnitude: Uint8Array;
    readonly changedFraction: number;
    /** dB; null for identical images (infinite PSNR, which JSON cannot carry). */
    readonly psnr: number | null;
    readonly threshold: number;
  };
  readonly pixelNote?: string;
  readonly recipe: readonly RecipeFieldView[];
  /** Why the recipe diff is missing (an image without a stored recipe). */
  readonly recipeNote?: string;
}

export interface ProvenanceRow {
  readonly label: string;
  readonly value: string;
}

/** An image's C2PA manifest as the reference implementation validated it (engine/provenance/readC2pa.ts). */
export interface C2paView {
  /** `absent`, `valid` (issuer on no trust list), `trusted`, `invalid`, `unreadable`, or `unavailable` (not checked). */
  readonly state: string;
  readonly summary: string;
  readonly rows: readonly ProvenanceRow[];
  /** The ingredient tree, one line per ingredient, indented two spaces per level. */
  readonly ingredients: readonly string[];
}

export interface ProvenanceView {
  readonly file: string;
  /** `imgprompt`, `automatic1111`, `comfyui`, `invokeai`, or `none`. */
  readonly source: string;
  /** True for images not made by imgprompt: shown read-only, with Import as Scene. */
  readonly foreign: boolean;
  readonly aiGenerated: boolean;
  readonly disclosure: string;
  readonly freshness: OutputFreshness;
  readonly rows: readonly ProvenanceRow[];
  readonly hints: readonly { readonly label: string; readonly image?: ImageView }[];
  readonly warnings: readonly string[];
  /** Content Credentials; absent while not read. */
  readonly c2pa?: C2paView;
}

/** Every request the webview can make: its parameters and the host's result. */
export interface PreviewRequests {
  diff: { params: { before: string; after: string }; result: DiffView };
  provenance: { params: { image: string }; result: ProvenanceView };
  cancelRender: { params: Record<string, never>; result: { cancelled: boolean } };
  useSeed: { params: { seed: string }; result: { written: boolean } };
  importScene: { params: { image: string }; result: { opened: boolean } };
  setLocked: { params: { locked: boolean }; result: { locked: boolean } };
  openScene: { params: Record<string, never>; result: { opened: boolean } };
}

export type PreviewMethod = keyof PreviewRequests;

export type RenderOutcome = 'rendered' | 'cancelled' | 'failed';

/** Messages the host sends to the webview. */
export type HostToWebview =
  | { readonly type: 'state'; readonly state: PreviewState }
  | { readonly type: 'renderStarted'; readonly totalSteps: number; readonly jobs: number }
  | {
      readonly type: 'renderStep';
      readonly job: number;
      readonly jobs: number;
      readonly step: number;
      readonly totalSteps: number;
      readonly width: number;
      readonly height: number;
      /** RGB bytes, width × height × 3, painted onto a canvas (no data: URIs needed). */
      readonly rgb: Uint8Array;
    }
  | { readonly type: 'renderEnded'; readonly outcome: RenderOutcome; readonly message?: string }
  | { readonly type: 'showProvenance'; readonly provenance: ProvenanceView }
  | { readonly type: 'reply'; readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly type: 'reply'; readonly id: number; readonly ok: false; readonly error: string };

/** Messages the webview sends to the host. */
export type WebviewToHost =
  | { readonly type: 'ready' }
  | { readonly [K in PreviewMethod]: { readonly type: 'request'; readonly id: number; readonly method: K; readonly params: PreviewRequests[K]['params'] } }[PreviewMethod];

/** What the webview keeps across reloads (vscode.setState) and the serializer restores the panel from. */
export interface PreviewWebviewState {
  readonly sceneUri?: string;
  readonly pngUri?: string;
  readonly locked: boolean;
  readonly tab?: string;
}

/** How long the webview waits for a reply before it rejects the request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

/**
 * The webview's side of requests: numbers each one, resolves it with the matching reply, rejects it on
 * an error reply or after `timeoutMs`. Pure TypeScript so both tsconfigs compile it.
 */
export class RequestClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void; timer: ReturnType<typeof setTimeout> }>();

  constructor(private readonly send: (message: WebviewToHost) => void) {}

  request<K extends PreviewMethod>(method: K, params: PreviewRequests[K]['params'], timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<PreviewRequests[K]['result']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the extension did not answer '${method}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.send({ type: 'request', id, method, params } as WebviewToHost);
    });
  }

  /** Settles the request a reply answers; returns false for messages that are not replies. */
  handle(message: HostToWebview): boolean {
    if (message.type !== 'reply') return false;
    const entry = this.pending.get(message.id);
    if (!entry) return true;
    this.pending.delete(message.id);
    clearTimeout(entry.timer);
    if (message.ok) entry.resolve(message.result);
    else entry.reject(new Error(message.error));
    return true;
  }

  /** Rejects everything still waiting (the page is going away). */
  dispose(): void {
    for (const [, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new Error('the preview closed'));
    }
    this.pending.clear();
  }
}
