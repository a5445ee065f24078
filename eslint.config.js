// Type-aware lint: floating promises are bugs on Workers (work silently dropped after the response).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules", "dist", "**/.wrangler", "worker-configuration.d.ts", "eslint.config.js", "sdk/*/dist/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ["./tsconfig.json", "./tsconfig.node.json"], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      // Durable Object RPC methods are async by contract even when their body is synchronous.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-non-null-assertion": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Schemas are the source of truth: what is read back from storage or the wire goes through one, never a cast.
    files: ["core/**/*.ts", "worker/**/*.ts", "durable-objects/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "TSAsExpression[expression.callee.object.name='JSON'][expression.callee.property.name='parse']:not([typeAnnotation.type='TSUnknownKeyword'])",
          message: "Parse JSON into `unknown` and validate it with a zod schema instead of casting it.",
        },
      ],
    },
  },
  {
    // Tests read loosely-typed JSON bodies and index fixtures they just built.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    // The dashboard's browser script: plain JavaScript served as text, outside the TypeScript projects.
    files: ["worker/dashboard/assets/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: "script",
      globals: Object.fromEntries(
        ["window", "document", "location", "sessionStorage", "fetch", "setInterval", "Node", "CSS", "console"].map((name) => [name, "readonly"]),
      ),
    },
  },
);
