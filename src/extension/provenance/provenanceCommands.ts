// Provenance commands and state: the C2PA signing key kept in VS Code's secret storage (never in
// settings or on disk in the workspace), and the project's prompt log opened as a rendered table.
import * as vscode from 'vscode';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PROMPT_LOG_PATH } from '../../engine/editor';
import type { CommandRunner } from '../commands/commandRunner';
import { COMMANDS } from '../commands/commandIds';
import { UserError } from '../util/userError';

const SECRET_KEY = 'imgprompt.c2paPrivateKey';
const MAX_KEY_BYTES = 64 * 1024;

/** The stored signing key, read once at activation and kept current; `onDidChange` fires when it changes. */
export class SigningKeyStore implements vscode.Disposable {
  private key: string | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly secrets: vscode.SecretStorage, log: vscode.LogOutputChannel) {
    this.subscription = secrets.onDidChange((e) => {
      if (e.key === SECRET_KEY) void this.load();
    });
    void this.load().catch((error: unknown) => log.warn(`cannot read the stored C2PA signing key: ${String(error)}`));
  }

  get(): string | undefined {
    return this.key;
  }

  private async load(): Promise<void> {
    const key = await this.secrets.get(SECRET_KEY);
    if (key === this.key) return;
    this.key = key;
    this.changed.fire();
  }

  /** Asks for a PEM private key file and stores its contents; or removes the stored key. */
  async choose(): Promise<void> {
    const pick = await vscode.window.showQuickPick(
      [
        { label: 'Choose a PEM private key file…', action: 'store' as const },
        ...(this.key ? [{ label: 'Remove the stored key (sign with the local identity)', action: 'remove' as const }] : []),
      ],
      { title: 'C2PA signing key (used with the imgprompt.c2paCertificate setting)' },
    );
    if (!pick) return;
    if (pick.action === 'remove') {
      await this.secrets.delete(SECRET_KEY);
      await this.load();
      return;
    }
    const [file] = (await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Use as signing key', filters: { 'PEM private key': ['pem', 'key'] } })) ?? [];
    if (!file) return;
    if ((await stat(file.fsPath)).size > MAX_KEY_BYTES) throw new UserError(`${file.fsPath} is larger than a private key (over ${MAX_KEY_BYTES} bytes).`);
    const pem = await readFile(file.fsPath, 'utf8');
    const block = /-----BEGIN (?:EC |RSA |ENCRYPTED )?PRIVATE KEY-----[\s\S]*?-----END (?:EC |RSA |ENCRYPTED )?PRIVATE KEY-----/.exec(pem)?.[0];
    if (!block) throw new UserError(`${file.fsPath} holds no PEM private key.`);
    if (block.includes('ENCRYPTED')) throw new UserError('The key is encrypted; store an unencrypted PEM key (it is kept in the editor’s secret storage).');
    await this.secrets.store(SECRET_KEY, block + '\n');
    await this.load();
    void vscode.window.showInformationMessage('C2PA signing key stored. Figures are signed with it and the certificate in imgprompt.c2paCertificate.');
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

/** Opens the prompt log of the active file's workspace folder (or the first one) as a rendered Markdown table. */
async function showPromptLog(): Promise<void> {
  const active = vscode.window.activeTextEditor?.document.uri;
  const folder = (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
  if (!folder || folder.uri.scheme !== 'file') throw new UserError('Open a folder: the prompt log lives in the project.', 'warning');
  const log = vscode.Uri.file(join(folder.uri.fsPath, PROMPT_LOG_PATH));
  try {
    await stat(log.fsPath);
  } catch {
    throw new UserError(`No prompt log yet in ${folder.name}: renders append to ${PROMPT_LOG_PATH} (setting imgprompt.promptLog).`, 'info');
  }
  await vscode.commands.executeCommand('markdown.showPreview', log);
}

export function registerProvenanceCommands(runner: CommandRunner, keys: SigningKeyStore): vscode.Disposable {
  return vscode.Disposable.from(
    runner.register(COMMANDS.showPromptLog, 'Show Prompt Log', () => showPromptLog()),
    runner.register(COMMANDS.setSigningKey, 'Set C2PA Signing Key', () => keys.choose()),
  );
}
