/**
 * Jest runs the TypeScript sources as ESM through ts-jest (the project and NestJS 12 are ESM), which
 * needs Node's --experimental-vm-modules: the project's .npmrc passes it to every npm script and npx.
 */
const esmTypeScript = {
  extensionsToTreatAsEsm: ['.ts', '.tsx'],
  moduleNameMapper: {
    '^@arbor/gateway-client$': '<rootDir>/sdk/src/index.ts',
    '^@arbor/gateway-client/(protocol|testing|react)$': '<rootDir>/sdk/src/$1',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: { '^.+\\.tsx?$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }] },
  testEnvironment: 'node',
};

export default {
  projects: [
    { ...esmTypeScript, displayName: 'unit', setupFiles: ['<rootDir>/test/support/quiet-logger.ts'], testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/sdk/src/**/*.spec.ts'] },
    { ...esmTypeScript, displayName: 'react', testEnvironment: 'jsdom', testMatch: ['<rootDir>/sdk/src/react/**/*.spec.tsx'] },
    { ...esmTypeScript, displayName: 'e2e', setupFiles: ['<rootDir>/test/support/quiet-logger.ts'], globalSetup: '<rootDir>/test/support/build-before-e2e.mjs', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
  // A global option: multi-process suites restart gateways; each wait inside has its own deadline.
  testTimeout: 30_000,
};
