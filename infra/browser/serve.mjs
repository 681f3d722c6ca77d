// The example page's static server. run.mjs imports serve(); `make dev` runs it:
//
//   node infra/browser/serve.mjs --port 9002 --api http://127.0.0.1:9000 [--host 127.0.0.1]
//
// It bundles page/app.js first (build.mjs), then serves page/ (index.html, dist/app.js) and
// /config.js, which tells the page the API's base URL it was started with (a `?api=` query
// parameter in the page's address wins). The page is a static client: it talks to the API and
// the storage from the browser, cross-origin, like any web app would.
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { dirname, extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from './build.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, 'page')

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.css': 'text/css; charset=utf-8',
}

/** Starts the server; resolves to { url, close() } once it listens. */
export async function serve({ host = '127.0.0.1', port = 5173, api = '' } = {}) {
  await build()
  const server = createServer(async (req, res) => {
    let path
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname)
    } catch {
      res.writeHead(400).end()
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end()
      return
    }
    if (path === '/config.js') {
      const body = `window.FILES_CONFIG = ${JSON.stringify({ api })};\n`
      res.writeHead(200, { 'content-type': TYPES['.js'], 'cache-control': 'no-store' }).end(body)
      return
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end()
      return
    }
    const file = normalize(join(root, path === '/' ? 'index.html' : path))
    if (!file.startsWith(root + sep)) {
      res.writeHead(404).end()
      return
    }
    try {
      const body = await readFile(file)
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      })
      res.end(req.method === 'HEAD' ? undefined : body)
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  return {
    url: `http://${host}:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = { host: '127.0.0.1', port: '9002', api: 'http://127.0.0.1:9000' }
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '')
    if (!(name in args) || argv[i + 1] === undefined) {
      console.error('usage: node serve.mjs [--port 9002] [--api http://127.0.0.1:9000] [--host 127.0.0.1]')
      process.exit(2)
    }
    args[name] = argv[i + 1]
  }
  const { url } = await serve({ host: args.host, port: Number(args.port), api: args.api })
  console.log(`example page on ${url}/ (API ${args.api}; add ?token=<make token> or paste one)`)
}
