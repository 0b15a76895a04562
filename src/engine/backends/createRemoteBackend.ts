// A configured server as a RenderBackend of its API.
import type { RenderBackend } from '../render/RenderBackend';
import { A1111Backend } from './a1111/A1111Backend';
import { ComfyUIBackend } from './comfyui/ComfyUIBackend';
import type { RemoteServerConfig } from './remoteServer';

export function createRemoteBackend(server: RemoteServerConfig): RenderBackend {
  return server.api === 'comfyui' ? new ComfyUIBackend(server) : new A1111Backend(server);
}
