// The browser tests: the example page (page/app.js, Uppy with @uppy/aws-s3) in Debian's headless
// Chromium, driven by playwright-core, on its own origin (http://app.localhost:5173) against the
// services `make test` starts, once per storage backend:
//
//   local  $E2E_BASE_URL     local-media in front of `cargo lambda watch`, filesystem backend
//                            ($E2E_MEDIA_ROOT)
//   s3     $E2E_S3_BASE_URL  the same, on LocalStack's S3 ($TEST_S3_ENDPOINT, $E2E_S3_BUCKET)
//
// Tokens come from `files-admin token` with $E2E_JWT_SECRET. Every test prints
// `ok <backend> <name>` or `FAIL <backend> <name>: <why>`; any failure (a server or the browser
// missing too) exits non-zero. infra/browser/run.sh installs, builds and runs this.
import { chromium } from 'playwright-core'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serve } from './serve.mjs'
import { s3Client } from './s3.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const ROOT = join(here, '..', '..')
const MiB = 1024 * 1024
const APP_ORIGIN = 'http://app.localhost:5173'
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
// The network is closed: without these Chromium waits on its background connections.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const RUN = `b${Date.now().toString(36)}`
const results = []

function report(backend, name, error) {
  results.push({ backend, name, ok: !error })
  if (error) {
    const message = String(error.message ?? error).split("\n")[0].slice(0, 400)
    console.log(`FAIL ${backend} ${name}: ${message}`)
    if (process.env.BROWSER_TESTS_VERBOSE) console.log(String(error.stack ?? error).replace(/^/gm, '    '))
  }
  else console.log(`ok ${backend} ${name}`)
}

function assert(condition, message) {
  if (!condition) throw new Error(message)
}

