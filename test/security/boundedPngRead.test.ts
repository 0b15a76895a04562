// Issue 15, defect 5 as far as the PNG reader goes: `inspect`, `import`, hovers and the provenance view read
// a PNG only if it is a regular file under the image cap. A FIFO, /dev/zero behind a .png name, a folder or
// a huge (here sparse) file is refused at once with an InputError naming the path and the rule.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/engine/errors';
import { READ_CAPS } from '../../src/engine/io/readBounded';
import { readImageMetadataFile } from '../../src/engine/interop/readImageMetadata';
import { PNG_SIGNATURE } from '../../src/engine/output/pngChunks';

async function refusal(path: string): Promise<InputError> {
  try {
    await readImageMetadataFile(path);
  } catch (error) {
    assert.ok(error instanceof InputError, String(error));
    return error;
  }
  assert.fail(`${path} was read`);
}

describe('PNG reads are bounded', () => {
  test('a PNG larger than the image cap is refused before it is read (sparse file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-bounded-'));
    try {
      const huge = join(dir, 'huge.png');
      writeFileSync(huge, PNG_SIGNATURE);
      truncateSync(huge, READ_CAPS.image + 1);
      assert.match((await refusal(huge)).message, /huge\.png: the PNG is \d+ MiB, over the \d+ MiB a PNG may have/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a folder, a device and a FIFO named .png are refused as not regular files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-bounded-'));
    try {
      mkdirSync(join(dir, 'folder.png'));
      assert.match((await refusal(join(dir, 'folder.png'))).message, /not a regular file/);
      if (existsSync('/dev/zero')) {
        symlinkSync('/dev/zero', join(dir, 'zero.png'));
        assert.match((await refusal(join(dir, 'zero.png'))).message, /zero\.png: the PNG is not a regular file/);
      }
      let fifo = false;
      try {
        execFileSync('mkfifo', [join(dir, 'fifo.png')]);
        fifo = true;
      } catch {
        // no mkfifo here (Windows): nothing to test
      }
      if (fifo) assert.match((await refusal(join(dir, 'fifo.png'))).message, /fifo\.png: the PNG is not a regular file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
