// The render servers a project names (imgprompt.backends.json at its root), as backends made once per
// project, server and file content: what the render worker uses for scenes that say `backend: <name>`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors';
import type { RenderBackend } from '../render/RenderBackend';
import { createRemoteBackend } from './createRemoteBackend';
import { BACKENDS_FILE, parseBackendsFile } from './remoteServer';

const MAX_BACKENDS_FILE_BYTES = 1024 * 1024;

export class ProjectBackends {
  private readonly made = new Map<string, RenderBackend>();

  /** The backend of server `name` in `projectRoot`'s imgprompt.backends.json; errors say what is wrong where. */
  get(projectRoot: string, name: string): RenderBackend {
    const file = join(projectRoot, BACKENDS_FILE);
    let text: string;
    try {
      const bytes = readFileSync(file);
      if (bytes.length > MAX_BACKENDS_FILE_BYTES) throw new InputError(`${BACKENDS_FILE} is larger than ${MAX_BACKENDS_FILE_BYTES} bytes`, file);
      text = bytes.toString('utf8');
    } catch (error) {
      if (error instanceof InputError) throw error;
      throw new InputError(`the scene names render server '${name}', but ${BACKENDS_FILE} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, file);
    }
    const key = `${file}\u0000${name}\u0000${text}`;
    let backend = this.made.get(key);
    if (!backend) {
      const server = parseBackendsFile(text, file).find((s) => s.name === name);
      if (!server) throw new InputError(`no render server named '${name}' (named: ${parseBackendsFile(text, file).map((s) => s.name).join(', ') || 'none'})`, file);
      backend = createRemoteBackend(server);
      this.made.set(key, backend);
    }
    return backend;
  }

  async dispose(): Promise<void> {
    for (const backend of this.made.values()) await backend.dispose().catch(() => undefined);
    this.made.clear();
  }
}
