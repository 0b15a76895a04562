// Which onnxruntime execution provider renders locally. onnxruntime-node's prebuilt binaries offer, per
// platform (its README's table): CUDA on linux x64 (its provider libraries come from the package's install
// script), DirectML on Windows, CoreML on macOS, WebGPU (experimental) everywhere but linux arm64, and the
// CPU everywhere. A provider this platform does not offer, or whose libraries are not installed, falls back
// to the CPU with a sentence saying why; so does one whose session fails to start (onnxruntime's reason).
// Pixels depend on the device: the byte-identical promise holds per device, which the recorded runtime
// (`1.30.0` on the CPU, `1.30.0+cuda` on CUDA) makes visible.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const EXECUTION_PROVIDERS = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type ExecutionProviderSetting = (typeof EXECUTION_PROVIDERS)[number];
export type ExecutionProviderName = Exclude<ExecutionProviderSetting, 'auto'>;

/** GPU providers of onnxruntime-node's prebuilt binaries per `platform-arch`, best first. */
export const PLATFORM_PROVIDERS: Readonly<Record<string, readonly ExecutionProviderName[]>> = {
  'linux-x64': ['cuda', 'webgpu'],
  'linux-arm64': [],
  'win32-x64': ['dml', 'webgpu'],
  'win32-arm64': ['dml', 'webgpu'],
  'darwin-x64': ['coreml', 'webgpu'],
  'darwin-arm64': ['coreml', 'webgpu'],
};

export interface ProviderEnvironment {
  readonly platform: string;
  readonly arch: string;
  /** onnxruntime-node's listSupportedBackends(): the backends this binding was built with. */
  readonly supported: readonly { readonly name: string; readonly bundled: boolean }[];
  /** Whether a provider that is not bundled has its shared library installed beside the binding. */
  readonly libraryInstalled: (provider: ExecutionProviderName) => boolean;
}

export interface ProviderSelection {
  /** What onnxruntime is given, in order (CPU last: nodes a GPU provider lacks run there). */
  readonly providers: readonly ExecutionProviderName[];
  /** The provider that renders. */
  readonly device: ExecutionProviderName;
  /** Why a requested GPU provider is not used; absent when the request was met. */
  readonly fallback?: string;
}

const LABEL: Readonly<Record<ExecutionProviderName, string>> = { cpu: 'CPU', cuda: 'CUDA', dml: 'DirectML', coreml: 'CoreML', webgpu: 'WebGPU' };

export function isExecutionProviderSetting(value: string): value is ExecutionProviderSetting {
  return (EXECUTION_PROVIDERS as readonly string[]).includes(value);
}

function usable(provider: ExecutionProviderName, env: ProviderEnvironment): string | undefined {
  const platform = `${env.platform}-${env.arch}`;
  const offered = PLATFORM_PROVIDERS[platform] ?? [];
  if (!offered.includes(provider)) {
    return `onnxruntime-node offers no ${LABEL[provider]} on ${platform} (${offered.length ? `it offers ${offered.map((p) => LABEL[p]).join(', ')}` : 'only the CPU there'})`;
  }
  const backend = env.supported.find((b) => b.name === provider);
  if (!backend) return `this onnxruntime-node build has no ${LABEL[provider]} provider`;
  if (!backend.bundled && !env.libraryInstalled(provider)) {
    return `the ${LABEL[provider]} provider's libraries are not installed (onnxruntime-node's install script downloads them; it was skipped, e.g. with ONNXRUNTIME_NODE_INSTALL=skip)`;
  }
  return undefined;
}

/**
 * The providers for a setting. `auto` takes the platform's first usable GPU provider other than the
 * experimental WebGPU, else the CPU, and reports no fallback: the CPU is a fine answer to "auto".
 */
export function selectExecutionProvider(setting: ExecutionProviderSetting, env: ProviderEnvironment): ProviderSelection {
  if (setting === 'cpu') return { providers: ['cpu'], device: 'cpu' };
  if (setting === 'auto') {
    const gpu = (PLATFORM_PROVIDERS[`${env.platform}-${env.arch}`] ?? []).find((p) => p !== 'webgpu' && usable(p, env) === undefined);
    return gpu ? { providers: [gpu, 'cpu'], device: gpu } : { providers: ['cpu'], device: 'cpu' };
  }
  const why = usable(setting, env);
  if (why) return { providers: ['cpu'], device: 'cpu', fallback: `${LABEL[setting]} requested but rendering on the CPU: ${why}` };
  return { providers: [setting, 'cpu'], device: setting };
}

/** The provider libraries onnxruntime loads at session start, by provider (linux names). */
const PROVIDER_LIBRARIES: Partial<Record<ExecutionProviderName, string>> = { cuda: 'libonnxruntime_providers_cuda.so' };

/** This process's environment: the platform, onnxruntime-node's binding and its folder. */
export function currentProviderEnvironment(ort: { listSupportedBackends?: () => { name: string; bundled: boolean }[] }, bindingFolder?: string): ProviderEnvironment {
  let supported: { name: string; bundled: boolean }[] = [{ name: 'cpu', bundled: true }];
  try {
    supported = ort.listSupportedBackends?.() ?? supported;
  } catch {
    // An older binding without the listing: the CPU only.
  }
  return {
    platform: process.platform,
    arch: process.arch,
    supported,
    libraryInstalled: (provider) => {
      const library = PROVIDER_LIBRARIES[provider];
      return library !== undefined && bindingFolder !== undefined && existsSync(join(bindingFolder, library));
    },
  };
}

/** The folder of onnxruntime-node's native binding for this platform, where provider libraries go. */
export function onnxruntimeBindingFolder(resolvePackage: (id: string) => string): string | undefined {
  try {
    return join(dirname(resolvePackage('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}
