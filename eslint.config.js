// ESLint for the browser scripts in ducting/web/static: plain scripts (no modules, no build step), each an IIFE
// that shares what it offers through `window.<Name>`. Run by tests/test_static_checks.py inside `./dev test`.
"use strict";
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  { ignores: ["node_modules/**", ".venv/**", ".local/**", "artifacts/**"] },
  {
    files: ["ducting/web/static/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: {
        ...globals.browser,
        L: "readonly", // Leaflet, from /static/vendor/leaflet
        Chart: "readonly", // Chart.js, from /static/vendor/chartjs (finance page)
        BEDELAU: "readonly", // language, role and ids, written inline by templates/base.html
        // what our own scripts offer each other through window.<Name>, by the script that defines it
        B: "readonly", // app.js
        BFormats: "readonly", // formats.js
        BMap: "readonly", // map.js
        BReq: "readonly", // requests.js
        BPanel: "readonly", // panel.js
        BDucts: "readonly", // ducts.js
      },
    },
    rules: {
      ...js.configs.recommended.rules,
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-implicit-globals": "error",
      "no-shadow": "error",
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
      "no-var": "error",
      "prefer-const": "error",
      strict: ["error", "function"],
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
  },
];
