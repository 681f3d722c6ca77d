// A minimal SigV4 S3 client for the browser tests' own storage calls on LocalStack: create the
// bucket, give it the CORS configuration the deployed bucket has (template.yaml), and look at
// what an aborted multipart upload left behind. Path-style addressing, header signatures.
import { createHash, createHmac } from 'node:crypto'

const sha256 = (data) => createHash('sha256').update(data).digest('hex')
const hmac = (key, data) => createHmac('sha256', key).update(data).digest()
// RFC 3986 unreserved characters stay; everything else is %XX (S3's URI encoding).
const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

export function s3Client({ endpoint, region = 'us-east-1', accessKeyId = 'test', secretAccessKey = 'test' }) {
  const base = new URL(endpoint)

  /** Sends one signed request; resolves to { status, headers, text }. */
  async function request(method, bucket, key, { query = {}, headers = {}, body = '' } = {}) {
    const path = `/${encode(bucket)}${key ? `/${key.split('/').map(encode).join('/')}` : ''}`
    const canonicalQuery = Object.keys(query)
      .sort()
      .map((k) => `${encode(k)}=${encode(String(query[k]))}`)
      .join('&')
    const now = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '')
    const date = now.slice(0, 8)
    const payloadHash = sha256(body)
    const all = { ...headers, host: base.host, 'x-amz-content-sha256': payloadHash, 'x-amz-date': now }
    const names = Object.keys(all).map((n) => n.toLowerCase()).sort()
    const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v).trim()]))
    const canonical = [
      method,
      path,
      canonicalQuery,
      names.map((n) => `${n}:${lower[n]}\n`).join(''),
      names.join(';'),
      payloadHash,
    ].join('\n')
    const scope = `${date}/${region}/s3/aws4_request`
    const toSign = ['AWS4-HMAC-SHA256', now, scope, sha256(canonical)].join('\n')
    let signingKey = hmac(`AWS4${secretAccessKey}`, date)
    for (const part of [region, 's3', 'aws4_request']) signingKey = hmac(signingKey, part)
    const signature = createHmac('sha256', signingKey).update(toSign).digest('hex')
    const sent = { ...lower }
    delete sent.host
    sent.authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`
    const url = `${base.origin}${path}${canonicalQuery ? `?${canonicalQuery}` : ''}`
    const res = await fetch(url, { method, headers: sent, body: method === 'GET' || method === 'HEAD' ? undefined : body })
    return { status: res.status, headers: res.headers, text: await res.text() }
  }

  return {
    request,

    /** Creates the bucket unless it exists. */
    async ensureBucket(bucket) {
      const head = await request('HEAD', bucket)
      if (head.status === 200) return
      const created = await request('PUT', bucket)
      if (created.status !== 200 && !/BucketAlreadyOwnedByYou/.test(created.text)) {
        throw new Error(`CreateBucket ${bucket}: ${created.status} ${created.text}`)
      }
    },

    /**
     * PutBucketCors: the browser's cross-origin PUT, POST, GET and DELETE to the bucket, with
     * the part ETags and the download's Content-Disposition readable by page code (the same
     * rule as template.yaml's bucket).
     */
    async putCors(bucket, origins) {
      const rule =
        origins.map((o) => `<AllowedOrigin>${o}</AllowedOrigin>`).join('') +
        ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'].map((m) => `<AllowedMethod>${m}</AllowedMethod>`).join('') +
        '<AllowedHeader>*</AllowedHeader>' +
        ['ETag', 'Content-Disposition', 'Content-Range', 'Content-Length', 'Location', 'x-amz-checksum-sha256']
          .map((h) => `<ExposeHeader>${h}</ExposeHeader>`)
          .join('') +
        '<MaxAgeSeconds>3600</MaxAgeSeconds>'
      const body = `<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule>${rule}</CORSRule></CORSConfiguration>`
      const md5 = createHash('md5').update(body).digest('base64')
      const res = await request('PUT', bucket, '', {
        query: { cors: '' },
        headers: { 'content-md5': md5, 'content-type': 'application/xml' },
        body,
      })
      if (res.status !== 200) throw new Error(`PutBucketCors ${bucket}: ${res.status} ${res.text}`)
    },

    /** The upload ids of the bucket's multipart uploads in progress under `prefix`. */
    async multipartUploads(bucket, prefix) {
      const res = await request('GET', bucket, '', { query: { uploads: '', prefix } })
      if (res.status !== 200) throw new Error(`ListMultipartUploads: ${res.status} ${res.text}`)
      return [...res.text.matchAll(/<UploadId>([^<]*)<\/UploadId>/g)].map((m) => m[1])
    },

    /** HEAD of an object: its status (200, 404). */
    async headObject(bucket, key) {
      return (await request('HEAD', bucket, key)).status
    },
  }
}
