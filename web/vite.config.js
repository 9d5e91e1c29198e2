import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { defineConfig } from 'vite';
import tailwindcss from '@tailwindcss/vite';

// JSX is compiled by esbuild (no React plugin needed). In development, /api is proxied to a
// running collector (CIPULSE_API, default http://127.0.0.1:8080), or answered by the contract
// stub in dev/mock-api.js when CIPULSE_MOCK=1. Neither is part of the build.
//
// src/early.js is an entry of its own, put in index.html ahead of the app's bundle: a few kB that
// ask for the first page's data while the browser still loads the app (the collector's
// Content-Security-Policy allows no inline script, hence a file). The app imports it too, so
// both use the one module.
function earlyScript() {
  return {
    name: 'cipulse-early-script',
    transformIndexHtml: {
      order: 'post',
      handler(html, ctx) {
        const chunk = ctx.bundle && Object.values(ctx.bundle).find((c) => c.type === 'chunk' && c.isEntry && c.name === 'early');
        const src = chunk ? `/${chunk.fileName}` : '/src/early.js';
        return [{ tag: 'script', attrs: { type: 'module', crossorigin: true, src }, injectTo: 'head-prepend' }];
      },
    },
  };
}

// A gzip copy (name.gz) beside each built script and style sheet of 1 kB or more: the collector
// answers it to browsers that accept gzip (collector/http/static.c), so the app's ~190 kB travel
// as ~61 kB without compressing on every request.
function precompress() {
  return {
    name: 'cipulse-precompress',
    apply: 'build',
    writeBundle(options, bundle) {
      for (const name of Object.keys(bundle)) {
        if (!/^assets\/.+\.(js|css|svg)$/.test(name)) continue;
        const file = path.join(options.dir, name);
        const data = fs.readFileSync(file);
        if (data.length >= 1024) fs.writeFileSync(`${file}.gz`, zlib.gzipSync(data, { level: 9 }));
      }
    },
  };
}

export default defineConfig(async () => {
  const plugins = [tailwindcss(), earlyScript(), precompress()];
  if (process.env.CIPULSE_MOCK === '1') {
    const { mockApi } = await import(new URL('./dev/mock-api.js', import.meta.url).href);
    plugins.push(mockApi());
  }
  return {
    plugins,
    esbuild: { jsx: 'automatic' },
    // The app is written against React's API and runs on Preact through preact/compat: the main
    // chunk is 103 kB instead of 308 kB (34 instead of 93 kB gzipped), which the browser parses
    // and compiles before the first page can render (docs/scaling.md, the dashboard).
    resolve: {
      alias: [
        { find: /^react-dom\/client$/, replacement: 'preact/compat/client' },
        { find: /^react\/jsx-runtime$/, replacement: 'preact/jsx-runtime' },
        { find: /^react\/jsx-dev-runtime$/, replacement: 'preact/jsx-dev-runtime' },
        { find: /^react-dom$/, replacement: 'preact/compat' },
        { find: /^react$/, replacement: 'preact/compat' },
      ],
    },
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      sourcemap: false,
      chunkSizeWarningLimit: 400,
      rollupOptions: { input: { index: 'index.html', early: 'src/early.js' } },
    },
    server: {
      proxy: process.env.CIPULSE_MOCK === '1' ? undefined : {
        '/api': process.env.CIPULSE_API || 'http://127.0.0.1:8080',
      },
    },
    test: { include: ['src/**/*.test.js'], environment: 'node' },
  };
});
