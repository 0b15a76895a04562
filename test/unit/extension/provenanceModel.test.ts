// The provenance panel's hint rows: each control's source image, then the preprocessed hint a render
// saved beside the output (figure.hint-N.png), resolved by absolute path so the host can show it when present.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageMetadataReport } from '../../../src/engine/interop/readImageMetadata';
import { PREPROCESSED_HINT_LABEL, provenanceView } from '../../../src/extension/preview/provenanceModel';

test('each control lists its source image and, after it, the preprocessed hint saved beside the output', () => {
  const report: ImageMetadataReport = {
    file: '/p/docs/figure.png',
    sources: [],
    provenance: { aiGenerated: true },
    recipe: {
      control: [
        { type: 'canny', image: 'docs/photo.png', strength: 0.8 },
        { type: 'scribble', image: 'docs/sketch.png', strength: 1 },
      ],
    },
    text: [],
    warnings: [],
  };
  const asked: string[] = [];
  const view = provenanceView(report, 'up-to-date', (path) => {
    asked.push(path);
    return path.endsWith('.png') ? { id: path, src: `uri:${path}`, alt: path } : undefined;
  });
  assert.deepEqual(asked, ['docs/photo.png', '/p/docs/figure.hint-1.png', 'docs/sketch.png', '/p/docs/figure.hint-2.png']);
  assert.deepEqual(
    view.hints.map((h) => h.label),
    [
      'canny: docs/photo.png (strength 0.8)',
      `canny hint ${PREPROCESSED_HINT_LABEL}: figure.hint-1.png`,
      'scribble: docs/sketch.png (strength 1)',
      `scribble hint ${PREPROCESSED_HINT_LABEL}: figure.hint-2.png`,
    ],
  );
  assert.equal(view.hints[1].image?.src, 'uri:/p/docs/figure.hint-1.png');
});
