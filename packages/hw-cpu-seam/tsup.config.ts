/** Build: the shared layer-package set-up (tooling/tsup-library.ts). */
export { default } from "../../tooling/tsup-library";
