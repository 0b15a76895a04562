// Quality evaluation of the tiny-shapes model through the engine (scripts/eval-model.ts,
// scripts/eval-precision.ts, the evaluation test): the pixel judge and the scoring of tools/tiny_model.
// QA code, not part of the engine: it reaches the engine only through its public entry.
export { judgeImage, sameVerdict, horizontalSide, verticalSide, PALETTE, MAX_DISTANCE, MIN_OBJECT_FRACTION, type JudgeVerdict } from './judge';
export { scoreSet, onHorizontalSide, onVerticalSide, roundLikePython, SCORE_FIELDS, type EvalItem, type SetScore } from './score';
