/**
 * Layering guard (pnpm lint:layers). One rule per layer: a file in packages/<layer>/ may import
 * only the layer packages ../shared/ARCHITECTURE.md allows it (tooling/layering/layers.cjs).
 */
const { ALLOWED, LAYERS } = require("./tooling/layering/layers.cjs");

const layerRules = LAYERS.map((name) => {
  const forbidden = LAYERS.filter((other) => other !== name && !ALLOWED[name].includes(other));
  return {
    name: `layer-${name}-imports-only-${ALLOWED[name].join("+") || "nothing"}`,
    comment: `packages/${name} may import only ${ALLOWED[name].join(", ") || "no other layer"} (ARCHITECTURE.md layer table)`,
    severity: "error",
    from: { path: `^packages/${name}/` },
    // the resolved file, or the bare package name when the import does not resolve (a layer
    // missing from package.json): either way the layer rule is the one reported
    to: { path: `^(packages/(${forbidden.join("|")})/|@tdx/(${forbidden.join("|")})(/|$))` },
  };
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "packages-not-to-apps",
      comment: "library layers never import the composing app",
      severity: "error",
      from: { path: "^packages/" },
      to: { path: "^apps/" },
    },
    {
      name: "no-deep-imports",
      comment: "import another package only through its face (src/index.ts or src/testing/index.ts)",
      severity: "error",
      from: { path: "^(packages|apps)/([^/]+)/" },
      to: {
        path: "^packages/([^/]+)/src/(?!(index|testing/index)\\.ts$)",
        pathNot: "^packages/$2/",
      },
    },
    {
      name: "not-to-unresolvable",
      comment: "an import that does not resolve (often: a layer missing from package.json)",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(dist|node_modules)/" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["@tdx/source", "import", "types", "default"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".json"],
    },
  },
};
