// The platform-specific .vsix packages: for each VS Code target, which native binaries of ONNX Runtime and
// sharp ship. The base .vscodeignore names the linux-x64 files; for another target its native lines are
// rewritten to that target's folders and packages. ONNX Runtime ships every platform's binaries inside
// onnxruntime-node (bin/napi-v6/<platform>/<arch>: the runtime, the binding, and on Windows DirectML.dll
// and the DirectX shader compiler DirectML needs); CUDA's provider libraries ship for linux-x64 when its
// install script fetched them. sharp's binaries are per-platform packages (@img/sharp-<target>,
// @img/sharp-libvips-<target> where libvips is separate), present once installed for that platform.

export const VSIX_TARGETS = ['linux-x64', 'linux-arm64', 'win32-x64', 'darwin-arm64'];

const ORT_FILES = {
  'linux-x64': ['libonnxruntime.so*', 'onnxruntime_binding.node', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  'linux-arm64': ['libonnxruntime.so*', 'onnxruntime_binding.node'],
  'win32-x64': ['onnxruntime.dll', 'onnxruntime_binding.node', 'DirectML.dll', 'dxcompiler.dll', 'dxil.dll'],
  'darwin-arm64': ['libonnxruntime.*dylib', 'onnxruntime_binding.node'],
};

/** sharp's per-platform packages (Windows builds carry libvips inside sharp-win32-x64). */
export function sharpPackages(target) {
  return target.startsWith('win32') ? [`@img/sharp-${target}`] : [`@img/sharp-${target}`, `@img/sharp-libvips-${target}`];
}

/** onnxruntime-node's binary folder for a target. */
export function ortFolder(target) {
  const [platform, arch] = target.split('-');
  return `node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}`;
}

/** The .vscodeignore text for `target`, made from the base (linux-x64) text. */
export function ignoreFileFor(target, base) {
  if (!VSIX_TARGETS.includes(target)) throw new Error(`unknown target '${target}' (known: ${VSIX_TARGETS.join(', ')})`);
  const lines = base.split('\n').filter((line) => !/^!node_modules\/onnxruntime-node\/bin\//.test(line) && !/^!node_modules\/@img\/sharp-/.test(line));
  const [platform, arch] = target.split('-');
  const native = [
    `# Native binaries for ${target} (scripts/vsixTargets.mjs).`,
    ...ORT_FILES[target].map((file) => `!node_modules/onnxruntime-node/bin/napi-v*/${platform}/${arch}/${file}`),
    ...sharpPackages(target).map((pkg) => `!node_modules/${pkg}/**`),
  ];
  return [...lines, ...native, ''].join('\n');
}

/** Files the extension cannot run without on `target`: checked in the built .vsix. */
export function requiredFilesFor(target) {
  const binding = `extension/${ortFolder(target)}/onnxruntime_binding.node`;
  return [binding, ...sharpPackages(target).slice(0, 1).map((pkg) => `extension/node_modules/${pkg}/package.json`)];
}
