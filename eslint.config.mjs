// ESLint flat config: typescript-eslint's strict set, type-aware for the TypeScript product sources
// (one program, tsconfig.eslint.json), syntax-only for tests, the plain JavaScript scripts and
// native/ (CommonJS). Formatting is prettier's job:
// eslint-config-prettier comes last and turns off every rule that would disagree with it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Type-aware rules pay on the product sources; over the tests too they cost a fifth more of the run
// (measured: 42 against 34 CPU seconds) for findings of little weight, so tests get the syntax-only set.
const typed = ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts'];
const tests = ['**/*.test.ts', '**/test/**/*.ts'];

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/',
      '**/dist/',
      'native/build/',
      '**/prebuilds/',
      'coverage/',
      'reports/',
      '.vm-work/',
      '.turbo/',
    ],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    files: typed,
    ignores: tests,
    extends: [...tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.eslint.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Off: it flags the runtime checks made on values whose static type is narrower than what a JS
      // caller, the native addon or a daemon client can pass (consent must be `=== true`), and state
      // re-read after an await.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // Off for the same reason: its autofix turns `options?.allowMediumWrite !== true` into a truthiness
      // test, which would take `'no'` or `1` from a JS caller as consent.
      '@typescript-eslint/no-unnecessary-boolean-literal-compare': 'off',
      // Off for the same reason: `String(x)` on a value typed string but read from JSON or a JS caller keeps
      // a number an id and a Symbol from throwing in a message; the autofix would drop it.
      '@typescript-eslint/no-unnecessary-type-conversion': 'off',
      // Off: an async function without await is how an implementation of a Promise-returning interface
      // keeps its throws inside the Promise (fastify plugins and routes, backend fakes).
      '@typescript-eslint/require-await': 'off',
      // Numbers in messages are the norm (`${n} bytes`); other non-strings still need an explicit String().
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // A void callback written as an arrow shorthand (`(e) => reject(e)`) is not confusing.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Off for run time (measured: together about 8 of the 49 CPU seconds of a full run). This code has
      // no TypeScript enums (const objects instead), and the class-instance rule only ever flagged
      // casts in tests.
      '@typescript-eslint/no-unsafe-enum-assignment': 'off',
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      // An abort reason, or an error caught from a callee, is passed on as it came.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
    },
  },
  // After the type-aware block, which would turn these back on for the files it covers.
  {
    rules: {
      // Off: with noUncheckedIndexedAccess every byte read from a CDB, sense or descriptor buffer is
      // `number | undefined`; the parsers check lengths once and assert per read, and `?? 0` would turn
      // a parsing bug into a silent zero.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Off: a handler that returns a result or nothing is typed `T | void`; `T | undefined` would make every
      // handler that just ends (and every Promise<void> one) a type error.
      '@typescript-eslint/no-invalid-void-type': 'off',
      // A leading underscore marks a parameter or binding that is unused on purpose (an interface's
      // argument, a field dropped from a rest copy).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests read the JSON documents they check field by field.
    files: tests,
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The test doubles the package ships (@usbscsi/core/testing) hand mocked methods to expect() as values.
    files: ['packages/core/src/testing/**/*.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off' },
  },
  {
    files: ['native/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    // CommonJS: require is its module system.
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
