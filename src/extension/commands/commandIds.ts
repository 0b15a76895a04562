// Every command the extension contributes; package.json's contributes.commands lists the same ids
// (a unit test checks that they agree).
export const COMMANDS = {
  render: 'imgprompt.render',
  renderAll: 'imgprompt.renderAll',
  verify: 'imgprompt.verify',
  verifyWorkspace: 'imgprompt.verifyWorkspace',
  openPreview: 'imgprompt.openPreview',
  cancelRender: 'imgprompt.cancelRender',
  newScene: 'imgprompt.newScene',
  importScene: 'imgprompt.importScene',
  insertFigure: 'imgprompt.insertFigure',
  showProvenance: 'imgprompt.showProvenance',
  showLog: 'imgprompt.showLog',
  setHuggingFaceToken: 'imgprompt.setHuggingFaceToken',
  setCivitaiToken: 'imgprompt.setCivitaiToken',
  showPromptLog: 'imgprompt.showPromptLog',
  setSigningKey: 'imgprompt.setSigningKey',
} as const;

export type CommandId = (typeof COMMANDS)[keyof typeof COMMANDS];

/** Context key set while any scene is queued or rendering (enables Cancel Render). */
export const RENDERING_CONTEXT_KEY = 'imgprompt.rendering';
