/**
 * @tdx/sim: the composing app's library face (the CLI lives in cli.ts).
 */
export { buildProgram, main } from "./cli";
export { describePlatform, type PlatformReport } from "./platform";
