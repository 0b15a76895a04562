// Preview webview entry (runs in the browser sandbox; talks to the host only through the types of
// src/shared/protocol.ts). Registers the vscode-elements components it uses and starts the app.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import './preview.css';
import { RequestClient, type HostToWebview, type PreviewWebviewState, type WebviewToHost } from '../shared/protocol';
import { PreviewApp } from './previewApp';

declare function acquireVsCodeApi(): {
  postMessage(message: WebviewToHost): void;
  setState(state: PreviewWebviewState): void;
  getState(): PreviewWebviewState | undefined;
};

const vscodeApi = acquireVsCodeApi();
const client = new RequestClient((message) => vscodeApi.postMessage(message));
const root = document.getElementById('app');
if (root) {
  const app = new PreviewApp(root, client, (state) => vscodeApi.setState(state));
  window.addEventListener('message', (event: MessageEvent<HostToWebview>) => {
    if (!client.handle(event.data)) app.handle(event.data);
  });
  window.addEventListener('unload', () => client.dispose());
  vscodeApi.postMessage({ type: 'ready' });
}
