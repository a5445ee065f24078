/** Rampart's own release, reported by /health. Keep in step with package.json. */
export const RAMPART_VERSION = "0.1.0";
