// Public API of the imgprompt engine: a plain Node library (never imports vscode).
export * from './errors';
export { ENGINE_VERSION } from './version';
