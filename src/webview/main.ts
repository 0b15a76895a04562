// Preview webview entry (runs in the browser sandbox; talks to the host only via src/shared/protocol.ts).
import type { HostToWebview, WebviewToHost } from '../shared/protocol';

declare function acquireVsCodeApi(): { postMessage(message: WebviewToHost): void };

const vscodeApi = acquireVsCodeApi();
window.addEventListener('message', (event: MessageEvent<HostToWebview>) => {
  const message = event.data;
  if (message.type === 'init') document.body.dataset.scene = message.sceneUri;
});
vscodeApi.postMessage({ type: 'ready' });
