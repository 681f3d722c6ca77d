// Bundles the example page (page/app.js, which imports @uppy/core and @uppy/aws-s3) into
// page/dist/app.js with esbuild. `node build.mjs` from anywhere; serve.mjs and run.mjs call
// build() themselves.
import * as esbuild from 'esbuild'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

export async function build() {
  await esbuild.build({
    entryPoints: [join(here, 'page', 'app.js')],
    outfile: join(here, 'page', 'dist', 'app.js'),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await build()
}
