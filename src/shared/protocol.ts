// Typed messages between the extension host and the preview webview. Both sides import this file only.

/** Messages the host sends to the webview. */
export type HostToWebview = { type: 'init'; sceneUri: string };

/** Messages the webview sends to the host. */
export type WebviewToHost = { type: 'ready' };
