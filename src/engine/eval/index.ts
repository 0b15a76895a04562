// Quality evaluation of the tiny-shapes model through the engine (scripts/eval-model.ts, the evaluation
// test): the pixel judge and the scoring of tools/tiny-model. Not part of the public engine API.
export { judgeImage, sameVerdict, horizontalSide, verticalSide, PALETTE, MAX_DISTANCE, MIN_OBJECT_FRACTION, type JudgeVerdict } from './judge';
export { scoreSet, onHorizontalSide, onVerticalSide, roundLikePython, SCORE_FIELDS, type EvalItem, type SetScore } from './score';
