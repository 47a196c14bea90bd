// Two pages (the app and its OAuth callback), served from /apps/vite/ by the test stack.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL('index.html', import.meta.url)),
        callback: fileURLToPath(new URL('callback.html', import.meta.url)),
      },
    },
  },
});
