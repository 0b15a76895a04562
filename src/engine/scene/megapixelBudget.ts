// Turns a pixel budget ({megapixels, aspect}) into a width and height on the model's spatial grid.
// 1 megapixel = 1,000,000 pixels. Among grid-aligned sizes near the ideal one, the choice minimises
// |ln(area / budget)| + 2·|ln(aspect / wanted aspect)|: a wrong aspect is more visible than a few
// percent of area, and log errors treat too big and too small alike.

export interface GridSize {
  width: number;
  height: number;
  /** Relative area error, signed: (area − budget) / budget. */
  areaError: number;
  /** Relative aspect error, signed: (w/h − aspect) / aspect. */
  aspectError: number;
}

/** The grid-aligned size closest to `megapixels` at `aspect` (width / height). */
export function sizeForBudget(megapixels: number, aspect: number, grid: number): GridSize {
  if (!(megapixels > 0) || !(aspect > 0) || !(grid > 0)) {
    throw new RangeError(`sizeForBudget needs positive inputs; got megapixels ${megapixels}, aspect ${aspect}, grid ${grid}`);
  }
  const budget = megapixels * 1e6;
  const idealHeight = Math.sqrt(budget / aspect);
  const maxCells = Math.max(1, Math.ceil((2 * idealHeight) / grid) + 1);
  let best: GridSize | undefined;
  let bestCost = Infinity;
  for (let hCells = 1; hCells <= maxCells; hCells++) {
    const height = hCells * grid;
    const wIdeal = (height * aspect) / grid;
    for (const wCells of new Set([Math.max(1, Math.floor(wIdeal)), Math.max(1, Math.ceil(wIdeal))])) {
      const width = wCells * grid;
      const areaLog = Math.abs(Math.log((width * height) / budget));
      const aspectLog = Math.abs(Math.log(width / height / aspect));
      const cost = areaLog + 2 * aspectLog;
      // Ties (symmetric sizes) go to the larger area, so a budget never rounds to a smaller image by accident.
      if (cost < bestCost - 1e-12 || (Math.abs(cost - bestCost) <= 1e-12 && best && width * height > best.width * best.height)) {
        bestCost = cost;
        best = { width, height, areaError: (width * height - budget) / budget, aspectError: (width / height - aspect) / aspect };
      }
    }
  }
  return best!;
}

/** The multiples of `grid` nearest to `pixels`, below and above (equal when already aligned). */
export function nearestGridMultiples(pixels: number, grid: number): [number, number] {
  const below = Math.max(grid, Math.floor(pixels / grid) * grid);
  const above = Math.max(grid, Math.ceil(pixels / grid) * grid);
  return [below, above];
}

/** How far a training bucket may be from the budget and aspect to be chosen over the exact grid size. */
export const BUCKET_TOLERANCE = { area: 0.15, aspect: 0.06 };

/**
 * The training bucket (a size the model was trained at, e.g. SDXL's 1216x832) nearest to `megapixels` at
 * `aspect`, by the same cost as sizeForBudget; undefined when none is within BUCKET_TOLERANCE of both,
 * so a budget far from the model's training sizes still gets the exact grid size.
 */
export function bucketForBudget(buckets: readonly { width: number; height: number }[], megapixels: number, aspect: number): GridSize | undefined {
  const budget = megapixels * 1e6;
  let best: GridSize | undefined;
  let bestCost = Infinity;
  for (const { width, height } of buckets) {
    const areaError = (width * height - budget) / budget;
    const aspectError = (width / height - aspect) / aspect;
    if (Math.abs(areaError) > BUCKET_TOLERANCE.area || Math.abs(aspectError) > BUCKET_TOLERANCE.aspect) continue;
    const cost = Math.abs(Math.log((width * height) / budget)) + 2 * Math.abs(Math.log(width / height / aspect));
    if (cost < bestCost) {
      bestCost = cost;
      best = { width, height, areaError, aspectError };
    }
  }
  return best;
}
