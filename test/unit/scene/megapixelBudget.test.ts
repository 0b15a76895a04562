// sizeForBudget: grid-aligned sizes near a megapixel budget at an aspect ratio.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nearestGridMultiples, sizeForBudget } from '../../../src/engine/index';

describe('sizeForBudget', () => {
  test('0.03 MP at 16:9 on the tiny-shapes grid (32 px): within 15% of the budget and 6% of the aspect', () => {
    const s = sizeForBudget(0.03, 16 / 9, 32);
    assert.equal(s.width % 32, 0);
    assert.equal(s.height % 32, 0);
    assert.ok(Math.abs((s.width * s.height) / 30000 - 1) <= 0.15, `${s.width}x${s.height}`);
    assert.ok(Math.abs(s.width / s.height / (16 / 9) - 1) <= 0.06, `${s.width}x${s.height}`);
    assert.deepEqual([s.width, s.height], [224, 128]);
  });

  test('1 MP square on a 64 px grid (SD 1.5) is 1024x1024', () => {
    const s = sizeForBudget(1, 1, 64);
    assert.deepEqual([s.width, s.height], [1024, 1024]);
  });

  test('agrees with an exhaustive search over every grid size up to twice the ideal sides', () => {
    // Independent brute force with the documented cost |ln(area/budget)| + 2|ln(aspect ratio)|.
    const cost = (w: number, h: number, budget: number, aspect: number) => Math.abs(Math.log((w * h) / budget)) + 2 * Math.abs(Math.log(w / h / aspect));
    for (const [megapixels, aspect, grid] of [[0.25, 1.5, 8], [0.03, 16 / 9, 32], [0.7, 21 / 9, 64], [0.012, 0.6, 32], [2, 1.33, 8]]) {
      const budget = megapixels * 1e6;
      let best = Infinity;
      const limit = 2 * Math.sqrt(budget * Math.max(aspect, 1 / aspect));
      for (let w = grid; w <= limit + grid; w += grid) for (let h = grid; h <= limit + grid; h += grid) best = Math.min(best, cost(w, h, budget, aspect));
      const s = sizeForBudget(megapixels, aspect, grid);
      assert.ok(cost(s.width, s.height, budget, aspect) <= best + 1e-12, `${megapixels} MP @ ${aspect} on ${grid}: ${s.width}x${s.height}`);
    }
  });

  test('an exact fit is found exactly', () => {
    const s = sizeForBudget(0.01536, 5 / 3, 32); // 160x96
    assert.deepEqual([s.width, s.height, s.areaError, s.aspectError], [160, 96, 0, 0]);
  });

  test('sweep: always aligned, area within 15% and aspect within 6% once the budget spans ≥ 8 cells a side', () => {
    for (const grid of [8, 32, 64]) {
      for (const aspect of [1, 4 / 3, 3 / 2, 16 / 9, 2, 9 / 16, 2 / 3, 21 / 9]) {
        for (let k = 0; k < 25; k++) {
          const shortSideCells = 8 + k;
          const megapixels = (shortSideCells * grid) ** 2 * Math.max(aspect, 1 / aspect) / 1e6 * (1 + 0.37 * Math.sin(k));
          const s = sizeForBudget(megapixels, aspect, grid);
          const where = `${megapixels} MP @ ${aspect} on ${grid}: ${s.width}x${s.height}`;
          assert.ok(s.width % grid === 0 && s.height % grid === 0 && s.width > 0 && s.height > 0, where);
          assert.ok(Math.abs(s.areaError) <= 0.15, `area ${where}`);
          assert.ok(Math.abs(s.aspectError) <= 0.06, `aspect ${where}`);
        }
      }
    }
  });

  test('tiny budgets give at least one grid cell', () => {
    for (const aspect of [8, 1, 1 / 8]) {
      const s = sizeForBudget(1e-6, aspect, 64);
      assert.ok(s.width >= 64 && s.height >= 64, `${s.width}x${s.height}`);
    }
  });

  test('rejects nonsense inputs', () => {
    assert.throws(() => sizeForBudget(0, 1, 8), RangeError);
    assert.throws(() => sizeForBudget(1, Number.NaN, 8), RangeError);
  });

  test('nearestGridMultiples', () => {
    assert.deepEqual(nearestGridMultiples(100, 32), [96, 128]);
    assert.deepEqual(nearestGridMultiples(128, 32), [128, 128]);
    assert.deepEqual(nearestGridMultiples(5, 32), [32, 32]);
  });
});
