import { defineConfig } from 'vite';
import tailwindcss from '@tailwindcss/vite';

// JSX is compiled by esbuild (no React plugin needed). In development, /api is proxied to a
// running collector (CIPULSE_API, default http://127.0.0.1:8080), or answered by the contract
// stub in dev/mock-api.js when CIPULSE_MOCK=1. Neither is part of the build.
export default defineConfig(async () => {
  const plugins = [tailwindcss()];
  if (process.env.CIPULSE_MOCK === '1') {
    const { mockApi } = await import(new URL('./dev/mock-api.js', import.meta.url).href);
    plugins.push(mockApi());
  }
  return {
    plugins,
    esbuild: { jsx: 'automatic' },
    build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400 },
    server: {
      proxy: process.env.CIPULSE_MOCK === '1' ? undefined : {
        '/api': process.env.CIPULSE_API || 'http://127.0.0.1:8080',
      },
    },
    test: { include: ['src/**/*.test.js'], environment: 'node' },
  };
});
