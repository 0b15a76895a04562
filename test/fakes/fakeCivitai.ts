// A loopback Civitai for tests, answering as its public API reference documents
// (https://developer.civitai.com/site/reference/): /api/v1/model-versions/{id},
// /api/v1/model-versions/by-hash/{hash} (SHA256 or AutoV2, any case), /api/v1/models/{id} with the
// permission fields, and /api/download/models/{versionId}: 401 JSON without a token for models that need
// one, else a 307 to a signed URL on a second host that serves the bytes with Range support.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeCivitaiVersion {
  modelId: number;
  versionId: number;
  modelName: string;
  versionName: string;
  baseModel: string;
  trainedWords: string[];
  fileName: string;
  data: Buffer;
  type?: string;
  /** Downloads need a token. */
  requiresAuth?: boolean;
  allowCommercialUse?: string[];
  allowDerivatives?: boolean;
  allowNoCredit?: boolean;
  allowDifferentLicense?: boolean;
}

export interface CivitaiRequest {
  host: 'api' | 'cdn';
  path: string;
  authorized: boolean;
  status: number;
}

export class FakeCivitai {
  readonly log: CivitaiRequest[] = [];
  private readonly versions = new Map<number, FakeCivitaiVersion>();
  private api?: Server;
  private cdn?: Server;
  url = '';
  cdnUrl = '';

  add(version: FakeCivitaiVersion): void {
    this.versions.set(version.versionId, version);
  }

  async start(): Promise<void> {
    this.api = createServer((req, res) => this.handleApi(req, res));
    this.cdn = createServer((req, res) => this.handleCdn(req, res));
    for (const s of [this.api, this.cdn]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.api.address() as AddressInfo).port}`;
    this.cdnUrl = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of [this.api, this.cdn]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  private send(req: IncomingMessage, res: ServerResponse, host: 'api' | 'cdn', status: number, headers: Record<string, string | number>, body: Buffer | string = ''): void {
    this.log.push({ host, path: req.url ?? '', authorized: req.headers.authorization !== undefined, status });
    const data = Buffer.isBuffer(body) ? body : Buffer.from(body);
    res.writeHead(status, { 'content-length': data.length, ...headers });
    res.end(req.method === 'HEAD' ? undefined : data);
  }

  private json(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
    this.send(req, res, 'api', status, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(value));
  }

  private versionJson(v: FakeCivitaiVersion): unknown {
    const sha256 = createHash('sha256').update(v.data).digest('hex').toUpperCase();
    return {
      id: v.versionId,
      modelId: v.modelId,
      name: v.versionName,
      baseModel: v.baseModel,
      baseModelType: 'Standard',
      air: `urn:air:sd1:${(v.type ?? 'Checkpoint').toLowerCase()}:civitai:${v.modelId}@${v.versionId}`,
      status: 'Published',
      availability: 'Public',
      trainedWords: v.trainedWords,
      stats: { downloadCount: 1, thumbsUpCount: 0, thumbsDownCount: 0 },
      model: { name: v.modelName, type: v.type ?? 'Checkpoint', nsfw: false, poi: false },
      files: [
        {
          id: v.versionId * 10,
          sizeKB: v.data.length / 1024,
          name: v.fileName,
          type: 'Model',
          pickleScanResult: 'Success',
          virusScanResult: 'Success',
          metadata: { format: 'SafeTensor', size: 'pruned', fp: 'fp16' },
          hashes: { AutoV1: 'ABCDEF12', AutoV2: sha256.slice(0, 10), SHA256: sha256, CRC32: '00000000', BLAKE3: 'A'.repeat(64), AutoV3: 'B'.repeat(12) },
          primary: true,
          downloadUrl: `${this.url}/api/download/models/${v.versionId}`,
        },
      ],
      images: [],
      downloadUrl: `${this.url}/api/download/models/${v.versionId}`,
    };
  }

  private handleApi(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', this.url).pathname;
    let m = /^\/api\/v1\/model-versions\/by-hash\/([0-9A-Fa-f]+)$/.exec(path);
    if (m) {
      const hash = m[1].toUpperCase();
      const v = [...this.versions.values()].find((x) => {
        const sha = createHash('sha256').update(x.data).digest('hex').toUpperCase();
        return sha === hash || sha.slice(0, 10) === hash;
      });
      return v ? this.json(req, res, 200, this.versionJson(v)) : this.json(req, res, 404, { error: 'Model not found' });
    }
    m = /^\/api\/v1\/model-versions\/(\d+)$/.exec(path);
    if (m) {
      const v = this.versions.get(Number(m[1]));
      return v ? this.json(req, res, 200, this.versionJson(v)) : this.json(req, res, 404, { error: `No model version with id ${m[1]}` });
    }
    m = /^\/api\/v1\/models\/(\d+)$/.exec(path);
    if (m) {
      const vs = [...this.versions.values()].filter((x) => x.modelId === Number(m![1]));
      if (vs.length === 0) return this.json(req, res, 404, { error: `No model with id ${m[1]}` });
      const v = vs[0];
      return this.json(req, res, 200, {
        id: v.modelId,
        name: v.modelName,
        type: v.type ?? 'Checkpoint',
        nsfw: false,
        allowNoCredit: v.allowNoCredit ?? true,
        allowCommercialUse: v.allowCommercialUse ?? ['Image', 'RentCivit', 'Rent', 'Sell'],
        allowDerivatives: v.allowDerivatives ?? true,
        allowDifferentLicense: v.allowDifferentLicense ?? true,
        modelVersions: vs.map((x) => this.versionJson(x)),
      });
    }
    m = /^\/api\/download\/models\/(\d+)$/.exec(path);
    if (m) {
      const v = this.versions.get(Number(m[1]));
      if (!v) return this.json(req, res, 404, { error: 'Not found' });
      if (v.requiresAuth && !req.headers.authorization) return this.json(req, res, 401, { error: 'Unauthorized', message: 'The creator of this asset requires you to be logged in to download it' });
      const sha = createHash('sha256').update(v.data).digest('hex');
      const location = `${this.cdnUrl}/model/${sha}/${encodeURIComponent(v.fileName)}?X-Amz-Signature=${randomBytes(6).toString('hex')}`;
      return this.send(req, res, 'api', 307, { location });
    }
    this.json(req, res, 404, { error: 'Not found' });
  }

  private handleCdn(req: IncomingMessage, res: ServerResponse): void {
    const m = /^\/model\/([0-9a-f]{64})\//.exec(req.url ?? '');
    const v = m ? [...this.versions.values()].find((x) => createHash('sha256').update(x.data).digest('hex') === m[1]) : undefined;
    if (!v || !(req.url ?? '').includes('X-Amz-Signature')) return this.send(req, res, 'cdn', 403, {}, 'AccessDenied');
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= v.data.length && range) return this.send(req, res, 'cdn', 416, { 'content-range': `bytes */${v.data.length}` });
    const body = v.data.subarray(start);
    const headers = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'content-disposition': `attachment; filename="${v.fileName}"`, ...(range ? { 'content-range': `bytes ${start}-${v.data.length - 1}/${v.data.length}` } : {}) };
    this.send(req, res, 'cdn', range ? 206 : 200, headers, body);
  }
}
