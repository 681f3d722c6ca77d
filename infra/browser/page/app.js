// The example page: Uppy uploads straight to the storage (S3, or local-media in development)
// with URLs the API signs, then confirms the upload; the caller's files are listed, searched
// and downloaded through the API. Bundled by build.mjs into page/dist/app.js.
//
// Everything the browser tests (run.mjs) need is on `window.app`: the Uppy instance, the
// options, the event log, and the API calls.
import Uppy from '@uppy/core'
import AwsS3 from '@uppy/aws-s3'

const MiB = 1024 * 1024
const $ = (id) => document.getElementById(id)
const query = new URLSearchParams(location.search)

// The API's base URL and the bearer token: from `?api=...&token=...`, else the server's
// /config.js (serve.mjs --api), else what was typed into the form last time.
const settings = {
  api: (query.get('api') || window.FILES_CONFIG?.api || localStorage.getItem('files-api') || '').replace(/\/+$/, ''),
  token: query.get('token') || sessionStorage.getItem('files-token') || '',
}
const options = {
  // Files above this size go up as a multipart upload (S3 parts of at least 5 MiB); smaller
  // ones as one signed PUT. The tests change it through `app.options`.
  multipartAbove: Number(query.get('multipartAbove')) || 16 * MiB,
}

// ---------------------------------------------------------------------------------------------
// The client configuration: the contract with the server's POST /files/sign-request.
// ---------------------------------------------------------------------------------------------
const uppy = new Uppy({ autoProceed: false })

