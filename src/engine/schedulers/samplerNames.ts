// The samplers and sigma schedules this engine implements, by the names scenes use. Declared beside
// the schedulers (the scene vocabulary re-exports them) so model configs can name defaults without
// depending on the scene layer.

export const SAMPLERS = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'lcm'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

export const SCHEDULES = ['normal', 'karras'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];
