// The engine's version. It is part of every recipe hash: bump it whenever a change alters pixels.
export const ENGINE_VERSION = '0.2.0';