uppy.use(AwsS3, {
  // One PUT for small files, a multipart upload above the size. Uppy's own part size
  // (max(5 MiB, size / 10000)) is what the server signs for: do not set getChunkSize.
  shouldUseMultipart: (file) => file.size > options.multipartAbove,
  // The key Uppy proposes is only a handle: the server chooses the object's key and answers
  // it (`key`). The file's id lets signRequest find the file being started.
  generateObjectKey: (file) => file.id,
  // Every storage request is signed by the API. `request` is Uppy's own:
  // {method, key, uploadId?, partNumber?, contentType?, expiresIn?}. A request without an
  // uploadId starts an upload (PUT: one signed PUT; POST: CreateMultipartUpload), so it carries
  // the file's name, size and type; the rest (UploadPart, ListParts, Complete, Abort) name the
  // server's key and upload id.
  signRequest: async (request) => {
    const file = request.uploadId ? undefined : uppy.getFile(request.key)
    const body = file
      ? { contentType: file.type || 'application/octet-stream', ...request, filename: file.name, size: file.size }
      : request
    const res = await fetch(`${settings.api}/files/sign-request`, {
      method: 'POST',
      headers: { authorization: `Bearer ${settings.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (!res.ok) throw new Error(`sign-request: ${res.status} ${await res.text()}`)
    return res.json() // {url, headers, key, file_id}: Uppy's PresignedResponse
  },
})

// Uploaded: the API checks the bytes and makes the file available.
uppy.on('upload-success', async (file, response) => {
  record('upload-success', { fileId: file.id, key: response.body.key })
  const res = await callApi('POST', '/files/confirm-upload', { file_key: response.body.key })
  if (res.ok) {
    record('confirmed', { fileId: file.id, file: res.body })
  } else {
    record('confirm-error', { fileId: file.id, status: res.status, message: JSON.stringify(res.body) })
  }
  renderFile(file.id)
})

// Resume after a reload: Uppy keeps a multipart upload's {key, uploadId} in the file's state
// (`s3Multipart`); the page copies it to localStorage under the file's id (name, type, size
// and modification time) and puts it back when the same file is added again, so Uppy lists
// the parts already stored and sends only the missing ones.
const RESUME = 'files-resume:'
uppy.on('state-update', (prev, next) => {
  for (const [id, file] of Object.entries(next.files ?? {})) {
    const before = prev.files?.[id]?.s3Multipart
    if (file.s3Multipart === before) continue
    if (file.s3Multipart) localStorage.setItem(RESUME + id, JSON.stringify(file.s3Multipart))
    else localStorage.removeItem(RESUME + id)
  }
})
uppy.on('file-added', (file) => {
  const saved = localStorage.getItem(RESUME + file.id)
  if (saved) {
    uppy.setFileState(file.id, { s3Multipart: JSON.parse(saved) })
    record('resume', { fileId: file.id, ...JSON.parse(saved) })
  }
  renderFile(file.id)
})
// Removing a file aborts its upload (Uppy asks sign-request to DELETE it); nothing to resume.
uppy.on('file-removed', (file) => {
  localStorage.removeItem(RESUME + file.id)
  record('file-removed', { fileId: file.id })
  $(`upload-${cssId(file.id)}`)?.remove()
})

// ---------------------------------------------------------------------------------------------
// The event log (window.app.events) and the page's display of it.
// ---------------------------------------------------------------------------------------------
const events = []

function record(type, data = {}) {
  const event = { type, at: Date.now(), ...data }
  events.push(event)
  if (type !== 'progress') {
    const line = document.createElement('div')
    line.textContent = `${new Date(event.at).toISOString().slice(11, 23)} ${type} ${JSON.stringify(data)}`
    if (/error/.test(type)) line.className = 'error'
    $('log').prepend(line)
  }
}

uppy.on('upload-progress', (file, progress) => {
  record('progress', { fileId: file.id, bytesUploaded: progress.bytesUploaded, bytesTotal: progress.bytesTotal })
  renderFile(file.id)
})
uppy.on('s3-multipart:part-uploaded', (file, part) => {
  record('part', { fileId: file.id, partNumber: part.PartNumber, etag: part.ETag })
})
uppy.on('progress', (percent) => {
  $('progress').value = percent
})
uppy.on('upload-error', (file, error) => {
  record('upload-error', { fileId: file?.id, message: String(error?.message ?? error) })
  if (file) renderFile(file.id)
})
uppy.on('error', (error) => record('error', { message: String(error?.message ?? error) }))
uppy.on('restriction-failed', (file, error) => record('error', { fileId: file?.id, message: error.message }))

const cssId = (id) => id.replace(/[^A-Za-z0-9_-]/g, '_')

function renderFile(id) {
  const file = uppy.getFile(id)
  if (!file) return
  let li = $(`upload-${cssId(id)}`)
  if (!li) {
    li = document.createElement('li')
    li.id = `upload-${cssId(id)}`
    li.innerHTML = '<span class="name"></span> <progress max="100" value="0"></progress> <span class="state"></span>'
    $('uploads').append(li)
  }
  li.querySelector('.name').textContent = `${file.name} (${file.size} bytes)`
  li.querySelector('progress').value = file.progress?.percentage ?? 0
  const confirmed = events.find((e) => e.type === 'confirmed' && e.fileId === id)
  li.querySelector('.state').textContent = file.error
    ? `error: ${file.error}`
    : confirmed
      ? 'available'
      : file.progress?.uploadComplete
        ? 'confirming'
        : `${file.progress?.percentage ?? 0}%`
}

// ---------------------------------------------------------------------------------------------
// The API: confirm, list and search, download.
// ---------------------------------------------------------------------------------------------
async function callApi(method, path, body) {
  const headers = { authorization: `Bearer ${settings.token}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${settings.api}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.status, ok: res.ok, body: json }
}

/** The caller's files whose name or text has every word of `q` (all of them for ''). */
async function search(q = '') {
  const res = await callApi('GET', `/files/search?q=${encodeURIComponent(q)}`)
  if (!res.ok) throw new Error(`search: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body // {files, total, next_cursor}
}

/** The file name of a Content-Disposition header: RFC 5987 `filename*` first, else `filename`. */
function dispositionFilename(header) {
  if (!header) return null
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header)
  if (extended) return decodeURIComponent(extended[2].trim())
  const plain = /filename\s*=\s*("(?:[^"\\]|\\.)*"|[^;]+)/i.exec(header)
  if (!plain) return null
  const value = plain[1].trim()
  return value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value
}

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer)
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * Downloads a file: the API signs a GET, the browser follows it cross-origin and reads the
 * name from the storage's Content-Disposition (exposed by the CORS configuration). With
 * `save`, the bytes are offered to the user under that name.
 */
async function download(id, { save = false } = {}) {
  const signed = await callApi('GET', `/files/${encodeURIComponent(id)}/download-url`)
  if (!signed.ok) throw new Error(`download-url: ${signed.status} ${JSON.stringify(signed.body)}`)
  const res = await fetch(signed.body.url)
  const disposition = res.headers.get('content-disposition')
  const blob = await res.blob()
  const filename = dispositionFilename(disposition)
  if (save && res.ok) {
    const a = document.createElement('a')
    a.href = URL.createObjectURL(blob)
    a.download = filename ?? 'download'
    a.click()
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000)
  }
  const result = {
    status: res.status,
    contentDisposition: disposition,
    contentType: res.headers.get('content-type'),
    filename,
    size: blob.size,
    sha256: await sha256Hex(await blob.arrayBuffer()),
  }
  record('download', { fileId: id, ...result })
  return result
}

async function showFiles(q) {
  const list = $('results')
  list.textContent = ''
  try {
    const { files, total } = await search(q)
    for (const file of files) {
      const li = document.createElement('li')
      const button = document.createElement('button')
      button.type = 'button'
      button.textContent = 'download'
      button.onclick = () => download(file.id, { save: true }).catch((e) => record('error', { message: e.message }))
      li.append(`${file.original_filename} (${file.content_type}, ${file.size} bytes, ${file.status}) `, button)
      list.append(li)
    }
    record('search', { q, total })
  } catch (e) {
    record('error', { message: e.message })
  }
}

// ---------------------------------------------------------------------------------------------
// The form.
// ---------------------------------------------------------------------------------------------
$('api').value = settings.api
$('token').value = settings.token
$('api').addEventListener('change', (e) => {
  settings.api = e.target.value.trim().replace(/\/+$/, '')
  localStorage.setItem('files-api', settings.api)
})
$('token').addEventListener('change', (e) => {
  settings.token = e.target.value.trim()
  sessionStorage.setItem('files-token', settings.token)
})
$('file').addEventListener('change', (e) => {
  const files = [...e.target.files]
  e.target.value = ''
  uppy.addFiles(files.map((data) => ({ name: data.name, type: data.type || undefined, data, source: 'file-input' })))
  uppy.upload().catch((error) => record('error', { message: String(error?.message ?? error) }))
})
$('cancel').addEventListener('click', () => uppy.cancelAll())
$('search-form').addEventListener('submit', (e) => {
  e.preventDefault()
  showFiles($('q').value)
})

window.app = { uppy, options, settings, events, callApi, search, download, dispositionFilename, sha256Hex, ready: true }
