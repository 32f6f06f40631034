// The bench pages (`bench/restore/`), built from the app's own modules into `bench/dist`, which
// the bench serves as the server's web root (never `frontend/dist`). Same build settings as the
// app (vite.config.ts), so the page runs under the server's Content-Security-Policy;
// `BENCH_MINIFY=0` keeps the functions' names for a CPU profile (`--profile`).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./restore'),
  plugins: [svelte({ configFile: here('../svelte.config.js') })],
  logLevel: 'warn',
  build: {
    target: 'es2022',
    outDir: here('./dist'),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    sourcemap: false,
    minify: process.env.BENCH_MINIFY !== '0',
    rollupOptions: {
      // The page imports the device module up front, which the app loads on demand: one chunk.
      onwarn(warning, warn) {
        if (warning.code !== 'INEFFECTIVE_DYNAMIC_IMPORT') warn(warning);
      },
    },
  },
});
