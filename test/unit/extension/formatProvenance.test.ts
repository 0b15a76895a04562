// Hover summaries and provenance documents for the fixture PNGs (A1111, InvokeAI, none) and for one of
// ours, built here with the engine's own metadata writer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readImageMetadata, readImageMetadataFile } from '../../../src/engine/interop/readImageMetadata';
import { buildMetadataEntries } from '../../../src/engine/output/metadataEntries';
import { insertPngText } from '../../../src/engine/output/pngText';
import { escapeMarkdown, formatImageSummary, formatProvenanceDocument, recordedScene } from '../../../src/extension/provenance/formatProvenance';

describe('formatImageSummary', () => {
  test('AUTOMATIC1111: prompt, settings and LoRAs in one hover', async () => {
    const summary = formatImageSummary(await readImageMetadataFile('test/fixtures/png/a1111.png'), 'a1111.png') ?? '';
    assert.match(summary, /^\*\*a1111\.png\*\* — made with AUTOMATIC1111 \(parameters\)$/m);
    assert.match(summary, /^> a lighthouse on a cliff, \(storm clouds:1\.2\), dramatic lighting$/m);
    assert.match(summary, /seed 3141592653 · model v1-5-pruned-emaonly \(6ce0161689\) · dpmpp\\_2m \/ karras, 28 steps, guidance 6\.5 · 768×512/);
  });

  test('no metadata: no hover', async () => {
    assert.equal(formatImageSummary(await readImageMetadataFile('test/fixtures/png/no-metadata.png'), 'x.png'), undefined);
  });

  test('ours: AI marking, recipe hash and the recorded scene', () => {
    const plain = readFileSync('test/fixtures/png/no-metadata.png');
    const recipe = {
      prompt: 'a red circle',
      seed: 7,
      steps: 12,
      sampler: 'euler_a',
      schedule: 'karras',
      guidance: 5.5,
      width: 128,
      height: 128,
      model: { ref: 'tiny-shapes', hash: 'sha256:0123456789abcdef' },
      hash: 'f'.repeat(64),
      scene: '/projects/docs/circle.imgprompt',
      purpose: 'Shows the simplest figure',
    };
    const report = readImageMetadata(insertPngText(plain, buildMetadataEntries(recipe)), 'circle.png');
    const summary = formatImageSummary(report, 'circle.png') ?? '';
    assert.match(summary, /made with imgprompt · AI-generated/);
    assert.match(summary, /seed 7 · model tiny-shapes/);
    assert.match(summary, /Purpose: Shows the simplest figure/);
    assert.match(summary, /Recipe `ffffffffffffffff`/);
    assert.equal(recordedScene(report), '/projects/docs/circle.imgprompt');
    const document = formatProvenanceDocument(report);
    assert.match(document, /- AI-generated marking: yes \(http:\/\/cv\.iptc\.org\/newscodes\/digitalsourcetype\/trainedAlgorithmicMedia\)/);
    assert.match(document, /## imgprompt recipe\n\n```json\n\{/);
  });
});

describe('formatProvenanceDocument', () => {
  test('lists every source, the values that map to no scene key, and the raw chunks', async () => {
    const document = formatProvenanceDocument(await readImageMetadataFile('test/fixtures/png/invokeai.png'));
    assert.match(document, /^# Provenance of test\/fixtures\/png\/invokeai\.png$/m);
    assert.match(document, /## InvokeAI\n\nPrompt:\n\n```\na red fox in the snow, watercolour\n```/);
    assert.match(document, /- seed 18446744073709551615/);
    assert.match(document, /- app_version: 4\.2\.7/);
    assert.match(document, /- `invokeai_metadata` \(iTXt, compressed, \d+ characters\)/);
  });

  test('an image without metadata says so', async () => {
    assert.match(formatProvenanceDocument(await readImageMetadataFile('test/fixtures/png/no-metadata.png')), /No generation metadata .* was found in this image\./);
  });

  test('a prompt containing backticks cannot close its code fence', () => {
    const plain = readFileSync('test/fixtures/png/no-metadata.png');
    const report = readImageMetadata(insertPngText(plain, buildMetadataEntries({ prompt: 'code ``` fence' })), 'x.png');
    assert.match(formatProvenanceDocument(report), /\n````\ncode ``` fence\n````\n/);
  });

  test('escapeMarkdown neutralises inline syntax', () => {
    assert.equal(escapeMarkdown('a *b* [c] <d>'), 'a \\*b\\* \\[c\\] \\<d\\>');
  });
});
