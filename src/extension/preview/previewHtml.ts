// The preview's HTML shell: a strict Content Security Policy (nothing by default; scripts and styles
// only with this load's nonce; images only from webview resources) and the bundled webview script.
// Step previews and the difference heatmap are painted on canvases from bytes sent as messages, so
// img-src never needs data: URIs.
import { randomBytes } from 'node:crypto';
import type * as vscode from 'vscode';

/** A fresh, unguessable nonce per page load (128 bits from the OS's CSPRNG). */
export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

export function previewHtml(webview: vscode.Webview, assets: { script: vscode.Uri; style: vscode.Uri }, title: string, nonce = createNonce()): string {
  // Styles come from the bundled stylesheet (the webview origin); Lit's components adopt constructed
  // stylesheets, which CSP does not govern. No inline styles, so no 'unsafe-inline'.
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource}`,
    `style-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${assets.style.toString()}">
<title>${escapeHtml(title)}</title>
</head>
<body>
<div id="app" role="main" aria-label="${escapeHtml(title)}"><p>Loading the preview…</p></div>
<script nonce="${nonce}" src="${assets.script.toString()}"></script>
</body>
</html>`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
