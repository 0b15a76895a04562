// Samplers: euler, euler_a, ddim, dpmpp_2m and lcm over diffusers scheduler configs.
export type { SamplerName, SigmaSchedule, Scheduler, SchedulerRun, SchedulerOptions, StepOutput } from './Scheduler';
export type { SchedulerConfig, BetaSchedule, PredictionType, TimestepSpacing, FinalSigmasType } from './SchedulerConfig';
export { parseSchedulerConfig } from './SchedulerConfig';
export { createScheduler, SCHEDULES_OF } from './createScheduler';
export { img2imgStartIndex } from './img2imgStartIndex';