function env(name) {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set (infra/scripts/test.sh exports it)`)
  return value
}

/** Deterministic bytes (xorshift32 from the seed), so a failure can be reproduced. */
function bytes(size, seed) {
  const out = Buffer.allocUnsafe(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    if (i + 4 <= size) out.writeUInt32LE(x, i)
    else for (let j = 0; i + j < size; j++) out[i + j] = (x >>> (8 * j)) & 0xff
  }
  return out
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex')

function token(user, org) {
  const admin = join(ROOT, 'target', 'debug', 'files-admin')
  if (!existsSync(admin)) execFileSync('cargo', ['build', '-q', '-p', 'files-admin'], { cwd: ROOT, stdio: 'inherit' })
  return execFileSync(admin, ['token', '--user', user, '--org', org], {
    env: { ...process.env, AUTH_MODE: 'local-jwt', AUTH_LOCAL_JWT_SECRET: env('E2E_JWT_SECRET') },
    encoding: 'utf8',
  }).trim()
}

// ---------------------------------------------------------------------------------------------
// One page session: the page on its origin, and what it sent over the network.
// ---------------------------------------------------------------------------------------------
class Session {
  constructor(browser, backend) {
    this.browser = browser
    this.backend = backend
    this.storagePuts = [] // {url, phase}: PUTs that are not to the API (single PUTs and parts)
    this.signed = [] // {request, status, response}: every sign-request call and its answer
    this.phase = 'first'
  }

  async open() {
    this.context = await this.browser.newContext()
    this.page = await this.context.newPage()
    const api = new URL(this.backend.api)
    this.page.on('request', (request) => {
      const url = new URL(request.url())
      if (request.method() === 'PUT' && url.origin !== APP_ORIGIN && !url.pathname.startsWith('/files/')) {
        this.storagePuts.push({ url: url.href, phase: this.phase })
      }
    })
    this.page.on('response', async (response) => {
      const request = response.request()
      if (request.method() !== 'POST' || !request.url().startsWith(`${api.origin}/files/sign-request`)) return
      const entry = { request: request.postDataJSON(), status: response.status(), phase: this.phase }
      this.signed.push(entry)
      try {
        entry.response = await response.json()
      } catch {
        entry.response = null
      }
    })
    this.page.on('pageerror', (error) => console.log(`  [${this.backend.name} page error] ${error.message}`))
    await this.load()
    return this
  }

  async load() {
    const q = new URLSearchParams({ api: this.backend.api, token: this.backend.token })
    await this.page.goto(`${APP_ORIGIN}/?${q}`)
    await this.page.waitForFunction(() => window.app?.ready === true, null, { timeout: 10_000 })
  }

  async reload() {
    this.phase = 'reloaded'
    await this.page.reload()
    await this.page.waitForFunction(() => window.app?.ready === true, null, { timeout: 10_000 })
  }

  async close() {
    await this.context?.close().catch(() => {})
  }

  /** Adds a file through the page's file input, as a user would (the page starts the upload). */
  async choose(path) {
    await this.page.setInputFiles('#file', path)
  }

  /** The Uppy file of that name, once added. */
  async fileId(name) {
    const handle = await this.page.waitForFunction(
      (n) => window.app.uppy.getFiles().find((f) => f.name === n)?.id,
      name,
      { timeout: 10_000 },
    )
    return handle.jsonValue()
  }

  /** Waits for the file's upload to end: confirmed, or an error. Answers the event. */
  async outcome(fileId, timeout = 180_000) {
    const handle = await this.page.waitForFunction(
      (id) =>
        window.app.events.find(
          (e) => e.fileId === id && ['confirmed', 'confirm-error', 'upload-error'].includes(e.type),
        ),
      fileId,
      { timeout, polling: 100 },
    )
    const event = await handle.jsonValue()
    if (event.type !== 'confirmed') {
      const errors = await this.events(fileId, ['upload-error', 'confirm-error', 'error'])
      throw new Error(`${event.type}: ${errors.map((e) => e.message).join(' | ')}`)
    }
    return event.file
  }

  /** Waits until `n` parts of the file are stored; an upload error ends the wait at once. */
  async parts(fileId, n) {
    const handle = await this.page.waitForFunction(
      ([id, count]) => {
        const mine = window.app.events.filter((e) => e.fileId === id)
        const error = mine.find((e) => e.type === 'upload-error')
        if (error) return { error: error.message }
        return mine.filter((e) => e.type === 'part').length >= count && { ok: true }
      },
      [fileId, n],
      { timeout: 60_000, polling: 100 },
    )
    const result = await handle.jsonValue()
    if (result.error) throw new Error(`upload-error before ${n} parts were stored: ${result.error}`)
  }

  async events(fileId, types) {
    return this.page.evaluate(
      ([id, t]) => window.app.events.filter((e) => (id == null || e.fileId === id) && t.includes(e.type)),
      [fileId, types],
    )
  }

  /** The part number each storage PUT was signed for (by the URL sign-request answered). */
  partNumberOf(url) {
    const href = new URL(url).href
    const entry = this.signed.find((s) => s.response?.url && new URL(s.response.url).href === href)
    if (entry?.request?.partNumber) return entry.request.partNumber
    const query = new URL(url).searchParams
    const n = query.get('partNumber') ?? query.get('part_number')
    return n ? Number(n) : undefined
  }

  partPuts(phase) {
    return this.storagePuts
      .filter((p) => phase === undefined || p.phase === phase)
      .map((p) => this.partNumberOf(p.url))
      .filter((n) => n !== undefined)
  }

  download(id) {
    return this.page.evaluate((fileId) => window.app.download(fileId), id)
  }

  /**
   * Holds every sign-request for a part above `after` (the page waits on it, as on a slow
   * network), so a test can act with exactly `after` parts stored. Answers release().
   */
  async holdPartsAbove(after) {
    const held = []
    const pattern = `${new URL(this.backend.api).origin}/files/sign-request`
    const handler = async (route) => {
      const body = route.request().postDataJSON()
      if (route.request().method() === 'POST' && body?.uploadId && body.partNumber > after && body.method === 'PUT') {
        held.push(route)
        return
      }
      await route.continue()
    }
    await this.page.route(pattern, handler)
    return {
      held,
      release: async () => {
        await this.page.unroute(pattern, handler).catch(() => {})
        for (const route of held) await route.abort().catch(() => {})
      },
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The tests, per backend.
// ---------------------------------------------------------------------------------------------
async function file(dir, name, data) {
  const path = join(dir, name)
  await writeFile(path, data)
  return path
}

async function searchFinds(session, word, id) {
  for (let i = 0; i < 100; i++) {
    const found = await session.page.evaluate((q) => window.app.search(q), word)
    if (found.files.some((f) => f.id === id)) return found
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`search for ${word} did not find ${id}`)
}

const tests = {
  async 'single-put'(session, dir) {
    const name = `notes-${RUN}.txt`
    const data = Buffer.from(`browser test ${RUN}: one signed PUT\n`)
    await session.choose(await file(dir, name, data))
    const id = await session.fileId(name)
    const confirmed = await session.outcome(id, 60_000)
    assert(confirmed.status === 'available', `status ${confirmed.status}`)
    assert(confirmed.size === data.length, `size ${confirmed.size}`)
    assert(confirmed.original_filename === name, `name ${confirmed.original_filename}`)
    assert(session.storagePuts.length === 1, `${session.storagePuts.length} storage PUTs, not 1`)
    assert(session.signed.every((s) => !s.request.uploadId), 'a multipart request was signed')
    const parts = await session.events(id, ['part'])
    assert(parts.length === 0, `${parts.length} parts`)
    await searchFinds(session, RUN, confirmed.id)
    const got = await session.download(confirmed.id)
    assert(got.status === 200, `download ${got.status}`)
    assert(got.sha256 === sha256(data), 'downloaded bytes differ')
    assert(got.filename === name, `Content-Disposition name ${JSON.stringify(got.filename)} (${got.contentDisposition})`)
  },

  async 'multipart-50MiB'(session, dir) {
    const name = `big-${RUN}.bin`
    const data = bytes(50 * MiB, 1)
    await session.choose(await file(dir, name, data))
    const id = await session.fileId(name)
    const confirmed = await session.outcome(id)
    assert(confirmed.status === 'available', `status ${confirmed.status}`)
    assert(confirmed.size === data.length, `size ${confirmed.size}`)
    const progress = (await session.events(id, ['progress'])).map((e) => e.bytesUploaded)
    assert(progress.length > 10, `only ${progress.length} progress events`)
    for (let i = 1; i < progress.length; i++) {
      assert(progress[i] >= progress[i - 1], `progress fell from ${progress[i - 1]} to ${progress[i]}`)
    }
    assert(progress.at(-1) === data.length, `progress ended at ${progress.at(-1)} of ${data.length}`)
    const percent = await session.page.evaluate((i) => window.app.uppy.getFile(i).progress.percentage, id)
    assert(percent === 100, `progress ${percent}%`)
    const parts = (await session.events(id, ['part'])).map((e) => e.partNumber)
    assert(parts.length === 10, `${parts.length} part events, not 10`)
    const puts = session.partPuts()
    assert(puts.length === 10 && new Set(puts).size === 10, `part PUTs ${JSON.stringify(puts)}, not 1..10 once each`)
    const got = await session.download(confirmed.id)
    assert(got.status === 200 && got.size === data.length, `download ${got.status}, ${got.size} bytes`)
    assert(got.sha256 === sha256(data), 'downloaded bytes differ')
  },

  async 'resume-after-reload'(session, dir) {
    const name = `resume-${RUN}.bin`
    const data = bytes(50 * MiB, 2)
    const path = await file(dir, name, data)
    const hold = await session.holdPartsAbove(3)
    await session.choose(path)
    const id = await session.fileId(name)
    await session.parts(id, 3)
    await waitUntil(() => hold.held.length > 0, 10_000, 'part 4 was never signed')
    const before = session.partPuts('first')
    assert(before.join() === '1,2,3', `parts sent before the reload: ${before}`)
    const saved = await session.page.evaluate((i) => localStorage.getItem(`files-resume:${i}`), id)
    assert(saved, 'no resume state kept in localStorage')
    await session.reload()
    await hold.release()
    await session.choose(path)
    const again = await session.fileId(name)
    assert(again === id, `the file came back as ${again}, not ${id}`)
    const resumed = await session.events(id, ['resume'])
    assert(resumed.length === 1, 'the page did not restore the resume state')
    const confirmed = await session.outcome(id)
    const after = session.partPuts('reloaded')
    assert(after.join() === '4,5,6,7,8,9,10', `parts sent after the reload: ${after}, not 4..10`)
    const listed = session.signed.filter((s) => s.phase === 'reloaded' && s.request.method === 'GET' && s.request.uploadId)
    assert(listed.length === 1, `ListParts signed ${listed.length} times`)
    assert(confirmed.status === 'available' && confirmed.size === data.length, `confirmed ${JSON.stringify(confirmed)}`)
    const got = await session.download(confirmed.id)
    assert(got.sha256 === sha256(data), 'downloaded bytes differ')
    const left = await session.page.evaluate((i) => localStorage.getItem(`files-resume:${i}`), id)
    assert(left === null, 'resume state left in localStorage after the upload')
  },

  async 'abort-halfway'(session, dir, backend) {
    const name = `abort-${RUN}.bin`
    const data = bytes(50 * MiB, 3)
    const hold = await session.holdPartsAbove(3)
    await session.choose(await file(dir, name, data))
    const id = await session.fileId(name)
    await session.parts(id, 3)
    const state = await session.page.evaluate((i) => window.app.uppy.getFile(i).s3Multipart, id)
    assert(state?.key && state?.uploadId, `no multipart state: ${JSON.stringify(state)}`)
    const deleted = session.page.waitForResponse(
      (r) => r.url().includes('/files/sign-request') && r.request().postDataJSON()?.method === 'DELETE',
      { timeout: 10_000 },
    )
    await session.page.evaluate((i) => window.app.uppy.removeFile(i), id)
    const answer = await deleted
    assert(answer.status() < 300, `sign-request DELETE answered ${answer.status()}`)
    await hold.release()
    // The pending file is gone: its key is unknown to confirm-upload.
    let confirm
    for (let i = 0; i < 50; i++) {
      confirm = await session.page.evaluate((key) => window.app.callApi('POST', '/files/confirm-upload', { file_key: key }), state.key)
      if (confirm.status === 404) break
      await new Promise((r) => setTimeout(r, 200))
    }
    assert(confirm.status === 404, `confirm-upload of the aborted key answered ${confirm.status} ${JSON.stringify(confirm.body)}`)
    // And no bytes are left in the storage.
    await waitUntil(async () => (await backend.leftovers(state)).length === 0, 10_000, async () => `left in storage: ${(await backend.leftovers(state)).join(', ')}`)
  },

  async 'content-disposition'(session, dir) {
    const name = 'Prüfbericht 2026.pdf'
    const sub = await mkdtemp(join(dir, 'cd-'))
    const data = Buffer.from(`%PDF-1.4\n% browser test ${RUN}\n`)
    await session.choose(await file(sub, name, data))
    const id = await session.fileId(name)
    const confirmed = await session.outcome(id, 60_000)
    assert(confirmed.original_filename === name, `name ${confirmed.original_filename}`)
    const got = await session.download(confirmed.id)
    assert(got.status === 200, `download ${got.status}`)
    assert(got.contentDisposition, 'Content-Disposition is not readable by the page (not exposed by CORS?)')
    assert(/^attachment/i.test(got.contentDisposition), `disposition ${got.contentDisposition}`)
    assert(got.filename === name, `filename ${JSON.stringify(got.filename)} from ${got.contentDisposition}`)
    assert(got.sha256 === sha256(data), 'downloaded bytes differ')
  },
}

async function waitUntil(check, ms, why) {
  const end = Date.now() + ms
  for (;;) {
    if (await check()) return
    if (Date.now() > end) throw new Error(typeof why === 'function' ? await why() : why)
    await new Promise((r) => setTimeout(r, 200))
  }
}

// ---------------------------------------------------------------------------------------------
// The backends.
// ---------------------------------------------------------------------------------------------
async function walk(dir) {
  const out = []
  let entries = []
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return out
  }
  for (const e of entries) {
    const path = join(dir, e.name)
    if (e.isDirectory()) out.push(path, ...(await walk(path)))
    else out.push(path)
  }
  return out
}

async function backends() {
  const list = []
  const local = { name: 'local', env: ['E2E_BASE_URL', 'E2E_MEDIA_ROOT', 'E2E_JWT_SECRET'] }
  local.setup = async () => {
    local.api = env('E2E_BASE_URL').replace(/\/+$/, '')
    local.root = env('E2E_MEDIA_ROOT')
    // Whatever holds the key's name or the upload id under the media root, but a deleted
    // key's tombstone (an empty file under .gone/, which keeps the key from being reused).
    local.leftovers = async ({ key, uploadId }) => {
      const stem = key.split('/').pop().replace(/\.[^.]*$/, '')
      const found = []
      for (const path of await walk(local.root)) {
        const rel = relative(local.root, path)
        if (!rel.includes(stem) && !rel.includes(uploadId)) continue
        const info = await stat(path)
        if (info.isDirectory()) continue
        if (rel.split('/')[0] === '.gone' && info.size === 0) continue
        found.push(rel)
      }
      return found
    }
  }
  list.push(local)

  const s3 = { name: 's3', env: ['E2E_S3_BASE_URL', 'TEST_S3_ENDPOINT', 'E2E_S3_BUCKET', 'E2E_JWT_SECRET'] }
  s3.setup = async () => {
    s3.api = env('E2E_S3_BASE_URL').replace(/\/+$/, '')
    const bucket = env('E2E_S3_BUCKET')
    const client = s3Client({ endpoint: env('TEST_S3_ENDPOINT') })
    await client.ensureBucket(bucket)
    await client.putCors(bucket, [APP_ORIGIN])
    s3.leftovers = async ({ key, uploadId }) => {
      const found = []
      if ((await client.multipartUploads(bucket, key)).includes(uploadId)) found.push(`multipart upload ${uploadId}`)
      if ((await client.headObject(bucket, key)) !== 404) found.push(`object ${key}`)
      return found
    }
  }
  list.push(s3)
  return list
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'files-browser-'))
  let server
  let browser
  try {
    server = await serve({ host: '127.0.0.1', port: 5173 })
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`)
    // launch() gives Chromium a fresh user-data-dir of its own (a temporary directory).
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 })
  } catch (error) {
    report('setup', 'browser and page server', error)
    await server?.close()
    await rm(dir, { recursive: true, force: true })
    return
  }
  for (const backend of await backends()) {
    try {
      await backend.setup()
      const health = await fetch(`${backend.api}/files/search?q=`).catch((e) => e)
      if (health instanceof Error) throw new Error(`${backend.api} does not answer: ${health.cause?.message ?? health.message}`)
      backend.token = token(`browser-${RUN}-${backend.name}`, 'browser')
    } catch (error) {
      for (const name of Object.keys(tests)) report(backend.name, name, error)
      continue
    }
    for (const [name, test] of Object.entries(tests)) {
      const session = new Session(browser, backend)
      const work = await mkdtemp(join(dir, `${backend.name}-${name}-`))
      try {
        await session.open()
        await test(session, work, backend)
        report(backend.name, name)
      } catch (error) {
        report(backend.name, name, error)
      } finally {
        await session.close()
        await rm(work, { recursive: true, force: true })
      }
    }
  }
  await browser.close()
  await server.close()
  await rm(dir, { recursive: true, force: true })
}

await main()
const failed = results.filter((r) => !r.ok).length
console.log(`${results.length - failed} passed, ${failed} failed`)
process.exit(failed || results.length === 0 ? 1 : 0)
